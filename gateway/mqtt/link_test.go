package mqtt_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/chargegate/chargegate/gateway/mqtt"
	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// flakyOutbox is the real store with its reads failing while failing is set, the way a busy
// or full disk fails them.
type flakyOutbox struct {
	*sqlite.Store
	failing  atomic.Bool
	failures atomic.Int64
}

func (o *flakyOutbox) Pending(ctx context.Context, sink string, max int) ([]ledger.Entry, error) {
	if o.failing.Load() {
		o.failures.Add(1)
		return nil, errors.New("database is locked")
	}
	return o.Store.Pending(ctx, sink, max)
}

// subscriber records what the operator side receives, by topic suffix.
type subscriber struct {
	mu   sync.Mutex
	msgs map[string][][]byte
}

func (s *subscriber) on(base string) paho.MessageHandler {
	return func(_ paho.Client, m paho.Message) {
		s.mu.Lock()
		defer s.mu.Unlock()
		k := strings.TrimPrefix(m.Topic(), base)
		s.msgs[k] = append(s.msgs[k], append([]byte(nil), m.Payload()...))
	}
}

func (s *subscriber) get(suffix string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.msgs[suffix]...)
}

// TestLinkOverBroker runs the link against a real Mosquitto that is down when the link starts:
// the link keeps retrying, connects once the broker is up, announces itself (retained), delivers
// the whole outbox after the store's reads recover, answers commands with Reply payloads and
// says offline on a clean stop.
func TestLinkOverBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{Key: deviceKey})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const n = 150
	for i := range n {
		if _, err := store.Append(ctx, ledger.Record{Time: t0.Add(time.Duration(i) * time.Second), TimeStatus: ledger.TimeSynchronised,
			Kind: ledger.KindReading, MeterSerial: "71000001", ImportMWh: int64(1000 * i)}); err != nil {
			t.Fatal(err)
		}
	}
	outbox := &flakyOutbox{Store: store}
	outbox.failing.Store(true)

	broker := rig.StartBroker(t, "")
	broker.Stop()
	logs := &rig.Buffer{}
	link, err := mqtt.New(mqtt.Config{
		Broker: broker.URL(), TopicPrefix: "cg-test", Device: device, InFlight: 16,
		RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}, outbox, func(_ context.Context, name string, payload []byte) (any, string, error) {
		switch name {
		case "stop":
			return map[string]any{"session_id": "s1"}, "", nil
		case "start":
			return nil, "", errors.New("relay did not close") // no code: the link says failed
		}
		return nil, "unauthorized", errors.New("no trusted operator key signed this command")
	})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	go func() { runDone <- link.Run(lctx) }()

	rig.WaitFor(t, 10*time.Second, "two failed connection attempts logged", func() bool {
		return strings.Count(logs.String(), "mqtt connection failed") >= 2
	})
	broker.Restart()

	base := "cg-test/" + device + "/"
	sub := &subscriber{msgs: map[string][][]byte{}}
	opts := paho.NewClientOptions().AddBroker(broker.URL()).SetClientID("operator").SetCleanSession(true)
	client := paho.NewClient(opts)
	if tok := client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("operator connect: %v", tok.Error())
	}
	defer client.Disconnect(100)
	if tok := client.Subscribe(base+"#", 1, sub.on(base)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	online := fmt.Sprintf(`{"device":%q,"state":"online"}`, device)
	rig.WaitFor(t, 20*time.Second, "status online", func() bool {
		st := sub.get("status")
		return len(st) > 0 && string(st[len(st)-1]) == online
	})
	if !link.Online() {
		t.Error("Online() = false after the status was published")
	}

	// The outbox fails; the link backs off and tries again, delivering nothing meanwhile.
	rig.WaitFor(t, 10*time.Second, "repeated outbox failures", func() bool { return outbox.failures.Load() >= 3 })
	if got := len(sub.get("readings")); got != 0 {
		t.Fatalf("%d readings delivered while the outbox failed", got)
	}
	outbox.failing.Store(false)
	rig.WaitFor(t, 20*time.Second, "every entry delivered and acknowledged", func() bool {
		backlog, err := store.Backlog(ctx, mqtt.Sink)
		return err == nil && backlog == 0
	})
	seen := map[uint64]bool{}
	rig.WaitFor(t, 10*time.Second, "every reading received", func() bool {
		for _, b := range sub.get("readings") {
			var r mqtt.Reading
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("reading %s: %v", b, err)
			}
			seen[r.Seq] = true
		}
		return len(seen) == n
	})
	for seq := uint64(1); seq <= n; seq++ {
		if !seen[seq] {
			t.Fatalf("reading %d never arrived", seq)
		}
	}
	if count, through := link.Delivered(); count < n || through != n {
		t.Errorf("Delivered() = %d through %d, want ≥ %d through %d", count, through, n, n)
	}

	// Commands: a result, an error without a code, and a refused envelope whose request ID is
	// recovered from inside it.
	envelope := fmt.Sprintf(`{"payload":%q,"sig":"AAAA"}`, base64.StdEncoding.EncodeToString([]byte(`{"request_id":"r3"}`)))
	for topic, payload := range map[string]string{
		"cmd/stop":   `{"request_id":"r1"}`,
		"cmd/start":  `{"request_id":"r2"}`,
		"cmd/update": envelope,
	} {
		client.Publish(base+topic, 1, false, payload).WaitTimeout(5 * time.Second)
	}
	for _, want := range []struct {
		topic, requestID, code string
		ok                     bool
	}{
		{"cmd/stop/reply", "r1", "", true},
		{"cmd/start/reply", "r2", mqtt.CodeFailed, false},
		{"cmd/update/reply", "r3", "unauthorized", false},
	} {
		rig.WaitFor(t, 10*time.Second, want.topic, func() bool { return len(sub.get(want.topic)) > 0 })
		var rep mqtt.Reply
		if err := json.Unmarshal(sub.get(want.topic)[0], &rep); err != nil {
			t.Fatal(err)
		}
		code := ""
		if rep.Error != nil {
			code = rep.Error.Code
		}
		if rep.RequestID != want.requestID || rep.OK != want.ok || code != want.code || rep.Time.IsZero() {
			t.Errorf("%s: %s, want request_id %s, ok %v, code %q", want.topic, sub.get(want.topic)[0], want.requestID, want.ok, want.code)
		}
	}

	lcancel()
	select {
	case err := <-runDone:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	offline := fmt.Sprintf(`{"device":%q,"state":"offline"}`, device)
	rig.WaitFor(t, 10*time.Second, "status offline", func() bool {
		st := sub.get("status")
		return string(st[len(st)-1]) == offline
	})
}

