package chaos_test

import (
	"bufio"
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
)

// The chaos tests run the real programs — metersim over Modbus TCP, ledgernode, Mosquitto from
// Debian and `chargegate run` — each on free loopback ports, and break things between them.

// full reports whether the long versions run (CHARGEGATE_CHAOS=full).
func full() bool { return os.Getenv("CHARGEGATE_CHAOS") == "full" }

// pick returns the short or the full value of a scenario parameter.
func pick[T any](short, long T) T {
	if full() {
		return long
	}
	return short
}

var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "chargegate-chaos-bin-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"../cmd/chargegate", "../../meter/cmd/metersim", "../../ledger/cmd/ledgernode")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build programs: %v\n%s", err, out)
	}
	return dir, nil
})

func binPath(tb testing.TB, name string) string {
	tb.Helper()
	dir, err := buildOnce()
	if err != nil {
		tb.Fatal(err)
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

// proc is one running program.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

func startProc(tb testing.TB, name string, args ...string) (*proc, io.Reader) {
	tb.Helper()
	p := &proc{name: name, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binPath(tb, name), args...)
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		p.stop(syscall.SIGKILL)
		if tb.Failed() {
			tb.Logf("%s stderr (tail):\n%s", name, tail(p.stderr.String(), 3000))
		}
	})
	return p, out
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop signals the process and waits for it; a process that ignores the signal for 20 s is
// killed and reported as hung.
func (p *proc) stop(sig syscall.Signal) error {
	if p.exited() {
		return p.err
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s hung: still running 20 s after signal %v", p.name, sig)
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
func startService(tb testing.TB, name string, args ...string) (*proc, map[string]string) {
	tb.Helper()
	p, out := startProc(tb, name, args...)
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		io.Copy(io.Discard, out)
	}()
	select {
	case l, ok := <-line:
		var raw map[string]any
		if !ok || json.Unmarshal([]byte(l), &raw) != nil {
			tb.Fatalf("%s printed %q instead of its addresses; stderr:\n%s", name, l, p.stderr.String())
		}
		out := map[string]string{}
		for k, v := range raw {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
		return p, out
	case <-time.After(30 * time.Second):
		tb.Fatalf("%s did not start; stderr:\n%s", name, p.stderr.String())
	}
	return nil, nil
}

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// broker is a Mosquitto started for one test, restartable on the same port.
type broker struct {
	tb   testing.TB
	path string
	conf string
	port int
	cmd  *exec.Cmd
	log  *syncBuffer
}

func startBroker(tb testing.TB) *broker {
	tb.Helper()
	path, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, err = os.Stat("/usr/sbin/mosquitto"); err != nil {
			tb.Fatal("mosquitto not installed: run `make deps` (Debian package mosquitto)")
		}
		path = "/usr/sbin/mosquitto"
	}
	// Started as root, Mosquitto drops to its own user: it must reach its files.
	dir := tb.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o777)
	b := &broker{tb: tb, path: path, port: freePort(tb), conf: filepath.Join(dir, "mosquitto.conf"), log: &syncBuffer{}}
	conf := fmt.Sprintf("persistence true\npersistence_location %s/\nmax_inflight_messages 0\nmax_queued_messages 0\n"+
		"listener %d 127.0.0.1\nallow_anonymous true\n", dir, b.port)
	if err := os.WriteFile(b.conf, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	b.start()
	tb.Cleanup(b.stop)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("mosquitto log:\n%s", tail(b.log.String(), 2000))
		}
	})
	return b
}

