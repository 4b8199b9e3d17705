package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/chargegate/chargegate/gateway/child"
)

// The end-to-end tests run the real programs: metersim over Modbus TCP, ledgernode, a Mosquitto
// broker from Debian, and chargegate itself, each on free loopback ports.

var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "chargegate-e2e-bin-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-tags", "faultinject", "-o", dir+string(os.PathSeparator),
		"./cmd/chargegate", "../meter/cmd/metersim", "../ledger/cmd/ledgernode")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build programs: %v\n%s", err, out)
	}
	return dir, nil
})

func binPath(t *testing.T, name string) string {
	t.Helper()
	dir, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// syncBuffer collects a process's output for assertions and failure reports.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type proc struct {
	name   string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

func startProc(t *testing.T, name string, args ...string) (*proc, io.Reader) {
	t.Helper()
	p := &proc{name: name, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binPath(t, name), args...)
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("%s stderr (tail):\n%s", name, tail(p.stderr.String(), 6000))
		}
	})
	return p, out
}

func (p *proc) stop(sig syscall.Signal) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// startService starts a program that prints one JSON line with its addresses once it listens.
func startService(t *testing.T, name string, args ...string) (*child.Process, map[string]string) {
	t.Helper()
	stderr := &syncBuffer{}
	p, err := child.Start(binPath(t, name), args, stderr, 30*time.Second)
	if err != nil {
		t.Fatalf("%v; stderr:\n%s", err, stderr.String())
	}
	t.Cleanup(func() {
		p.Stop(syscall.SIGKILL, 0)
		if t.Failed() {
			t.Logf("%s stderr (tail):\n%s", name, tail(stderr.String(), 3000))
		}
	})
	return p, p.Addrs
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// broker is a Mosquitto started for one test, restartable on the same port.
type broker struct {
	t    *testing.T
	conf string
	port int
	cmd  *exec.Cmd
	log  *syncBuffer
}

func startBroker(t *testing.T) *broker { return startBrokerWith(t, "") }

// startBrokerWith starts Mosquitto with extra configuration for its one listener (e.g. TLS).
func startBrokerWith(t *testing.T, listenerConf string) *broker {
	t.Helper()
	path, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, err = os.Stat("/usr/sbin/mosquitto"); err != nil {
			t.Fatal("mosquitto not installed: run `make deps` (Debian package mosquitto)")
		}
		path = "/usr/sbin/mosquitto"
	}
	// Started as root, Mosquitto drops to its own user: it must reach its files.
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o777)
	b := &broker{t: t, port: freePort(t), conf: filepath.Join(dir, "mosquitto.conf"), log: &syncBuffer{}}
	// Persistence keeps the operator's queued messages across a broker restart, as a production
	// broker would; the gateway's own guarantee is that it resends everything not acknowledged.
	conf := fmt.Sprintf("persistence true\npersistence_location %s/\nmax_inflight_messages 0\nmax_queued_messages 0\n"+
		"listener %d 127.0.0.1\nallow_anonymous true\n%s", dir, b.port, listenerConf)
	if err := os.WriteFile(b.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b.start(path)
	t.Cleanup(b.stop)
	return b
}

func (b *broker) start(path string) {
	b.cmd = exec.Command(path, "-c", b.conf)
	b.cmd.Stderr, b.cmd.Stdout = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		b.t.Fatalf("start mosquitto: %v", err)
	}
	b.t.Cleanup(func() {
		if b.t.Failed() {
			b.t.Logf("mosquitto log:\n%s", tail(b.log.String(), 3000))
		}
	})
	waitFor(b.t, 10*time.Second, "mosquitto listening", func() bool {
		c, err := net.Dial("tcp", b.addr())
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (b *broker) restart() { b.start(b.cmd.Path) }

func (b *broker) stop() {
	if b.cmd != nil && b.cmd.ProcessState == nil {
		b.cmd.Process.Signal(syscall.SIGTERM)
		b.cmd.Wait()
	}
}

func (b *broker) addr() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }
func (b *broker) url() string  { return "tcp://" + b.addr() }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// operator is the test's MQTT client: it records everything under the device's topics.
type operator struct {
	t      *testing.T
	client paho.Client
	mu     sync.Mutex
	msgs   map[string][][]byte // topic suffix after chargegate/{device}/
}

func connectOperator(t *testing.T, b *broker) *operator {
	t.Helper()
	o := &operator{t: t, msgs: map[string][][]byte{}}
	// A persistent session (clean session off) lets the broker queue messages for the operator.
	opts := paho.NewClientOptions().AddBroker(b.url()).SetClientID(fmt.Sprintf("operator-%d", time.Now().UnixNano())).
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
	waitFor(t, 5*time.Second, "operator subscribed", o.client.IsConnectionOpen)
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
	waitFor(o.t, 20*time.Second, device+" online", func() bool {
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
	waitFor(o.t, 20*time.Second, "reply to "+name, func() bool {
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

// gatewayProc is a running chargegate daemon.
type gatewayProc struct {
	*proc
	dir    string
	config string
	api    string
	device string
}

type stack struct {
	metersim map[string]string
	node     map[string]string
	broker   *broker
}

func startStack(t *testing.T, withBroker bool) *stack {
	t.Helper()
	s := &stack{}
	_, s.metersim = startService(t, "metersim", "--model", "sdm630", "--listen", "tcp://127.0.0.1:0", "--control", "127.0.0.1:0", "--serial", "71000042")
	_, s.node = startService(t, "ledgernode", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--min-pow-score", "0", "--milestone-interval", "500ms")
	if withBroker {
		s.broker = startBroker(t)
	}
	return s
}

// config renders a gateway configuration using the stack; extra YAML is appended.
func (s *stack) config(dataDir, extra string) string {
	broker := ""
	if s.broker != nil {
		broker = s.broker.url()
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
	p, _ := startProc(t, "chargegate", "run", "-config", path)
	g := &gatewayProc{proc: p, dir: filepath.Join(dir, "data"), config: path}
	waitFor(t, 30*time.Second, "gateway running", func() bool {
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "chargegate running" {
				g.api, _ = m["api"].(string)
				g.device, _ = m["device"].(string)
				return true
			}
		}
		select {
		case <-p.done:
			t.Fatalf("gateway exited: %v\n%s", p.err, p.stderr.String())
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
