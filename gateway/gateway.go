package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/meter"
)

// Meter is what the gateway needs of the energy meter. Read returns a typed error from package
// meter when the poll failed (meter.ErrTimeout, *meter.ExceptionError, *meter.ReplacementError, ...).
type Meter interface {
	Read(ctx context.Context) (meter.Reading, error)
}

// Seeder is a meter whose plausibility baseline can be set from outside. The control loop seeds
// it at start with the registers the chain recorded last, so a counter that went backwards, or
// a meter swapped, while the gateway was down is caught on the first poll (meter.Meter).
type Seeder interface {
	Seed(b meter.Baseline) error
}

// SigningMeter is a meter that signs its own session records (OCMF over Modbus, e.g. Iskra
// WM3M4C). The gateway then passes the meter's record through unchanged, wrapped by digest in the
// session's end entry, and signs an OCMF record itself only for meters that do not sign.
type SigningMeter interface {
	Signs() bool
	BeginTransaction(ctx context.Context, id string) error
	EndTransaction(ctx context.Context) ([]byte, error)
}

// Board is what the gateway needs of the hardware. CloseRelay fails with hal.ErrLatched while a
// fault is latched and with a feedback fault when the contactor does not follow; OpenRelay always
// drives the coil off and reports a welded contactor.
type Board interface {
	CloseRelay(ctx context.Context) error
	OpenRelay(ctx context.Context) error
	RelayClosed() bool
	Fault() error
	ClearFault() error
	Events() <-chan hal.Event
	SetLED(p hal.LEDPattern)
	Halt() error
}

// Store is what the gateway needs of the durable ledger store. Append returns only after the
// entries committed; AppendState commits entries and one state key (nil value: delete it) in one
// transaction; Admit refuses new sessions when the disk budget is exhausted. Entries that close
// something (session end, gap, event) must commit from a reserve when ordinary ones are refused.
type Store interface {
	Append(ctx context.Context, recs ...ledger.Record) ([]ledger.Entry, error)
	AppendState(ctx context.Context, recs []ledger.Record, key string, value []byte) ([]ledger.Entry, error)
	Admit() error
	PutState(ctx context.Context, key string, value []byte) error
	GetState(ctx context.Context, key string) ([]byte, error)
	Entry(ctx context.Context, seq uint64) (ledger.Entry, error)
	Head() (seq uint64, hash [32]byte)
}

// SessionSigner turns a finished session into a signed OCMF record (the exact bytes to publish).
type SessionSigner interface {
	SignSession(ctx context.Context, s SessionRecord) (string, error)
}

// Notifier receives what the control loop has to say to the operator. Its methods must not
// block: the control loop never waits for the broker.
type Notifier interface {
	Telemetry(t Telemetry)
	Session(s SessionRecord)
}

// Progress is fed by the control loop each time it completes an iteration; the watchdog is fed
// only while it is (hal.Watchdog).
type Progress interface{ Progress() }

// SessionPolicy says how sessions start and end.
type SessionPolicy struct {
	// Authorized requires an id token to start a session (OCPP IdToken rules, see ValidIDToken).
	Authorized bool
	// Autostart starts a session whenever the point is idle and free to start (demos, free mode).
	Autostart bool
	// MaxEnergyWh and MaxDuration end a session when reached; 0 means no limit.
	MaxEnergyWh int64
	MaxDuration time.Duration
	// MeterLossLimit is how long the meter may be unreadable before a session ends (default 10 s).
	MeterLossLimit time.Duration
}

// Options are the plain values and collaborators the control loop needs.
type Options struct {
	EVSEID string
	// EVSE numbers this control loop's charging point on a box with several (1..255): every entry
	// it writes names it, and its session is persisted under its own key. 0 on a box with one
	// EVSE, whose entries name none (ledger.FormatVersion).
	EVSE                   uint8
	PollInterval           time.Duration
	RecordIntervalCharging time.Duration
	RecordIntervalIdle     time.Duration
	Policy                 SessionPolicy
	Logger                 *slog.Logger
	Now                    func() time.Time
	// TimeStatus says how far the wall clock can be trusted (OCMF U/I/S/R); default: the kernel's
	// NTP synchronisation flag.
	TimeStatus func() ledger.TimeStatus
	// Updating reports whether an update is being activated; no session starts meanwhile.
	Updating func() bool
	Notifier Notifier
	Signer   SessionSigner
	Progress Progress
	// Pilot, when set, is the charging point's control pilot: the contactor then follows the
	// vehicle (see Pilot). Nil: the contactor follows the session alone.
	Pilot Pilot
	// Allowed, when set, tells the current the charging point may draw now (gateway/site),
	// shown in the status and telemetry; ok false while none is known.
	Allowed func() (a Allowance, ok bool)
	// Step, when set, is called at each step of a session's end sequence (StepEnd*). The
	// fault-injection build kills the process there to prove each step crash-safe.
	Step func(step string)
}