func (b *broker) start() {
	b.cmd = exec.Command(b.path, "-c", b.conf)
	b.cmd.Stderr, b.cmd.Stdout = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		b.tb.Fatalf("start mosquitto: %v", err)
	}
	waitFor(b.tb, 10*time.Second, "mosquitto listening", func() bool {
		c, err := net.Dial("tcp", b.addr())
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (b *broker) stop() {
	if b.cmd != nil && b.cmd.ProcessState == nil {
		b.cmd.Process.Signal(syscall.SIGTERM)
		b.cmd.Wait()
	}
}

func (b *broker) addr() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }
func (b *broker) url() string  { return "tcp://" + b.addr() }

// stack is the gateway's surroundings: a meter simulator, a ledger node and optionally a broker.
type stack struct {
	metersim map[string]string
	node     map[string]string
	nodeProc *proc
	nodeDir  string
	nodeArgs []string
	broker   *broker
	// ledgerURL is what the gateway is told to use as its node (a proxy in the ledger tests).
	ledgerURL string
}

type stackOpts struct {
	broker    bool
	noNode    bool
	nodeFlags []string
	meterArgs []string
}

func startStack(tb testing.TB, o stackOpts) *stack {
	tb.Helper()
	s := &stack{}
	args := append([]string{"--model", "sdm630", "--listen", "tcp://127.0.0.1:0", "--control", "127.0.0.1:0", "--serial", "71000042"}, o.meterArgs...)
	_, s.metersim = startService(tb, "metersim", args...)
	if !o.noNode {
		s.nodeDir = tb.TempDir()
		s.nodeArgs = append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", freePort(tb)), "--data", s.nodeDir,
			"--min-pow-score", "0", "--milestone-interval", "300ms", "--log-level", "warn"}, o.nodeFlags...)
		s.nodeProc, s.node = startService(tb, "ledgernode", s.nodeArgs...)
		s.ledgerURL = s.node["api"]
	}
	if o.broker {
		s.broker = startBroker(tb)
	}
	return s
}

// restartNode stops the ledger node (SIGKILL when kill) and starts it again on the same port
// and data, with extra flags replacing the fault flags it had.
func (s *stack) restartNode(tb testing.TB, kill bool, flags ...string) {
	tb.Helper()
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	s.nodeProc.stop(sig)
	args := append(append([]string(nil), s.nodeArgs[:10]...), flags...)
	s.nodeProc, s.node = startService(tb, "ledgernode", args...)
}

type gwOpts struct {
	poll      time.Duration // meter poll and record interval while charging
	idle      time.Duration // record interval when idle (default: poll)
	autostart bool          // free sessions that start by themselves
	batchAge  time.Duration
	batchSize int
	extra     string // more YAML
}

// config renders a gateway configuration using the stack.
func (s *stack) config(dataDir string, o gwOpts) string {
	if o.poll == 0 {
		o.poll = 100 * time.Millisecond
	}
	if o.idle == 0 {
		o.idle = o.poll
	}
	if o.batchAge == 0 {
		o.batchAge = 500 * time.Millisecond
	}
	if o.batchSize == 0 {
		o.batchSize = 10000
	}
	broker := ""
	if s.broker != nil {
		broker = s.broker.url()
	}
	sessions := "sessions:\n  mode: authorized\n"
	if o.autostart {
		sessions = "sessions:\n  mode: free\n  autostart: true\n"
	}
	return fmt.Sprintf(`device:
  evse_id: "DE*CGT*ECHAOS*1"
  data_dir: %q
meter:
  url: %q
  model: sdm630
  poll_interval: %s
  record_interval_charging: %s
  record_interval_idle: %s
  timeout: 300ms
hal:
  backend: sim
  sim:
    load_control_url: %q
    lease: 1500ms
ledger:
  node_url: %q
  batch_age: %s
  batch_size: %d
mqtt:
  broker: %q
  in_flight: 64
http:
  listen: 127.0.0.1:0
log:
  format: json
  level: info
%s%s`, dataDir, s.metersim["modbus"], o.poll, o.poll, o.idle, s.metersim["control"], s.ledgerURL, o.batchAge, o.batchSize,
		broker, sessions, o.extra)
}

// gatewayProc is a running chargegate daemon.
type gatewayProc struct {
	*proc
	dataDir string
	config  string
	api     string
	device  string
	started time.Time
}

