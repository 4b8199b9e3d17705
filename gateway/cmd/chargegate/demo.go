package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/chargegate/chargegate/gateway/child"
	"github.com/chargegate/chargegate/gateway/config"
	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/gateway/web"
)

// cmdDemo runs the embedded default on one machine with no hardware: the meter simulator (an
// Eastron SDM630 on Modbus TCP), the local ledger node and the gateway with the simulated board,
// which connects the simulator's load only while its contactor is closed.
//
//	chargegate demo [--data var/demo] [--bin bin] [--duration 30s] [--http 127.0.0.1:8080]
//	                [--ocpp DIR [--ocpp-version 1.6|2.0.1]] [--evses 1|2]
//
// With --ocpp (make demo OCPP=1, or OCPP=2.0.1) it also runs the strict OCPP CSMS from DIR
// (gateway/ocpp/testdata/csms) when Node.js is installed, in the chosen protocol version,
// connects the gateway to it and prints the path and a summary of its message log.
// Without --duration it shows a live view until Ctrl-C; with it, it runs headless for that long,
// prints a summary and exits 0 only if the stored chain verifies.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "demo [--data DIR] [--bin DIR] [--duration D] [--http ADDR] [--ocpp DIR [--ocpp-version V]] [--evses N]", stderr)
	dir := fs.String("data", "var/demo", "`directory` for the demo's data and logs")
	fs.alias("dir", "data")
	bin := fs.String("bin", "bin", "`directory` holding metersim and ledgernode")
	duration := fs.Duration("duration", 0, "run headless for this long, then print a summary")
	httpAddr := fs.String("http", "127.0.0.1:8080", "local status API `address` (a free port is used if busy)")
	ocppDir := fs.String("ocpp", "", "`directory` of the strict OCPP CSMS (gateway/ocpp/testdata/csms) to run and connect to")
	ocppVersion := fs.String("ocpp-version", "1.6", "OCPP `version` the gateway and the CSMS speak: 1.6 or 2.0.1")
	evses := fs.Int("evses", 1, "charging points: 1, or 2 sharing a site limit behind a simulated grid meter")
	if code, ok := fs.parse(args, 0); !ok {
		return code
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintln(stderr, "chargegate demo:", err)
		return 1
	}
	// The simulated meter starts each run at its first counter value, which the gateway's
	// chain from an earlier run would rightly see as a counter reset (an alarm, no charging).
	// So every run is a fresh gateway; the previous run's data is kept beside it.
	if prev, err := keepPrevious(filepath.Join(*dir, "gateway")); err != nil {
		fmt.Fprintln(stderr, "chargegate demo:", err)
		return 1
	} else if prev != "" {
		fmt.Fprintf(stdout, "chargegate demo: the previous run's gateway data is in %s\n", prev)
	}
	if *ocppVersion != ocpp.Version16 && *ocppVersion != ocpp.Version201 {
		fmt.Fprintf(stderr, "chargegate demo: --ocpp-version must be %s or %s\n", ocpp.Version16, ocpp.Version201)
		return 2
	}
	if *evses != 1 && *evses != 2 {
		fmt.Fprintln(stderr, "chargegate demo: --evses must be 1 or 2")
		return 2
	}
	d := &demo{dir: *dir, bin: *bin, out: stdout, evses: *evses}
	defer d.stopChildren()
	var csms *demoCSMS
	if *ocppDir != "" {
		var err error
		if csms, err = startDemoCSMS(ctx, *ocppDir, *ocppVersion, *dir, stdout); err != nil {
			fmt.Fprintln(stderr, "chargegate demo:", err)
			return 1
		}
		defer csms.stop()
		if csms != nil {
			d.extra = csms.config()
			fmt.Fprintf(stdout, "chargegate demo: strict OCPP %s CSMS on port %d, message log %s\n", csms.protocol(), csms.port, csms.log)
		}
	}
	cfg, err := d.start(ctx, *httpAddr)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate demo:", err)
		return 1
	}
	logf, err := os.OpenFile(filepath.Join(*dir, "gateway.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate demo:", err)
		return 1
	}
	defer logf.Close()
	logger := slog.New(slog.NewJSONHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	app, err := openApp(ctx, cfg, version, logger)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate demo: start gateway:", err)
		return 1
	}
	runCtx, cancel := context.WithCancel(ctx)
	if *duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, *duration)
	}
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	fmt.Fprintf(stdout, "chargegate demo: data in %s\nchargegate demo: web UI http://%s/\n", *dir, app.APIAddr())
	fmt.Fprintf(stdout, "chargegate demo: sessions start with the signed token in %s (issuer %s)\n", d.tokenFile(), demoIssuerKID)
	if *duration == 0 {
		openBrowser("http://" + app.APIAddr() + "/")
	}
	driven := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(driven)
		d.drive(runCtx, app)
	}()
	go func() {
		defer close(fed)
		if d.evses == 2 {
			d.feedGrid(runCtx, app)
		}
	}()
	d.view(runCtx, app, *duration == 0 && isTerminal(stdout))
	runErr := <-done
	<-driven
	<-fed                            // d.site is read below
	last := app.refreshSnapshot(ctx) // after the session's end was recorded
	d.stopChildren()
	code := d.summary(ctx, last, runErr, stderr)
	if d.evses == 2 {
		site := d.site
		if site == "" {
			site = "both EVSEs never charged at once (run longer)"
		}
		fmt.Fprintf(stdout, "  site limit         %d A per phase: %s\n", demoSiteLimitA, site)
	}
	if csms != nil {
		csms.stop()
		if sum, err := csms.summary(); err == nil {
			fmt.Fprintf(stdout, "  OCPP messages      %s\n  OCPP message log   %s\n", sum, csms.log)
		}
	}
	return code
}