// Steps of the session end sequence, in order, as passed to Options.Step.
const (
	StepEndRelayOpen = "end:relay_open" // the relay was driven open
	StepEndSigned    = "end:signed"     // the OCMF record was signed, nothing committed yet
	StepEndCommitted = "end:committed"  // the end entry and the state clear committed
	StepEndPublished = "end:published"  // the session record was handed to the notifier
)

// Controller is the control loop: it polls the meter, records entries, runs the charging-session
// state machine and reacts to the hardware. One goroutine (Run) owns all of its state; commands
// from the operator reach it through Do.
type Controller struct {
	meter Meter
	board Board
	store Store
	opt   Options
	log   *slog.Logger
	// by names who sent the command being handled (Command.Source), "" outside one; the
	// entries it causes record it as by=….
	by string

	cmds chan request

	// Owned by the Run goroutine. lastGoodPoll and lastRecord are monotonic readings of the real
	// clock: scheduling must not depend on the wall clock, which may step by days (NTP after a
	// boot in 1970, a manual fix); only the stamps on entries come from Options.Now.
	session      *Session
	held         bool // an update holds the point: no session starts until released
	lastPoll     meter.Reading
	lastGoodPoll time.Time
	lastRecord   time.Time
	meterSerial  string
	alarms       map[string]string
	pollErrors   int64
	lastSession  *SessionRecord
	badSince     time.Time        // monotonic; first of the polls that have failed since the last good one
	refusing     bool             // the store refused an entry; a gap was declared for it
	lastReading  time.Time        // the time of the last recorded reading (with its monotonic clock)
	cp           hal.ControlState // the pilot's last state (Options.Pilot)

	mu     sync.Mutex // guards status
	status Status
}

// NewController returns a control loop over the given parts. Nothing runs until Run.
func NewController(m Meter, b Board, s Store, opt Options) (*Controller, error) {
	if m == nil || b == nil || s == nil {
		return nil, errors.New("gateway: meter, board and store are required")
	}
	if opt.PollInterval <= 0 || opt.RecordIntervalCharging <= 0 || opt.RecordIntervalIdle <= 0 {
		return nil, errors.New("gateway: poll and record intervals must be positive")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.TimeStatus == nil {
		opt.TimeStatus = func() ledger.TimeStatus { return ledger.TimeUnsynchronised }
	}
	if opt.Step == nil {
		opt.Step = func(string) {}
	}
	if opt.Updating == nil {
		opt.Updating = func() bool { return false }
	}
	if opt.Policy.MeterLossLimit <= 0 {
		opt.Policy.MeterLossLimit = 10 * time.Second
	}
	return &Controller{
		meter: m, board: b, store: s, opt: opt, log: opt.Logger,
		cmds:   make(chan request),
		alarms: map[string]string{},
	}, nil
}

// Run is the control loop. It first closes a session left dangling by a power failure, then polls
// until ctx is cancelled; on the way out it ends a running session and leaves the relay open.
func (g *Controller) Run(ctx context.Context) error {
	defer g.board.Halt()
	g.seedMeter(ctx)
	if err := g.recoverSession(ctx); err != nil {
		return fmt.Errorf("recover session: %w", err)
	}
	if _, err := g.record(ctx, ledger.Record{Kind: ledger.KindEvent, Event: ledger.EventStarted}); err != nil {
		return fmt.Errorf("record start: %w", err)
	}
	g.onPilot(ctx)
	g.poll(ctx)
	ticker := time.NewTicker(g.opt.PollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			g.shutdown()
			return nil
		case <-ticker.C:
			g.poll(ctx)
		case req := <-g.cmds:
			res, err := req.fn(ctx)
			g.publishStatus() // the answer and the status agree
			req.reply <- reply{res, err}
		case ev, ok := <-g.board.Events():
			if ok {
				g.onBoardEvent(ctx, ev)
			}
		case <-g.pilotChanged():
			g.onPilot(ctx)
		}
		g.publishStatus()
		if g.opt.Progress != nil {
			g.opt.Progress.Progress()
		}
	}
}