// An operator that sends a command the moment it sees the device's "online" presence gets an
// answer on every connection: the link subscribes to the commands, and waits for the broker's
// SUBACK, before it announces itself. (Announcing first lost such a command whenever the
// broker handled it before the subscription: a clean session keeps none.) The link reaches
// the broker through a proxy that holds its SUBSCRIBE packets back for 300 ms, the way a
// loaded link or broker can.
func TestCommandSentOnPresenceIsAnswered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{Key: deviceKey})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	broker := rig.StartBroker(t, "")
	base := "cg-test/" + device + "/"

	var (
		mu      sync.Mutex
		round   int
		replies = map[string]bool{}
	)
	opts := paho.NewClientOptions().AddBroker(broker.URL()).SetClientID("operator").SetCleanSession(true)
	client := paho.NewClient(opts)
	if tok := client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("operator connect: %v", tok.Error())
	}
	defer client.Disconnect(100)
	onStatus := func(c paho.Client, m paho.Message) {
		if m.Retained() || !strings.Contains(string(m.Payload()), `"online"`) {
			return
		}
		mu.Lock()
		id := fmt.Sprintf("r%d", round)
		mu.Unlock()
		c.Publish(base+"cmd/stop", 1, false, `{"request_id":"`+id+`"}`) // at once, from the handler
	}
	onReply := func(_ paho.Client, m paho.Message) {
		var r struct {
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal(m.Payload(), &r) == nil {
			mu.Lock()
			replies[r.RequestID] = true
			mu.Unlock()
		}
	}
	for topic, h := range map[string]paho.MessageHandler{base + "status": onStatus, base + "cmd/stop/reply": onReply} {
		if tok := client.Subscribe(topic, 1, h); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
	}

	const rounds = 10
	for i := range rounds {
		mu.Lock()
		round = i
		mu.Unlock()
		link, err := mqtt.New(mqtt.Config{Broker: slowSubscribe(t, broker.URL(), 300*time.Millisecond), TopicPrefix: "cg-test", Device: device,
			RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond},
			store, func(context.Context, string, []byte) (any, string, error) { return map[string]any{}, "", nil })
		if err != nil {
			t.Fatal(err)
		}
		lctx, lcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- link.Run(lctx) }()
		id := fmt.Sprintf("r%d", i)
		rig.WaitFor(t, 10*time.Second, "the reply to "+id, func() bool { mu.Lock(); defer mu.Unlock(); return replies[id] })
		lcancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: Run: %v", i, err)
		}
	}
}

// slowSubscribe starts a loopback TCP proxy to the broker at url (tcp://host:port) that
// forwards every MQTT packet from the client at once except SUBSCRIBE, which it holds back for
// delay, and returns the proxy's URL. It serves until the test ends.
func slowSubscribe(t *testing.T, url string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	target := strings.TrimPrefix(url, "tcp://")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(c, b); c.Close() }()
			go func() {
				defer b.Close()
				r := bufio.NewReader(c)
				for {
					pkt, err := readPacket(r)
					if err != nil {
						return
					}
					if pkt[0]>>4 == 8 { // SUBSCRIBE
						time.Sleep(delay)
					}
					if _, err := b.Write(pkt); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "tcp://" + ln.Addr().String()
}

// readPacket reads one MQTT control packet: the fixed header's first byte, the remaining
// length (a variable byte integer) and that many bytes.
func readPacket(r *bufio.Reader) ([]byte, error) {
	first, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	pkt := []byte{first}
	n, shift := 0, 0
	for {
		d, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		pkt = append(pkt, d)
		n |= int(d&0x7f) << shift
		if d&0x80 == 0 {
			break
		}
		if shift += 7; shift > 21 {
			return nil, errors.New("malformed remaining length")
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(pkt, body...), nil
}
