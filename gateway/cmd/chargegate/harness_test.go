package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/chargegate/chargegate/gateway/child"
	"github.com/chargegate/chargegate/gateway/rig"
)

// The end-to-end tests run the real programs: metersim over Modbus TCP, ledgernode, a Mosquitto
// broker from Debian, and chargegate itself, each on free loopback ports.

var buildOnce = sync.OnceValues(func() (string, error) {
	return rig.Build("faultinject", ".", "../../../meter/cmd/metersim", "../../../ledger/cmd/ledgernode")
})

func binPath(t *testing.T, name string) string {
	t.Helper()
	dir, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// startService starts metersim or ledgernode and returns it with its addresses.
func startService(t *testing.T, name string, args ...string) (*child.Process, map[string]string) {
	t.Helper()
	p := rig.StartService(t, binPath(t, name), args...)
	return p, p.Addrs
}

// operator is the test's MQTT client: it records everything under the device's topics.
type operator struct {
	t      *testing.T
	client paho.Client
	mu     sync.Mutex
	msgs   map[string][][]byte // topic suffix after chargegate/{device}/
}

func connectOperator(t *testing.T, b *rig.Broker) *operator {
	t.Helper()
	o := &operator{t: t, msgs: map[string][][]byte{}}
	// A persistent session (clean session off) lets the broker queue messages for the operator.
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
			}).Wait()
		})
	o.client = paho.NewClient(opts)
	if tok := o.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("operator connect: %v", tok.Error())
	}
	rig.WaitFor(t, 5*time.Second, "operator subscribed", o.client.IsConnectionOpen)
	t.Cleanup(func() { o.client.Disconnect(100) })
	return o
}

func (o *operator) messages(suffix string) [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([][]byte(nil), o.msgs[suffix]...)
}

// waitOnline waits for the device's retained online status: from then on it is subscribed to
// its commands.
func (o *operator) waitOnline(device string) {
	o.t.Helper()
	rig.WaitFor(o.t, 20*time.Second, device+" online", func() bool {
		msgs := o.messages("status")
		return len(msgs) > 0 && strings.Contains(string(msgs[len(msgs)-1]), `"online"`)
	})
}

// command publishes cmd/{name} for device and waits for the reply with the same request ID.
func (o *operator) command(device, name string, payload string) map[string]any {
	o.t.Helper()
	var req struct {
		RequestID string `json:"request_id"`
		Payload   []byte `json:"payload"` // a signed command's envelope (base64)
	}
	json.Unmarshal([]byte(payload), &req)
	if req.RequestID == "" && req.Payload != nil {
		json.Unmarshal(req.Payload, &req)
	}
	before := len(o.messages("cmd/" + name + "/reply"))
	o.client.Publish("chargegate/"+device+"/cmd/"+name, 1, false, payload).Wait()
	var rep map[string]any
	rig.WaitFor(o.t, 20*time.Second, "reply to "+name, func() bool {
		msgs := o.messages("cmd/" + name + "/reply")
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

// publish sends cmd/{name} without waiting for a reply.
func (o *operator) publish(device, name, payload string) {
	o.client.Publish("chargegate/"+device+"/cmd/"+name, 1, false, payload).Wait()
}

// gatewayProc is a running chargegate daemon.
type gatewayProc struct {
	*rig.Proc
	dir    string
	config string
	api    string
	device string
}

type stack struct {
	metersim map[string]string
	node     map[string]string
	broker   *rig.Broker
}

func startStack(t *testing.T, withBroker bool) *stack {
	t.Helper()
	s := &stack{}
	_, s.metersim = startService(t, "metersim", "--model", "sdm630", "--listen", "tcp://127.0.0.1:0", "--control", "127.0.0.1:0", "--serial", "71000042")
	_, s.node = startService(t, "ledgernode", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--min-pow-score", "0", "--milestone-interval", "500ms")
	if withBroker {
		s.broker = rig.StartBroker(t, "")
	}
	return s
}

// config renders a gateway configuration using the stack; extra YAML is appended.
func (s *stack) config(dataDir, extra string) string {
	broker := ""
	if s.broker != nil {
		broker = s.broker.URL()
	}
	return fmt.Sprintf(`device:
  evse_id: "DE*CGT*ETEST*1"
  data_dir: %q
meter:
  url: %q
  model: sdm630
  poll_interval: 200ms
  record_interval_charging: 200ms
  record_interval_idle: 1s
  timeout: 300ms
hal:
  backend: sim
  feedback_timeout: 1s
  sim:
    load_control_url: %q
    lease: 1500ms
ledger:
  node_url: %q
  batch_age: 1s
mqtt:
  broker: %q
  in_flight: 16
http:
  listen: 127.0.0.1:0
log:
  format: json
  level: debug
%s`, dataDir, s.metersim["modbus"], s.metersim["control"], s.node["api"], broker, extra)
}

func startGateway(t *testing.T, dir, config string) *gatewayProc {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	p, _ := rig.Start(t, binPath(t, "chargegate"), "run", "-config", path)
	g := &gatewayProc{Proc: p, dir: filepath.Join(dir, "data"), config: path}
	rig.WaitFor(t, 30*time.Second, "gateway running", func() bool {
		for _, line := range strings.Split(p.Stderr.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "chargegate running" {
				g.api, _ = m["api"].(string)
				g.device, _ = m["device"].(string)
				return true
			}
		}
		select {
		case <-p.Done():
			t.Fatalf("gateway exited: %v\n%s", p.Err(), p.Stderr.String())
		default:
		}
		return false
	})
	return g
}

func (g *gatewayProc) status(t *testing.T) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + g.api + "/api/v1/status")
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("decode status: %v", err)
	}
	return m
}

// run executes the chargegate CLI and returns its exit code and combined output.
func runCLI(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath(t, "chargegate"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("run chargegate %v: %v", args, err)
	}
	return 0, string(out)
}

// simLoad asks metersim whether its load is connected (the simulated contactor's lease).
func (s *stack) simMeter(t *testing.T) map[string]any {
	t.Helper()
	resp, err := http.Get(s.metersim["control"] + "/v1/meters/1")
	if err != nil {
		t.Fatalf("metersim state: %v", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return m
}
