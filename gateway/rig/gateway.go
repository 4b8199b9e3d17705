package rig

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Config is what a test chooses of a gateway configuration; Stack.Config renders the rest.
type Config struct {
	EVSEID       string        // default "DE*CGT*ETEST*1"
	Poll         time.Duration // meter poll and record interval while charging; default 200ms
	Idle         time.Duration // record interval when idle; default Poll
	BatchAge     time.Duration // ledger batch age; default 1s
	BatchSize    int           // ledger batch size; 0 = the gateway's default
	DiskQuotaKB  int64         // ledger.disk_quota_kb: the database's size limit, a full disk; 0 = none
	InFlight     int           // MQTT messages in flight; default 16
	LogLevel     string        // default "debug"
	MaxPowerW    int64         // meter.max_power_w; 0 = the model's rating
	ResetConfirm time.Duration // meter.reset_confirm; 0 = the default (60 s)
	// Sessions is the body of the sessions section, each line indented two spaces
	// ("  mode: free\n  autostart: true\n"); "" leaves the section out.
	Sessions string
	Extra    string // more top-level YAML
}

// Config renders a gateway configuration (YAML) that uses the stack's parts and keeps its data
// in dataDir: metersim's simulated contactor (hal backend sim), the ledger node, the broker,
// the local API on a free port and JSON logs (Gateway reads them).
func (s *Stack) Config(dataDir string, c Config) string {
	if c.EVSEID == "" {
		c.EVSEID = "DE*CGT*ETEST*1"
	}
	if c.Poll == 0 {
		c.Poll = 200 * time.Millisecond
	}
	if c.Idle == 0 {
		c.Idle = c.Poll
	}
	if c.BatchAge == 0 {
		c.BatchAge = time.Second
	}
	if c.InFlight == 0 {
		c.InFlight = 16
	}
	if c.LogLevel == "" {
		c.LogLevel = "debug"
	}
	broker := ""
	if s.Broker != nil {
		broker = s.Broker.URL()
	}
	var meter, ledger, sessions string
	if c.MaxPowerW != 0 {
		meter += fmt.Sprintf("  max_power_w: %d\n", c.MaxPowerW)
	}
	if c.ResetConfirm != 0 {
		meter += fmt.Sprintf("  reset_confirm: %s\n", c.ResetConfirm)
	}
	if c.BatchSize != 0 {
		ledger += fmt.Sprintf("  batch_size: %d\n", c.BatchSize)
	}
	if c.DiskQuotaKB != 0 {
		ledger += fmt.Sprintf("  disk_quota_kb: %d\n", c.DiskQuotaKB)
	}
	if c.Sessions != "" {
		sessions = "sessions:\n" + c.Sessions
	}
	return fmt.Sprintf(`device:
  evse_id: %q
  data_dir: %q
meter:
  url: %q
  model: sdm630
  poll_interval: %s
  record_interval_charging: %s
  record_interval_idle: %s
  timeout: 300ms
%shal:
  backend: sim
  feedback_timeout: 1s
  sim:
    load_control_url: %q
    lease: 1500ms
ledger:
  node_url: %q
  batch_age: %s
%smqtt:
  broker: %q
  in_flight: %d
http:
  listen: 127.0.0.1:0
log:
  format: json
  level: %s
%s%s`, c.EVSEID, dataDir, s.Metersim["modbus"], c.Poll, c.Poll, c.Idle, meter, s.Metersim["control"],
		s.LedgerURL, c.BatchAge, ledger, broker, c.InFlight, c.LogLevel, sessions, c.Extra)
}