// seedMeter hands the meter the last registers the chain recorded (see Seeder). The time of that
// entry bounds the rise only when both it and the clock now are synchronised; otherwise only a
// fall is caught.
func (g *Controller) seedMeter(ctx context.Context) {
	sm, ok := g.meter.(Seeder)
	if !ok {
		return
	}
	head, _ := g.store.Head()
	for seq := head; seq > 0 && head-seq < maxSeedScan; seq-- {
		e, err := g.store.Entry(ctx, seq)
		if err != nil || e.MeterSerial == "" || e.EVSE != g.opt.EVSE {
			continue // another EVSE's meter on a box with several
		}
		switch e.Kind {
		case ledger.KindReading, ledger.KindSessionBegin, ledger.KindSessionEnd:
		default:
			continue
		}
		b := meter.Baseline{Serial: e.MeterSerial, ImportMWh: e.ImportMWh, ExportMWh: e.ExportMWh}
		if e.TimeStatus == ledger.TimeSynchronised && g.opt.TimeStatus() == ledger.TimeSynchronised {
			b.At = e.Time
		}
		if err := sm.Seed(b); err != nil {
			g.log.Warn("seed the meter's baseline from the chain", "seq", seq, "err", err)
			return
		}
		g.meterSerial = e.MeterSerial
		g.log.Info("meter baseline seeded from the chain", "seq", seq, "serial", e.MeterSerial, "import_mwh", e.ImportMWh)
		return
	}
}

// maxSeedScan bounds how far back seedMeter looks for recorded registers.
const maxSeedScan = 1000

// shutdown ends a running session with its own deadline, since the run context is already gone.
func (g *Controller) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if g.session != nil {
		g.stopSession(ctx, ledger.EndShutdown)
	}
	if err := g.openRelay(ctx); err != nil {
		g.log.Error("open relay at shutdown", "err", err)
	}
	g.publishStatus()
}

// poll reads the meter once, publishes telemetry and records an entry when one is due.
func (g *Controller) poll(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 5*g.opt.PollInterval)
	r, err := g.meter.Read(rctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	interval := g.opt.RecordIntervalIdle
	if g.session != nil {
		interval = g.opt.RecordIntervalCharging
	}
	// A reading is due half a poll before its interval ends and late half a poll after it, so
	// on-time readings are never more than interval + poll/2 apart; later ones are declared.
	sinceRecord := time.Since(g.lastRecord)
	due := g.lastRecord.IsZero() || sinceRecord >= interval-g.opt.PollInterval/2
	if g.unclosed() {
		g.retryClose(ctx)
	}
	if err != nil {
		g.pollErrors++
		g.onPollError(ctx, err, due)
		return
	}
	delete(g.alarms, AlarmMeterLost)
	delete(g.alarms, AlarmMeterImplausible)
	g.lastPoll, g.lastGoodPoll, g.badSince = r, time.Now(), time.Time{}
	if g.meterSerial != "" && r.Serial != "" && r.Serial != g.meterSerial {
		// The driver reports a replacement as an error; a serial change it cannot see (its
		// baseline starts afresh after a reconnect) is caught here and handled the same way.
		g.meterReplaced(ctx, g.meterSerial, r.Serial, r.ImportMWh, r.ExportMWh)
	}
	g.meterSerial = r.Serial
	if g.opt.Notifier != nil {
		g.opt.Notifier.Telemetry(g.telemetry(r))
	}
	if due {
		// Lateness is measured between the readings' own times, which is what a verifier sees.
		if late, apart := interval+g.opt.PollInterval/2, r.Time.Sub(g.lastReading); !g.lastReading.IsZero() && apart > late {
			// The loop fell behind (CPU starved, a slow disk): the hole is declared, never silent.
			g.record(ctx, ledger.Record{Kind: ledger.KindGap, Event: ledger.EventPollLate, MeterSerial: r.Serial,
				ImportMWh: g.lastPoll.ImportMWh, ExportMWh: g.lastPoll.ExportMWh,
				Detail: fmt.Sprintf("reading %v after the previous one, interval %v", apart.Round(time.Millisecond), interval)})
		}
		g.recordReading(ctx, ledger.KindReading, r, "", "")
	}
	if g.session != nil {
		g.session.LastImportMWh, g.session.LastExportMWh = r.ImportMWh, r.ExportMWh
		if reason := g.limitReached(r); reason != "" {
			g.stopSession(ctx, reason)
		}
	} else if g.opt.Policy.Autostart && g.board.Fault() == nil && g.latched() == "" && !g.unclosed() && g.vehicleMissing() == nil {
		if _, err := g.startSession(ctx, "", nil); err != nil {
			g.log.Debug("autostart refused", "err", err)
		}
	}
}