// writeConfig writes the gateway configuration into dir and returns its path.
func writeConfig(tb testing.TB, dir, config string) string {
	tb.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// startGateway runs `chargegate run` on the configuration file and waits until it serves its API.
func startGateway(tb testing.TB, dataDir, configPath string) *gatewayProc {
	tb.Helper()
	g := launchGateway(tb, dataDir, configPath)
	waitFor(tb, 30*time.Second, "gateway running", func() bool {
		if g.running() {
			return true
		}
		if g.exited() {
			tb.Fatalf("gateway exited: %v\n%s", g.err, tail(g.stderr.String(), 4000))
		}
		return false
	})
	return g
}

// launchGateway starts the daemon without waiting for it.
func launchGateway(tb testing.TB, dataDir, configPath string) *gatewayProc {
	tb.Helper()
	p, _ := startProc(tb, "chargegate", "run", "-config", configPath)
	return &gatewayProc{proc: p, dataDir: dataDir, config: configPath, started: time.Now()}
}

// running reports whether the daemon logged "chargegate running", filling in its API address.
func (g *gatewayProc) running() bool {
	if g.api != "" {
		return true
	}
	for _, line := range strings.Split(g.stderr.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "chargegate running" {
			g.api, _ = m["api"].(string)
			g.device, _ = m["device"].(string)
			return true
		}
	}
	return false
}

// status is the part of /api/v1/status the chaos tests read.
type status struct {
	Entries    uint64            `json:"entries"`
	Alarms     map[string]string `json:"alarms"`
	PollErrors int64             `json:"poll_errors"`
	Session    *struct {
		ID        string `json:"id"`
		EnergyMWh int64  `json:"energy_mwh"`
	} `json:"session"`
	Meter struct {
		Readable  bool  `json:"readable"`
		ImportMWh int64 `json:"energy_import_mwh"`
	} `json:"meter"`
	Backlog map[string]int64 `json:"backlog"`
	Anchor  *struct {
		Confirmed        int64  `json:"confirmed"`
		ConfirmedThrough uint64 `json:"confirmed_through"`
		LastError        string `json:"last_error"`
	} `json:"anchor"`
}

// status asks the daemon's local API; a daemon that does not answer within 5 s is hung.
func (g *gatewayProc) status(tb testing.TB) status {
	tb.Helper()
	st, err := g.tryStatus()
	if err != nil {
		tb.Fatalf("gateway status: %v", err)
	}
	return st
}

func (g *gatewayProc) tryStatus() (status, error) {
	var st status
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+g.api+"/api/v1/status", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// stopClean sends SIGTERM and requires a clean exit: no crash, no hang.
func (g *gatewayProc) stopClean(tb testing.TB) {
	tb.Helper()
	if err := g.stop(syscall.SIGTERM); err != nil {
		tb.Fatalf("gateway exit after SIGTERM: %v\n%s", err, tail(g.stderr.String(), 3000))
	}
}

// logged reports whether the daemon logged a line whose msg contains msg.
func (g *gatewayProc) logged(msg string) bool {
	for _, line := range strings.Split(g.stderr.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			if s, _ := m["msg"].(string); strings.Contains(s, msg) {
				return true
			}
		}
	}
	return false
}

// runCLI executes the chargegate CLI and returns its exit code and combined output.
func runCLI(tb testing.TB, args ...string) (int, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath(tb, "chargegate"), args...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		tb.Fatalf("run chargegate %v: %v", args, err)
	}
	return 0, string(out)
}

// mustVerify runs `chargegate verify` on a data directory and requires it to pass.
func mustVerify(tb testing.TB, dataDir string) string {
	tb.Helper()
	code, out := runCLI(tb, "verify", "--data", dataDir)
	if code != 0 {
		tb.Fatalf("chargegate verify = %d: %s", code, out)
	}
	return out
}

// metersimFault injects a fault through metersim's control API and returns its ID.
func (s *stack) metersimFault(tb testing.TB, fault string) int {
	tb.Helper()
	resp, err := http.Post(s.metersim["control"]+"/v1/fault", "application/json", strings.NewReader(fault))
	if err != nil {
		tb.Fatalf("inject fault %s: %v", fault, err)
	}
	defer resp.Body.Close()
	var r struct {
		ID int `json:"id"`
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&r) != nil {
		tb.Fatalf("inject fault %s: %s", fault, resp.Status)
	}
	return r.ID
}

// clearFaults removes every metersim fault.
func (s *stack) clearFaults(tb testing.TB) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodDelete, s.metersim["control"]+"/v1/faults", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("clear faults: %v", err)
	}
	resp.Body.Close()
}
