package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/access"
	"github.com/chargegate/chargegate/gateway/config"
	"github.com/chargegate/chargegate/gateway/mqtt"
	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/gateway/web"
	"github.com/chargegate/chargegate/hal"
	halperiph "github.com/chargegate/chargegate/hal/periph"
	halsim "github.com/chargegate/chargegate/hal/sim"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/checkpoint"
	"github.com/chargegate/chargegate/ledger/sqlite"
	"github.com/chargegate/chargegate/ledger/stardust"
	"github.com/chargegate/chargegate/meter"
	"github.com/chargegate/chargegate/meter/sim"
	"github.com/chargegate/chargegate/ota"
)

// App is the whole appliance composed from a Config: meter, board, store, publisher, operator
// link, local API and control loop. It is the only place that knows all the parts.
type App struct {
	cfg     config.Config
	version string
	log     *slog.Logger

	keys      *ledger.Keys
	store     *sqlite.Store
	meter     *meter.Meter
	board     *hal.Board
	simBoard  *halsim.Board
	load      *sim.LoadClient
	publisher *stardust.Publisher
	link      *mqtt.Link
	watchdog  *hal.Watchdog
	gw        *gateway.Controller
	api       *http.Server
	apiLn     net.Listener
	signer    gateway.SessionSigner
	verifier  *gateway.CommandVerifier // nil unless mqtt.command_keys is set
	updater   *ota.Agent               // nil unless update.enabled
	stop      context.CancelFunc

	sinks           []string      // the store sinks that must acknowledge an entry (ledger, mqtt)
	anchoredThrough atomic.Uint64 // last seen, so a snapshot after Close still says it
	snap            atomic.Pointer[web.Snapshot]
	storeStatus     *web.StoreStatus // what the store found at open
	checkpoints     *checkpoint.Log
	ocpp            *ocpp.ChargePoint // nil unless ocpp.url is set
	receipts        *receipts
	ocppQueue       *ocpp.Queue

	web       *webBox     // the web UI's answers
	webServer *web.Server // nil unless http.listen is set
	halCfg    hal.Config  // the board's pins as opened
	httpToken string      // the local API's operator token ("" for none)

	access     *access.Authorizer       // who may charge (gateway/access)
	refusals   *access.RefusalGate      // rate limit of the auth_refused events
	reader     hal.CardReader           // nil unless access.rfid.reader is set
	simReader  *halsim.Reader           // the simulated reader, fed from readerFIFO
	readerFIFO string                   // where the simulated reader takes its commands
	sessions   gateway.SessionCommander // the control loop, through OCPP when it is on

	// points are the charging points: one (numbered 0) on a box without evses:, else 1..N.
	// meter, board, simBoard, load and gw above are EVSE 1's.
	points []*point
	buses  map[string]*meter.Bus // meter links shared by several units (evses:)
	shared *hal.SharedPins       // the box's inputs, watched by every EVSE's board (evses:)
	site   *loadManager          // nil unless load management runs (site:, current_control)
	// vehicleLn serves the simulated vehicles (hal.sim.vehicle_listen), nil when off.
	vehicleLn net.Listener

	alarmMu  sync.Mutex
	alarms   map[string]string // the appliance's own alarms (chain_rolled_back), beside the control loop's
	operator *gateway.Operator
}