func (g *Controller) onPollError(ctx context.Context, err error, due bool) {
	var repl *meter.ReplacementError
	var reset *meter.CounterResetError
	if errors.As(err, &reset) {
		// A reset or rolled-over counter: billing cannot continue across it. The meter driver has
		// adopted the new values as its baseline; the next poll records them.
		g.log.Warn("meter counters reset", "err", err)
		g.record(ctx, ledger.Record{Kind: ledger.KindEvent, Event: ledger.EventMeterReset, MeterSerial: g.meterSerial,
			ImportMWh: reset.NewImportMWh, ExportMWh: reset.NewExportMWh, Detail: truncate(err.Error(), 200)})
		// Latched: no session starts on the new counters until someone has looked (clear_fault).
		g.alarms[AlarmCounterReset] = err.Error()
		if g.session != nil {
			g.stopSession(ctx, ledger.EndMeterReset)
		}
		return
	}
	if errors.As(err, &repl) {
		g.meterReplaced(ctx, repl.OldSerial, repl.NewSerial, 0, 0)
		g.meterSerial = repl.NewSerial
		return
	}
	g.log.Warn("meter poll failed", "err", err)
	implausible := errors.Is(err, meter.ErrImplausible)
	first := g.badSince.IsZero()
	if first {
		g.badSince = time.Now()
	}
	code := ledger.EventPollMissed
	if implausible {
		// A value the meter cannot have measured is never billed: the poll is a declared gap and
		// the session keeps the last plausible registers.
		code = ledger.EventMeterImplausible
		g.alarms[AlarmMeterImplausible] = err.Error()
	}
	if due || (implausible && first) {
		// A missed or implausible poll is a signed gap, never a silent hole.
		r := g.lastPoll
		g.record(ctx, ledger.Record{Kind: ledger.KindGap, Event: code, MeterSerial: g.meterSerial,
			ImportMWh: r.ImportMWh, ExportMWh: r.ExportMWh, Detail: truncate(err.Error(), 200)})
	}
	lost := g.lastGoodPoll.IsZero() || time.Since(g.badSince) > g.opt.Policy.MeterLossLimit ||
		time.Since(g.lastGoodPoll) > g.opt.Policy.MeterLossLimit
	if lost {
		g.alarms[AlarmMeterLost] = err.Error()
		if g.session != nil {
			g.stopSession(ctx, ledger.EndMeterLost)
		}
	}
}