type demo struct {
	dir, bin string
	extra    string // YAML appended to the configuration (the ocpp section with --ocpp)
	evses    int    // charging points (--evses)
	control  string // metersim's control API
	site     string // what the site limit did while both EVSEs charged, once seen
	out      io.Writer
	children []*child.Process
	issuer   ed25519.PrivateKey // the demo eMSP's token key
	receipt  string             // path of the last session's receipt, once written
}

// start launches metersim and ledgernode and returns the gateway configuration that uses them.
func (d *demo) start(ctx context.Context, httpAddr string) (config.Config, error) {
	simArgs := []string{"--model", "sdm630", "--listen", "tcp://127.0.0.1:0", "--control", "127.0.0.1:0", "--serial", "71000001"}
	if d.evses == 2 {
		simArgs = append(simArgs, "--meters", "3") // units 1 and 2 for the EVSEs, 3 the grid meter
	}
	sim, err := d.child(ctx, "metersim", simArgs...)
	if err != nil {
		return config.Config{}, err
	}
	d.control = sim["control"]
	node, err := d.child(ctx, "ledgernode", "--listen", "127.0.0.1:0", "--data", filepath.Join(d.dir, "node"),
		"--min-pow-score", "1500", "--milestone-interval", "2s")
	if err != nil {
		return config.Config{}, err
	}
	issuerPub, err := d.newIssuer()
	if err != nil {
		return config.Config{}, err
	}
	if ln, err := net.Listen("tcp", httpAddr); err != nil {
		httpAddr = "127.0.0.1:0"
	} else {
		ln.Close()
	}
	yaml := fmt.Sprintf(`# Written by chargegate demo: the embedded default on one machine (see images/chargegate.yaml).
device:
  evse_id: "DE*CGT*EDEMO*1"
  data_dir: %q
meter:
  url: %q
  model: sdm630
  poll_interval: 1s
  record_interval_charging: 1s
  record_interval_idle: 10s
hal:
  backend: sim
  sim:
    load_control_url: %q
    load_unit: 1
ledger:
  node_url: %q
  batch_age: 5s
http:
  listen: %q
sessions:
  mode: authorized
  max_duration: 2m
access:
  issuers: ["%s=%s"]
log:
  format: json
`, filepath.Join(d.dir, "gateway"), sim["modbus"], sim["control"], node["api"], httpAddr, demoIssuerKID, issuerPub) + d.extra
	if d.evses == 2 {
		yaml += demoEVSEs
	}
	if err := os.WriteFile(filepath.Join(d.dir, "config.yaml"), []byte(yaml), 0o600); err != nil {
		return config.Config{}, err
	}
	return config.Parse([]byte(yaml))
}