// openApp builds the appliance. Nothing runs until Run; Close releases what Open acquired when Run
// is never called.
func openApp(ctx context.Context, cfg config.Config, version string, logger *slog.Logger) (*App, error) {
	a := &App{cfg: cfg, version: version, log: logger, alarms: map[string]string{}}
	if err := os.MkdirAll(cfg.Device.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	keys, err := ledger.LoadOrCreateKeys(cfg.Device.DataDir)
	if err != nil {
		return nil, fmt.Errorf("device keys: %w", err)
	}
	a.keys = keys
	if cfg.Ledger.NodeURL != "" {
		a.sinks = append(a.sinks, ledger.SinkLedger)
	}
	if cfg.MQTT.Broker != "" {
		a.sinks = append(a.sinks, ledger.SinkMQTT)
	}
	a.store, err = sqlite.Open(ctx, cfg.Device.DataDir, sqlite.Options{
		Key: keys.Entry, Logger: logger.With("part", "store"), DiskBudget: cfg.Ledger.DiskBudgetMB << 20,
		Retention: cfg.Ledger.Retention, Sinks: a.sinks, DiskLimit: cfg.Ledger.DiskQuotaKB << 10,
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	r := a.store.Recovery()
	a.storeStatus = storeStatus(r)
	if r.Unclean || r.Quarantined != "" {
		a.log.Warn("the store recovered from the previous run", "unclean", r.Unclean, "rebooted", r.Rebooted,
			"skipped", holeText(r.Skipped), "quarantined", r.Quarantined, "salvaged", r.Salvaged, "lost", len(r.Lost))
	}
	if err := a.openCheckpoints(ctx); err != nil {
		return nil, err
	}
	if len(cfg.EVSEs) == 0 {
		a.meter, err = meter.New(meter.Config{
			URL: cfg.Meter.URL, Unit: cfg.Meter.Unit, Model: cfg.Meter.Model, Timeout: cfg.Meter.Timeout,
			Retries: cfg.Meter.Retries, MaxPowerW: float64(cfg.Meter.MaxPowerW), ResetConfirm: cfg.Meter.ResetConfirm,
			IdentityInterval: cfg.Meter.IdentityInterval, ReconnectMax: cfg.Meter.ReconnectMax,
			Logger: logger.With("part", "meter"),
		})
		if err != nil {
			return nil, fmt.Errorf("meter: %w", err)
		}
		if err := a.openBoard(); err != nil {
			return nil, err
		}
		a.points = []*point{{id: cfg.Device.EVSEID, meter: a.meter, board: a.board, halCfg: a.halCfg, sim: a.simBoard, load: a.load}}
	} else if err := a.openPoints(); err != nil {
		return nil, err
	} else if err := a.openControls(ctx); err != nil {
		return nil, err
	}
	// systemd passes NOTIFY_SOCKET and WATCHDOG_USEC to a Type=notify service.
	wdOpts, err := hal.EnvWatchdogOptions(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	wdOpts.Logger = logger.With("part", "watchdog")
	a.watchdog, err = hal.NewWatchdog(wdOpts)
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	if cfg.Ledger.NodeURL != "" {
		a.publisher, err = stardust.NewPublisher(a.store, keys.Entry, stardust.Config{
			NodeURL: cfg.Ledger.NodeURL, BatchSize: cfg.Ledger.BatchSize, BatchAge: cfg.Ledger.BatchAge,
			AuthTokenFile: cfg.Ledger.AuthTokenFile, ProofDir: filepath.Join(cfg.Device.DataDir, "proofs"),
			Logger: logger.With("part", "anchor"),
		})
		if err != nil {
			return nil, fmt.Errorf("anchor publisher: %w", err)
		}
	}
	if a.signer, err = gateway.NewOCMFSigner(a.store, keys, a.points[0].id, version); err != nil {
		return nil, fmt.Errorf("OCMF signer: %w", err)
	}
	a.signer = keepingSigner{a.signer, a.store, a.log}
	a.stop = func() {} // replaced by Run
	if cfg.Update.Enabled {
		if err := a.openUpdater(); err != nil {
			return nil, err
		}
	}
	if cfg.MQTT.Broker != "" {
		if a.link, err = a.openLink(); err != nil {
			return nil, err
		}
	}
	opts := gateway.Options{
		EVSEID:                 cfg.Device.EVSEID,
		PollInterval:           cfg.Meter.PollInterval,
		RecordIntervalCharging: cfg.Meter.RecordIntervalCharging,
		RecordIntervalIdle:     cfg.Meter.RecordIntervalIdle,
		Policy: gateway.SessionPolicy{
			Authorized: cfg.Sessions.Mode == "authorized", Autostart: cfg.Sessions.Autostart,
			MaxEnergyWh: cfg.Sessions.MaxEnergyWh, MaxDuration: cfg.Sessions.MaxDuration,
			MeterLossLimit: cfg.Sessions.MeterLossLimit,
		},
		TimeStatus: kernelTimeStatus,
		Logger:     logger.With("part", "control"),
		Signer:     a.signer,
		Progress:   a.watchdog,
		Step:       crashStep(),
	}
	if cfg.OCPP.URL != "" {
		if err := a.openOCPP(ctx); err != nil {
			return nil, err
		}
	}
	a.receipts = newReceipts(a)
	a.web = newWebBox(a)
	links := notifiers{a.receipts, a.web.records}
	if a.link != nil {
		links = append(links, linkNotifier{a.link})
	}
	if a.ocpp != nil {
		links = append(links, a.ocpp)
	}
	opts.Notifier = links
	if a.updater != nil {
		opts.Updating = a.updater.Activating
	}
	for i, p := range a.points {
		o := opts
		o.EVSE, o.EVSEID = p.n, p.id
		if p.n != 0 {
			o.Logger = logger.With("part", "control", "evse", p.n)
		}
		if i > 0 {
			// OCPP speaks for EVSE 1 (connector 1) only, for now.
			o.Notifier = notifiers{a.receipts, a.web.records}
			if a.link != nil {
				o.Notifier = append(o.Notifier.(notifiers), linkNotifier{a.link})
			}
			if o.Signer, err = gateway.NewOCMFSigner(a.store, keys, p.id, version); err != nil {
				return nil, fmt.Errorf("OCMF signer of EVSE %d: %w", p.n, err)
			}
		}
		if p.ctl != nil && p.ctl.pilot != nil {
			o.Pilot = p.ctl
		}
		if p.ctl != nil {
			n := p.n
			o.Allowed = func() (gateway.Allowance, bool) {
				if a.site == nil {
					return gateway.Allowance{}, false
				}
				return a.site.allowance(n)
			}
		}
		if p.gw, err = gateway.NewController(p.meter, p.board, a.store, o); err != nil {
			return nil, err
		}
	}
	a.gw = a.points[0].gw
	if err := a.openSite(); err != nil {
		return nil, err
	}
	if l := cfg.HAL.Sim.VehicleListen; l != "" && cfg.HAL.Backend == "sim" {
		if a.vehicleLn, err = net.Listen("tcp", l); err != nil {
			return nil, fmt.Errorf("hal.sim.vehicle_listen: %w", err)
		}
	}
	var sessions gateway.SessionCommander = a.gw
	if a.ocpp != nil {
		sessions = a.ocpp.Commander(a.gw) // sessions started on other links carry their token to the CSMS
	}
	a.sessions = sessions
	oo := gateway.OperatorOptions{
		Controller: sessions, EVSEs: a.controllers(sessions), Verifier: a.verifier, Replay: a.store,
		Config: func() any { return a.cfg.Redacted() }, Logger: logger.With("part", "operator"),
	}
	if a.updater != nil {
		oo.Updater = updaterAdapter{a.updater}
	}
	if a.access, err = a.openAccess(); err != nil {
		return nil, err
	}
	oo.Access = a.access
	oo.Refused = func(ctx context.Context, d access.Decision) { a.refused(ctx, "mqtt", d) }
	oo.Record = func(ctx context.Context, code, detail string) error { return a.gw.RecordEvent(ctx, code, detail) }
	if a.site != nil {
		oo.Load = a.site
	}
	a.shareLocalList()
	if err := a.openReader(); err != nil {
		return nil, err
	}
	if a.operator, err = gateway.NewOperator(oo); err != nil {
		return nil, err
	}
	if err := a.web.operate(oo); err != nil {
		return nil, err
	}
	if cfg.HTTP.Listen != "" {
		if err := a.openAPI(); err != nil {
			return nil, err
		}
	}
	ok = true
	return a, nil
}

func (a *App) openBoard() error {
	var pins hal.Pins
	halCfg := a.cfg.HAL.Config
	switch a.cfg.HAL.Backend {
	case "sim":
		a.simBoard = halsim.New(halsim.Options{})
		if halCfg.Relay.Name == "" {
			// The simulated board's pins, with the configured timing.
			def := halsim.DefaultConfig()
			def.FeedbackTimeout, def.Debounce = halCfg.FeedbackTimeout, halCfg.Debounce
			halCfg = def
		}
		if u := a.cfg.HAL.Sim.LoadControlURL; u != "" {
			a.load = sim.NewLoadClient(strings.TrimRight(u, "/"), a.cfg.HAL.Sim.LoadUnit, a.cfg.HAL.Sim.Lease, a.log.With("part", "simload"))
			a.simBoard.OnContacts(a.load.Contacts)
		}
		pins = a.simBoard
	default:
		p, err := halperiph.Open()
		if err != nil {
			return fmt.Errorf("open GPIO: %w", err)
		}
		pins = p
	}
	b, err := hal.Open(halCfg, pins, a.log.With("part", "hal"))
	if err != nil {
		return fmt.Errorf("open board: %w", err)
	}
	a.board, a.halCfg = b, halCfg
	return nil
}

func (a *App) openAPI() error {
	token := ""
	if f := a.cfg.HTTP.TokenFile; f != "" {
		b, err := readSecret(f)
		if err != nil {
			return fmt.Errorf("http.token_file: %w", err)
		}
		token = b
	}
	a.httpToken = token
	ln, err := net.Listen("tcp", a.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	a.apiLn = ln
	a.webServer = web.New(web.Options{
		Snapshot: a.Snapshot, Token: token, MaxConcurrent: a.cfg.HTTP.MaxConcurrent, Checkpoints: a.checkpoints.Handler(),
		Receipt: a.receipt, Box: a.web,
		Logger: a.log.With("part", "http"),
	})
	a.api = &http.Server{
		Handler:           a.webServer,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
	}
	return nil
}

// APIAddr returns the address the local API listens on, or "" when it is off.
func (a *App) APIAddr() string {
	if a.apiLn == nil {
		return ""
	}
	return a.apiLn.Addr().String()
}

// MeterPublicKey returns the signing key of a meter that signs its own records (DER SPKI).
func (a *App) MeterPublicKey(ctx context.Context) ([]byte, error) { return a.meter.PublicKey(ctx) }

// DeviceID returns the device's ID as used in topics and tags.
func (a *App) DeviceID() string { return ledger.DeviceID(a.keys.Entry.Public().(ed25519.PublicKey)) }

// Run runs every part until ctx is cancelled or one fails. A panic in any goroutine opens the
// relay before the process dies; every exit path leaves the relay open.
func (a *App) Run(ctx context.Context) error {
	defer a.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.stop = cancel
	g, gctx := errgroup.WithContext(ctx)
	guarded := func(name string, fn func(ctx context.Context) error) {
		g.Go(func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					a.haltBoards() // relays open first, then let the process die loudly
					a.log.Error("panic", "part", name, "panic", fmt.Sprint(r), "relay_closed", a.board.RelayClosed(),
						"stack", string(debug.Stack()))
					panic(r)
				}
			}()
			if err := fn(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	guarded("watchdog", a.watchdog.Run)
	// The control loops' end lets the link drain: they have ended their sessions and opened
	// the relays.
	controlDone := make(chan struct{})
	var controls sync.WaitGroup
	for _, p := range a.points {
		guarded("hal"+p.name(), p.board.Run)
		if p.load != nil {
			guarded("simload"+p.name(), p.load.Run)
		}
		controls.Add(1)
		guarded("control"+p.name(), func(ctx context.Context) error {
			defer controls.Done()
			// The relay may close only while hal watches the safety inputs.
			if err := p.board.WaitRunning(ctx); err != nil {
				return fmt.Errorf("wait for the board: %w", err)
			}
			return p.gw.Run(ctx)
		})
	}
	go func() { controls.Wait(); close(controlDone) }()
	for _, p := range a.points {
		if c := p.ctl; c != nil && c.pilot != nil {
			guarded("pilot"+p.name(), c.pilot.Run)
			guarded("pilot-events"+p.name(), func(ctx context.Context) error {
				for {
					select {
					case <-ctx.Done():
						return nil
					case <-c.pilot.Events():
						select {
						case c.changed <- struct{}{}:
						default: // coalesced: the control loop reads the state afresh
						}
					}
				}
			})
		}
	}
	if a.vehicleLn != nil {
		guarded("sim-vehicles", a.serveVehicles)
	}
	if a.site != nil {
		guarded("site", func(ctx context.Context) error {
			if err := a.site.loop.Run(ctx); ctx.Err() == nil {
				return err
			}
			return nil // the loop answers its context's end with its error, a deadline included
		})
		guarded("site-feed", a.site.feed)
	}
	if a.publisher != nil {
		guarded("anchor", a.publisher.Run)
	}
	if a.updater != nil {
		guarded("update", func(ctx context.Context) error {
			// An update failure is reported in its status; it never takes the charger down.
			if err := a.updater.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("update agent stopped", "err", err)
			}
			return nil
		})
		if a.link != nil {
			guarded("update-notify", a.notifyUpdates)
		}
	}
	if a.link != nil {
		guarded("mqtt", func(ctx context.Context) error {
			// The link outlives the control loop briefly, so the session's end entry and record
			// still go out on a clean stop; what does not is delivered after the restart.
			lctx, lcancel := context.WithCancel(context.WithoutCancel(ctx))
			defer lcancel()
			go func() {
				select {
				case <-controlDone:
					a.drainLink(3 * time.Second)
				case <-lctx.Done():
				}
				lcancel()
			}()
			return a.link.Run(lctx)
		})
		guarded("anchor-notify", a.notifyAnchors)
	}
	guarded("snapshot", a.refreshSnapshots)
	guarded("receipts", a.receipts.run)
	guarded("web-records", a.web.records.run)
	if a.reader != nil {
		guarded("rfid", a.readCards)
	}
	if a.simReader != nil {
		guarded("rfid-sim", a.serveSimReader)
	}
	if a.ocpp != nil {
		guarded("ocpp", a.runOCPP)
		guarded("ocpp-status", func(ctx context.Context) error { return a.ocpp.Follow(ctx, a.gw.Status, time.Second) })
	}
	guarded("checkpoint", a.checkpoints.Run)
	if a.publisher != nil {
		guarded("checkpoint-trigger", a.checkpointAtAnchors)
	}
	if a.link != nil {
		guarded("checkpoint-notify", a.notifyCheckpoints)
	}
	if a.api != nil {
		guarded("web-live", a.webServer.Run)
		guarded("http", func(ctx context.Context) error {
			go func() {
				<-ctx.Done()
				sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer scancel()
				a.api.Shutdown(sctx)
			}()
			if err := a.api.Serve(a.apiLn); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	for _, p := range faultParts() {
		guarded(p.name, p.run)
	}
	a.watchdog.Ready()
	a.log.Info("chargegate running", "version", a.version, "device", a.DeviceID(), "api", a.APIAddr())
	err := g.Wait()
	a.watchdog.Stopping()
	return err
}

// haltBoards drives every contactor open and makes the boards inert.
func (a *App) haltBoards() error {
	var errs []error
	for _, p := range a.points {
		if p.board != nil {
			errs = append(errs, p.board.Halt())
		}
	}
	if len(a.points) == 0 && a.board != nil {
		errs = append(errs, a.board.Halt())
	}
	return errors.Join(errs...)
}

// part is a named goroutine of the appliance.
type part struct {
	name string
	run  func(ctx context.Context) error
}

// Close releases everything; safe to call more than once.
func (a *App) Close() error {
	var errs []error
	errs = append(errs, a.haltBoards())
	if a.shared != nil {
		errs = append(errs, a.shared.Close())
	}
	if a.reader != nil {
		errs = append(errs, a.reader.Halt())
	}
	for _, p := range a.points {
		if p.meter != nil {
			errs = append(errs, p.meter.Close())
		}
		if c := p.ctl; c != nil {
			if c.pilot != nil {
				errs = append(errs, c.pilot.Halt())
			}
			if c.adc != nil {
				errs = append(errs, c.adc.Close())
			}
			if c.heid != nil {
				errs = append(errs, c.heid.Close())
			}
		}
	}
	if len(a.points) == 0 && a.meter != nil {
		errs = append(errs, a.meter.Close())
	}
	for _, b := range a.buses {
		errs = append(errs, b.Close())
	}
	if a.apiLn != nil {
		a.apiLn.Close()
	}
	if a.vehicleLn != nil {
		a.vehicleLn.Close()
	}
	if a.checkpoints != nil {
		errs = append(errs, a.checkpoints.Close())
	}
	if a.ocppQueue != nil {
		errs = append(errs, a.ocppQueue.Close())
		a.ocppQueue = nil
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
		a.store = nil
	}
	return errors.Join(errs...)
}

// Snapshot returns the control loop's live status with the latest gathered state of the other
// parts; cheap (two copies), for every API request.
func (a *App) Snapshot() web.Snapshot {
	s := web.Snapshot{Version: a.version, Device: a.DeviceID(), EVSEID: a.cfg.Device.EVSEID}
	if p := a.snap.Load(); p != nil {
		s = *p
	}
	s.Status = a.gw.Status()
	s.EVSEs = a.evseStatuses()
	if s.Alarms == nil {
		s.Alarms = map[string]string{}
	}
	a.alarmMu.Lock()
	for k, v := range a.alarms {
		s.Alarms[k] = v
	}
	a.alarmMu.Unlock()
	return s
}

// refreshSnapshots renews the snapshot twice a second, so that requests never query the store.
func (a *App) refreshSnapshots(ctx context.Context) error {
	a.refreshSnapshot(ctx)
	return every(ctx, 500*time.Millisecond, func() { a.refreshSnapshot(ctx) })
}

// refreshSnapshot gathers the status of every part, keeps it for Snapshot and returns it.
func (a *App) refreshSnapshot(ctx context.Context) web.Snapshot {
	s := web.Snapshot{Status: a.gw.Status(), Version: a.version, Store: a.storeStatus, Device: a.DeviceID(), EVSEID: a.cfg.Device.EVSEID,
		Backlog: map[string]int64{}, Board: a.boardStatus()}
	if a.store != nil {
		for _, sink := range a.sinks {
			if n, err := a.store.Backlog(ctx, sink); err == nil {
				s.Backlog[sink] = n
			}
		}
	}
	if a.publisher != nil {
		if n, ok := s.Backlog[ledger.SinkLedger]; ok && uint64(n) <= s.Entries {
			a.anchoredThrough.Store(s.Entries - uint64(n))
		}
		s.Anchor = anchorStatus(a.publisher.Status(), a.anchoredThrough.Load())
		if r := a.receipts; r != nil {
			s.Anchor.ReceiptsWaiting, s.Anchor.ReceiptsDropped = r.pending.waiting.Load(), r.pending.dropped.Load()
		}
	}
	if a.updater != nil {
		s.Update = a.updater.Status()
	}
	if a.link != nil {
		n, through := a.link.Delivered()
		s.MQTT = &web.LinkStatus{Online: a.link.Online(), Delivered: n, Through: through}
	}
	a.snap.Store(&s)
	return s
}

func readSecret(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is readable by group or others (mode %v): chmod 600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// storeStatus shows what the store found at open, for the status API.
func storeStatus(r sqlite.Recovery) *web.StoreStatus {
	s := &web.StoreStatus{Unclean: r.Unclean, Rebooted: r.Rebooted, Skipped: holeText(r.Skipped), Quarantined: r.Quarantined, Salvaged: r.Salvaged}
	for _, h := range r.Lost {
		s.Lost = append(s.Lost, holeText(h))
	}
	return s
}

// holeText writes a hole as "FROM-TO", or "" for none.
func holeText(h ledger.Hole) string {
	if h.To == 0 {
		return ""
	}
	return fmt.Sprintf("%d-%d", h.From, h.To)
}