func (g *Controller) onBoardEvent(ctx context.Context, ev hal.Event) {
	g.log.Info("hardware event", "event", ev.String())
	switch {
	case ev.Kind == hal.EventEStop && ev.Active:
		g.alarms[AlarmEStop] = ev.String()
		g.event(ctx, ledger.EventEmergencyStop, "")
		g.stopSession(ctx, ledger.EndEmergencyStop)
	case ev.Kind == hal.EventRCDTrip && ev.Active:
		g.alarms[AlarmRCD] = ev.String()
		g.event(ctx, ledger.EventRCDTrip, "")
		g.stopSession(ctx, ledger.EndRCDTrip)
	case ev.Kind == hal.EventWelded || ev.Kind == hal.EventFailedToClose:
		g.alarms[AlarmRelay] = ev.String()
		g.event(ctx, ledger.EventRelayFault, ev.String())
		g.stopSession(ctx, ledger.EndRelayFault)
	case ev.Kind == hal.EventRelay && !ev.Active && g.opt.Pilot != nil && g.board.Fault() == nil:
		// The pilot opened the contactor (the vehicle stopped requesting, a pause to 0 A): the
		// session goes on, and the contactor closes again when the pilot allows it.
	case ev.Kind == hal.EventRelay && !ev.Active && !g.board.RelayClosed() && g.session != nil && g.session.State == "charging":
		// The current state, not the queued edge, decides: the previous session's opening may
		// arrive after the next session closed the relay again.
		// hal opened the relay by itself, acting on a fault before telling us which: the session
		// cannot go on, and its reason is the latched fault.
		reason := faultReason(g.board.Fault())
		if reason == ledger.EndRelayFault && ctx.Err() != nil {
			// hal's Run returned because the appliance is stopping, and opened the relay on its
			// way out: this loop saw that before its own ctx.Done. A clean stop, not a fault.
			reason = ledger.EndShutdown
		}
		g.stopSession(ctx, reason)
	case ev.Kind == hal.EventLid:
		g.event(ctx, ledger.EventTamper, ev.String())
	case ev.Kind == hal.EventFaultCleared:
		delete(g.alarms, AlarmEStop)
		delete(g.alarms, AlarmRCD)
		delete(g.alarms, AlarmRelay)
	}
	g.updateLED()
}

// faultReason names the session end reason for a fault the board acted on by itself.
func faultReason(err error) string {
	switch {
	case errors.Is(err, hal.ErrEStop):
		return ledger.EndEmergencyStop
	case errors.Is(err, hal.ErrRCDTrip):
		return ledger.EndRCDTrip
	}
	return ledger.EndRelayFault
}

func (g *Controller) updateLED() {
	switch {
	case g.board.Fault() != nil || len(g.alarms) > 0:
		g.board.SetLED(hal.LEDFault)
	case g.opt.Updating():
		g.board.SetLED(hal.LEDUpdating)
	case g.session != nil:
		g.board.SetLED(hal.LEDCharging)
	default:
		g.board.SetLED(hal.LEDIdle)
	}
}

// record appends one entry; a refusal by the store raises an alarm but never stops the loop.
func (g *Controller) record(ctx context.Context, rec ledger.Record) (ledger.Entry, error) {
	if rec.Time.IsZero() {
		rec.Time = g.opt.Now()
	}
	if rec.TimeStatus == 0 {
		rec.TimeStatus = g.opt.TimeStatus()
	}
	if g.session != nil && rec.SessionID == "" {
		rec.SessionID = g.session.ID
	}
	rec.EVSE = g.opt.EVSE
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	es, err := g.store.Append(actx, rec)
	if err != nil {
		g.alarms[AlarmStore] = err.Error()
		g.log.Error("record entry", "kind", rec.Kind.String(), "err", err)
		if ordinary(rec.Kind) {
			g.lastRecord = time.Now() // the gap declares the hole; retry at the next interval
		}
		g.storeRefused(ctx, rec, err)
		return ledger.Entry{}, err
	}
	delete(g.alarms, AlarmStore)
	if ordinary(rec.Kind) {
		g.lastRecord, g.lastReading, g.refusing = time.Now(), rec.Time, false
	}
	return es[0], nil
}

