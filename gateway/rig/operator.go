package rig

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Operator is a test's MQTT client in the operator's place: it records every message under
// chargegate/# and sends commands (the topics and payloads of gateway/mqtt/doc.go).
type Operator struct {
	tb     testing.TB
	client paho.Client
	mu     sync.Mutex
	msgs   map[string][][]byte // by topic suffix after chargegate/{device}/
}

// Watch is called, in order of arrival, with every message the Operator receives: the topic
// after chargegate/{device}/ and the payload (which it must not keep without copying).
type Watch func(suffix string, payload []byte)

// ConnectOperator connects an Operator to b with a persistent session (clean session off), so
// that the broker queues messages for it while it is away, and disconnects it when the test
// ends. Every message is passed to the watches, in order, from the moment it subscribes.
func ConnectOperator(tb testing.TB, b *Broker, watches ...Watch) *Operator {
	tb.Helper()
	o := &Operator{tb: tb, msgs: map[string][][]byte{}}
	opts := paho.NewClientOptions().AddBroker(b.URL()).SetClientID(fmt.Sprintf("operator-%d", time.Now().UnixNano())).
		SetCleanSession(false).SetMaxReconnectInterval(500 * time.Millisecond).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetOnConnectHandler(func(c paho.Client) {
			c.Subscribe("chargegate/#", 1, func(_ paho.Client, m paho.Message) {
				parts := strings.SplitN(m.Topic(), "/", 3)
				if len(parts) < 3 {
					return
				}
				o.mu.Lock()
				o.msgs[parts[2]] = append(o.msgs[parts[2]], append([]byte(nil), m.Payload()...))
				o.mu.Unlock()
				for _, w := range watches {
					w(parts[2], m.Payload())
				}
			}).Wait()
		})
	o.client = paho.NewClient(opts)
	if tok := o.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("operator connect: %v", tok.Error())
	}
	WaitFor(tb, 5*time.Second, "operator subscribed", o.client.IsConnectionOpen)
	tb.Cleanup(func() { o.client.Disconnect(100) })
	return o
}

// Client is the underlying MQTT client, for tests that publish on their own topics.
func (o *Operator) Client() paho.Client { return o.client }

// Messages returns the payloads received so far on chargegate/{device}/{suffix}, any device.
func (o *Operator) Messages(suffix string) [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([][]byte(nil), o.msgs[suffix]...)
}

// WaitOnline waits for the device's retained online status: from then on it is subscribed to
// its commands.
func (o *Operator) WaitOnline(device string) {
	o.tb.Helper()
	WaitFor(o.tb, 20*time.Second, device+" online", func() bool {
		msgs := o.Messages("status")
		return len(msgs) > 0 && strings.Contains(string(msgs[len(msgs)-1]), `"online"`)
	})
}

// Command publishes cmd/{name} for device and waits for the reply with the same request ID
// (read from the payload, or from a signed envelope's payload).
func (o *Operator) Command(device, name, payload string) map[string]any {
	o.tb.Helper()
	var req struct {
		RequestID string `json:"request_id"`
		Payload   []byte `json:"payload"` // a signed command's envelope (base64)
	}
	json.Unmarshal([]byte(payload), &req)
	if req.RequestID == "" && req.Payload != nil {
		json.Unmarshal(req.Payload, &req)
	}
	before := len(o.Messages("cmd/" + name + "/reply"))
	o.client.Publish("chargegate/"+device+"/cmd/"+name, 1, false, payload).Wait()
	var rep map[string]any
	WaitFor(o.tb, 20*time.Second, "reply to "+name, func() bool {
		msgs := o.Messages("cmd/" + name + "/reply")
		for _, m := range msgs[before:] {
			var r map[string]any
			if json.Unmarshal(m, &r) == nil && r["request_id"] == req.RequestID {
				rep = r
				return true
			}
		}
		return false
	})
	return rep
}

// Publish sends cmd/{name} to device without waiting for a reply.
func (o *Operator) Publish(device, name, payload string) {
	o.client.Publish("chargegate/"+device+"/cmd/"+name, 1, false, payload).Wait()
}