// WriteConfig writes a configuration as dir/config.yaml and returns its path.
func WriteConfig(tb testing.TB, dir, config string) string {
	tb.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// Gateway is a running `chargegate run`.
type Gateway struct {
	*Proc
	DataDir string // device.data_dir
	Config  string // the configuration file
	API     string // the local API's host:port, once Running
	Device  string // the device ID (MQTT topics), once Running
	Started time.Time
	// Token is the local API's bearer token, for a configuration with http.token_file.
	Token string
}

// StartGateway runs `chargegate run --config configPath` and waits until it serves its API;
// a daemon that exits meanwhile fails the test with its log.
func StartGateway(tb testing.TB, dataDir, configPath string) *Gateway {
	tb.Helper()
	g := LaunchGateway(tb, dataDir, configPath)
	WaitFor(tb, 30*time.Second, "gateway running", func() bool {
		if g.Running() {
			return true
		}
		if g.Exited() {
			tb.Fatalf("gateway exited: %v\n%s", g.Err(), Tail(g.Stderr.String(), 4000))
		}
		return false
	})
	return g
}

// LaunchGateway starts the daemon without waiting for it.
func LaunchGateway(tb testing.TB, dataDir, configPath string) *Gateway {
	tb.Helper()
	p, _ := Start(tb, Bin(tb, "chargegate"), "run", "--config", configPath)
	return &Gateway{Proc: p, DataDir: dataDir, Config: configPath, Started: time.Now()}
}

// Running reports whether the daemon logged "chargegate running", filling in API and Device.
func (g *Gateway) Running() bool {
	if g.API != "" {
		return true
	}
	for _, line := range strings.Split(g.Stderr.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "chargegate running" {
			g.API, _ = m["api"].(string)
			g.Device, _ = m["device"].(string)
			return true
		}
	}
	return false
}

// Status is the part of /api/v1/status the tests read.
type Status struct {
	Entries     uint64            `json:"entries"`
	RelayClosed bool              `json:"relay_closed"`
	Alarms      map[string]string `json:"alarms"`
	PollErrors  int64             `json:"poll_errors"`
	Session     *struct {
		ID        string `json:"id"`
		State     string `json:"state"`
		EnergyMWh int64  `json:"energy_mwh"`
	} `json:"session"`
	Meter struct {
		Readable  bool    `json:"readable"`
		PowerW    float64 `json:"power_w"`
		ImportMWh int64   `json:"energy_import_mwh"`
	} `json:"meter"`
	Backlog map[string]int64 `json:"backlog"`
	Anchor  *struct {
		Confirmed        int64  `json:"confirmed"`
		ConfirmedThrough uint64 `json:"confirmed_through"`
		LastError        string `json:"last_error"`
	} `json:"anchor"`
}

// Status asks the daemon's local API; a daemon that does not answer within 5 s is hung.
func (g *Gateway) Status(tb testing.TB) Status {
	tb.Helper()
	var st Status
	if err := g.getStatus(&st); err != nil {
		tb.Fatalf("gateway status: %v", err)
	}
	return st
}

// TryStatus is Status returning the error.
func (g *Gateway) TryStatus() (Status, error) {
	var st Status
	err := g.getStatus(&st)
	return st, err
}

// StatusMap is the whole status document, for fields Status does not name.
func (g *Gateway) StatusMap(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := g.getStatus(&m); err != nil {
		tb.Fatalf("gateway status: %v", err)
	}
	return m
}

func (g *Gateway) getStatus(v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+g.API+"/api/v1/status", nil)
	if g.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// StopClean sends SIGTERM and requires a clean exit: no crash, no hang.
func (g *Gateway) StopClean(tb testing.TB) {
	tb.Helper()
	if err := g.Stop(syscall.SIGTERM); err != nil {
		tb.Fatalf("gateway exit after SIGTERM: %v\n%s", err, Tail(g.Stderr.String(), 3000))
	}
}

// Logged reports whether the daemon logged a line whose msg contains msg.
func (g *Gateway) Logged(msg string) bool {
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

// CLI runs the chargegate command line with stdin and returns its exit code and combined
// output; one that runs longer than 5 minutes is killed.
func CLI(tb testing.TB, stdin string, args ...string) (int, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Bin(tb, "chargegate"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		tb.Fatalf("run chargegate %v: %v", args, err)
	}
	return 0, string(out)
}

// MustVerify runs `chargegate verify --data dataDir` and requires it to pass.
func MustVerify(tb testing.TB, dataDir string, args ...string) string {
	tb.Helper()
	code, out := CLI(tb, "", append([]string{"verify", "--data", dataDir}, args...)...)
	if code != 0 {
		tb.Fatalf("chargegate verify = %d: %s", code, out)
	}
	return out
}