// storeRefused reacts to an entry the store could not commit (a full disk, an I/O error): the
// time it leaves unrecorded is declared by a gap entry, and a running session ends at once,
// relay open, with its end entry, since energy that cannot be recorded must not flow. Gap and
// end entries commit from the store's reserve.
func (g *Controller) storeRefused(ctx context.Context, rec ledger.Record, err error) {
	if g.refusing || rec.Kind == ledger.KindGap || rec.Kind == ledger.KindSessionEnd {
		return
	}
	g.refusing = true
	r := g.lastPoll
	gap := ledger.Record{Time: g.opt.Now(), TimeStatus: g.opt.TimeStatus(), Kind: ledger.KindGap, Event: ledger.EventStoreRefused,
		MeterSerial: g.meterSerial, ImportMWh: r.ImportMWh, ExportMWh: r.ExportMWh,
		Detail: truncate("a "+rec.Kind.String()+" entry was refused: "+err.Error(), 200), EVSE: g.opt.EVSE}
	if g.session != nil {
		gap.SessionID = g.session.ID
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, gerr := g.store.Append(actx, gap); gerr != nil {
		g.log.Error("declare the refused entry as a gap", "err", gerr)
	}
	if g.session != nil && (g.session.State == "charging" || g.session.State == "paused") {
		g.stopSession(ctx, ledger.EndDiskFull)
	}
}

// ordinary reports whether entries of kind k are readings, which the store refuses first when
// its disk is full (closing kinds commit from its reserve).
func ordinary(k ledger.Kind) bool { return k == ledger.KindReading || k == ledger.KindSessionBegin }

// latched names an alarm that blocks new sessions until clear_fault, or "".
func (g *Controller) latched() string {
	for _, a := range []string{AlarmCounterReset, AlarmMeterReplaced} {
		if g.alarms[a] != "" {
			return a
		}
	}
	return ""
}

// meterReplaced records a meter replacement, raises its alarm and ends a running session:
// billing cannot continue across two meters.
func (g *Controller) meterReplaced(ctx context.Context, oldSerial, newSerial string, importMWh, exportMWh int64) {
	detail := fmt.Sprintf("serial %s replaced by %s", oldSerial, newSerial)
	g.log.Warn("meter replaced", "old", oldSerial, "new", newSerial)
	g.record(ctx, ledger.Record{Kind: ledger.KindEvent, Event: ledger.EventMeterReplaced, MeterSerial: newSerial,
		Detail: detail, ImportMWh: importMWh, ExportMWh: exportMWh})
	g.alarms[AlarmMeterReplaced] = detail
	if g.session != nil {
		g.stopSession(ctx, ledger.EndMeterReplaced)
	}
}

// event records a signed event with the last known meter registers, so that every entry that
// names the meter also says where its counters stood.
func (g *Controller) event(ctx context.Context, code, detail string) {
	r := g.lastPoll
	g.record(ctx, ledger.Record{Kind: ledger.KindEvent, Event: code, Detail: detail, MeterSerial: g.meterSerial,
		ImportMWh: r.ImportMWh, ExportMWh: r.ExportMWh})
}

func (g *Controller) recordReading(ctx context.Context, kind ledger.Kind, r meter.Reading, event, detail string) (ledger.Entry, error) {
	return g.record(ctx, ledger.Record{
		Time: r.Time, Kind: kind, MeterSerial: r.Serial, ImportMWh: r.ImportMWh, ExportMWh: r.ExportMWh,
		Event: event, Detail: detail,
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// RecordEvent writes a signed event entry (a ledger Event* code) from outside the control loop,
// for the parts that decide things the chain must show, such as a refused authorization
// (gateway/access). It fails when the loop is gone or the store refused the entry.
func (g *Controller) RecordEvent(ctx context.Context, code, detail string) error {
	_, err := g.inLoop(ctx, func(ctx context.Context) (Result, error) {
		r := g.lastPoll
		_, err := g.record(ctx, ledger.Record{Kind: ledger.KindEvent, Event: code, Detail: truncate(detail, 1024),
			MeterSerial: g.meterSerial, ImportMWh: r.ImportMWh, ExportMWh: r.ExportMWh})
		return nil, err
	})
	return err
}

// StopIf ends the running session as stopped at the charger (ledger.EndLocal) when may, given how
// the session was authorized (its token hash and group), allows it: a driver's second tap. It
// fails with ErrNoSession when none runs and ErrUnauthorized when may refuses.
func (g *Controller) StopIf(ctx context.Context, may func(tokenHash, group string) bool) (Result, error) {
	return g.inLoop(ctx, func(ctx context.Context) (Result, error) {
		s := g.session
		if s == nil || s.State == "closing" {
			return nil, ErrNoSession
		}
		if !may(s.TokenHash, s.Group) {
			return nil, fmt.Errorf("%w: not the token or group that started session %s", ErrUnauthorized, s.ID)
		}
		g.stopSession(ctx, ledger.EndLocal)
		res := Result{"session_id": s.ID}
		if g.lastSession != nil && g.lastSession.ID == s.ID {
			res["energy_mwh"], res["end_seq"] = g.lastSession.EnergyMWh, g.lastSession.EndSeq
		}
		return res, nil
	})
}