// child starts bin/name with args, logging to dir/name.log, and returns its addresses.
func (d *demo) child(ctx context.Context, name string, args ...string) (map[string]string, error) {
	logf, err := os.OpenFile(filepath.Join(d.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	p, err := child.Start(filepath.Join(d.bin, name), args, logf, 30*time.Second)
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("%w (run make build; see %s)", err, logf.Name())
	}
	d.children = append(d.children, p)
	return p.Addrs, ctx.Err()
}

func (d *demo) stopChildren() {
	for _, c := range d.children {
		c.Cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range d.children {
		c.Stop(syscall.SIGTERM, 5*time.Second)
	}
	d.children = nil
}

// view refreshes a live view every second until ctx ends.
func (d *demo) view(ctx context.Context, app *App, live bool) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s := app.refreshSnapshot(ctx) // also when headless: it follows the anchoring for the summary
		if live {
			fmt.Fprint(d.out, "\x1b[H\x1b[2J", render(s), "\nCtrl-C stops the demo.\n")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func render(s web.Snapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "chargegate %s — device %s (%s)\n\n", s.Version, s.Device, s.EVSEID)
	fmt.Fprintf(&b, "  meter        %s %s  %s\n", s.Meter.Model, s.Meter.Serial, map[bool]string{true: "readable", false: "UNREADABLE"}[s.Meter.Readable])
	fmt.Fprintf(&b, "  power        %8.2f kW\n", s.Meter.PowerW/1000)
	fmt.Fprintf(&b, "  energy       %12.3f kWh\n", float64(s.Meter.ImportMWh)/1e6)
	fmt.Fprintf(&b, "  relay        %s\n", map[bool]string{true: "closed", false: "open"}[s.RelayClosed])
	if s.Session != nil {
		fmt.Fprintf(&b, "  session      %s %s, %.3f kWh\n", s.Session.ID, s.Session.State, float64(s.Session.EnergyMWh)/1e6)
	} else {
		fmt.Fprintf(&b, "  session      idle\n")
	}
	fmt.Fprintf(&b, "  entries      %d recorded\n", s.Entries)
	if a := s.Anchor; a != nil {
		fmt.Fprintf(&b, "  anchors      %d confirmed, %d pending, anchored through seq %d\n", a.Confirmed, a.Pending, a.ConfirmedThrough)
	}
	for sink, n := range s.Backlog {
		fmt.Fprintf(&b, "  backlog      %s: %d entries\n", sink, n)
	}
	for k, v := range s.Alarms {
		fmt.Fprintf(&b, "  ALARM        %s: %s\n", k, v)
	}
	return b.String()
}

// summary verifies the stored chain with the same code as `chargegate verify` and prints the
// demo's figures. Exit 0 only when the chain verified.
func (d *demo) summary(ctx context.Context, s web.Snapshot, runErr error, stderr io.Writer) int {
	var vout bytes.Buffer
	code := cmdVerify(ctx, []string{"--data", filepath.Join(d.dir, "gateway")}, &vout, &vout)
	verified := code == 0
	fmt.Fprintf(d.out, "\nchargegate demo summary\n")
	fmt.Fprintf(d.out, "  entries recorded   %d\n", s.Entries)
	if a := s.Anchor; a != nil {
		fmt.Fprintf(d.out, "  anchors confirmed  %d (through seq %d)\n", a.Confirmed, a.ConfirmedThrough)
	}
	fmt.Fprintf(d.out, "  energy metered     %.3f kWh\n", float64(s.Meter.ImportMWh)/1e6)
	if s.LastSession != nil {
		fmt.Fprintf(d.out, "  last session       %s, %.3f kWh, %s\n", s.LastSession.ID, float64(s.LastSession.EnergyMWh)/1e6, s.LastSession.Reason)
	}
	if d.receipt != "" {
		fmt.Fprintf(d.out, "  receipt            %s (chargegate receipt verify %s)\n", d.receipt, d.receipt)
	}
	fmt.Fprintf(d.out, "  chain verified     %s\n", map[bool]string{true: "yes", false: "NO"}[verified])
	if !verified {
		fmt.Fprint(stderr, vout.String())
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		fmt.Fprintln(stderr, "chargegate demo: gateway stopped with:", runErr)
		return 1
	}
	if !verified {
		return 1
	}
	return 0
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// keepPrevious moves a previous run's data directory to dir+".previous" (replacing an older
// one) and returns that path, or "" when there was none.
func keepPrevious(dir string) (string, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	prev := dir + ".previous"
	if err := os.RemoveAll(prev); err != nil {
		return "", fmt.Errorf("remove %s: %w", prev, err)
	}
	if err := os.Rename(dir, prev); err != nil {
		return "", fmt.Errorf("keep the previous run's data: %w", err)
	}
	return prev, nil
}

// openBrowser opens url in the desktop's browser when there is a desktop ($BROWSER, or
// xdg-open under X11/Wayland); elsewhere the printed address is all.
func openBrowser(url string) {
	name := os.Getenv("BROWSER")
	if name == "" && (os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != "") {
		name = "xdg-open"
	}
	if name == "" {
		return
	}
	if path, err := exec.LookPath(name); err == nil {
		cmd := exec.Command(path, url)
		if cmd.Start() == nil {
			go cmd.Wait()
		}
	}
}
