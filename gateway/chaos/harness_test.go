package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/child"
	"github.com/chargegate/chargegate/gateway/rig"
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
	return rig.Build("", "../cmd/chargegate", "../../meter/cmd/metersim", "../../ledger/cmd/ledgernode")
})

func binPath(tb testing.TB, name string) string {
	tb.Helper()
	dir, err := buildOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// proc is one running program.
type proc = rig.Proc

func startProc(tb testing.TB, name string, args ...string) (*proc, io.Reader) {
	tb.Helper()
	return rig.Start(tb, binPath(tb, name), args...)
}

// startService starts metersim or ledgernode and returns it with its addresses.
func startService(tb testing.TB, name string, args ...string) (*child.Process, map[string]string) {
	tb.Helper()
	p := rig.StartService(tb, binPath(tb, name), args...)
	return p, p.Addrs
}

func startBroker(tb testing.TB) *rig.Broker { return rig.StartBroker(tb, "") }

// stack is the gateway's surroundings: a meter simulator, a ledger node and optionally a broker.
type stack struct {
	metersim map[string]string
	node     map[string]string
	nodeProc *child.Process
	nodeDir  string
	nodeArgs []string
	broker   *rig.Broker
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
		s.nodeArgs = append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", rig.FreePort(tb)), "--data", s.nodeDir,
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
	s.nodeProc.Stop(sig, 20*time.Second)
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
		broker = s.broker.URL()
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
	*rig.Proc
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
	rig.WaitFor(tb, 30*time.Second, "gateway running", func() bool {
		if g.running() {
			return true
		}
		if g.Exited() {
			tb.Fatalf("gateway exited: %v\n%s", g.Err(), rig.Tail(g.Stderr.String(), 4000))
		}
		return false
	})
	return g
}

// launchGateway starts the daemon without waiting for it.
func launchGateway(tb testing.TB, dataDir, configPath string) *gatewayProc {
	tb.Helper()
	p, _ := startProc(tb, "chargegate", "run", "--config", configPath)
	return &gatewayProc{Proc: p, dataDir: dataDir, config: configPath, started: time.Now()}
}

// running reports whether the daemon logged "chargegate running", filling in its API address.
func (g *gatewayProc) running() bool {
	if g.api != "" {
		return true
	}
	for _, line := range strings.Split(g.Stderr.String(), "\n") {
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
	if err := g.Stop(syscall.SIGTERM); err != nil {
		tb.Fatalf("gateway exit after SIGTERM: %v\n%s", err, rig.Tail(g.Stderr.String(), 3000))
	}
}

// logged reports whether the daemon logged a line whose msg contains msg.
func (g *gatewayProc) logged(msg string) bool {
	for _, line := range strings.Split(g.Stderr.String(), "\n") {
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
