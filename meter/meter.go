package meter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Meter is a long-lived handle on one meter. Like database/sql's DB it owns its
// connection: New connects on first use, a transport error drops the link and the next Read
// connects again (after a failed connect, with exponential backoff and jitter up to
// Config.ReconnectMax), and the plausibility baseline survives every reconnect. Its methods
// are safe for concurrent use; polls are serialised.
type Meter struct {
	cfg    Config
	bus    *Bus
	ownBus bool
	unit   uint8
	log    *slog.Logger
	lim    limits
	// powerCap tightens lim.maxPowerW at runtime (CapPower), float64 bits; 0: none.
	powerCap atomic.Uint64

	mu     sync.Mutex
	model  *Model       // nil until resolved ("auto", "sunspec")
	meas   []Block      // the model's measurement requests
	ident  []Block      // the model's identity requests
	signer *iskraSigner // non-nil for models that sign (wm3m4)
	plaus  plausibility

	// Identity (serial, firmware) as last read, when, and on which connection.
	serial, firmware string
	idAt             time.Time
	idGen            uint64
	needID           bool

	// Reconnect backoff: no connection attempt before nextTry.
	retry   *backoff.ExponentialBackOff
	nextTry time.Time
}

// New validates cfg (errors name the field) and returns a Meter that connects on first use
// (Read, Resolve, the signing methods). It does no I/O: a meter that is unreachable at boot
// yields failed polls, not a failed start.
func New(cfg Config) (*Meter, error) {
	cfg, fixed, err := cfg.withDefaults(true)
	if err != nil {
		return nil, err
	}
	baud := 0
	if fixed != nil {
		baud = fixed.DefaultBaud
	}
	bus, err := newBus(cfg.URL, baud, cfg.Timeout, cfg.Retries, cfg.Logger)
	if err != nil {
		return nil, err
	}
	m := newMeter(bus, cfg, fixed)
	m.ownBus = true
	return m, nil
}

// Open is New followed by connecting: it connects and resolves Model "auto" by probing the
// identity registers (see Detect), failing when the meter cannot be reached. The Meter
// reconnects by itself afterwards, like one from New.
func Open(ctx context.Context, cfg Config) (*Meter, error) {
	m, err := New(cfg)
	if err != nil {
		return nil, err
	}
	err = m.Resolve(ctx)
	if err == nil {
		if err = m.bus.dial(ctx); err != nil {
			err = fmt.Errorf("open meter unit %d: %w", m.unit, err)
		}
	}
	if err != nil {
		_ = m.Close()
		return nil, err
	}
	return m, nil
}

// NewOnBus is New for a meter on a shared bus (NewBus or OpenBus): several unit IDs on one
// RS-485 line or behind one Modbus TCP gateway. cfg.URL, Timeout and Retries are ignored: the
// bus has them. Like New it does no I/O; closing the Meter leaves the bus open.
func NewOnBus(bus *Bus, cfg Config) (*Meter, error) {
	cfg, fixed, err := cfg.withDefaults(false)
	if err != nil {
		return nil, err
	}
	return newMeter(bus, cfg, fixed), nil
}

// OpenOnBus opens a meter on a shared bus (several unit IDs on one RS-485 line). cfg.URL,
// Timeout and Retries are ignored: the bus has them. Closing the Meter leaves the bus open.
// Like Open it resolves the model now.
func OpenOnBus(ctx context.Context, bus *Bus, cfg Config) (*Meter, error) {
	cfg, fixed, err := cfg.withDefaults(false)
	if err != nil {
		return nil, err
	}
	m := newMeter(bus, cfg, fixed)
	if err := m.Resolve(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

func newMeter(bus *Bus, cfg Config, fixed *Model) *Meter {
	m := &Meter{cfg: cfg, bus: bus, unit: cfg.Unit, log: cfg.Logger.With("unit", cfg.Unit), needID: true,
		retry: &backoff.ExponentialBackOff{InitialInterval: time.Second, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: cfg.ReconnectMax}}
	m.retry.Reset()
	if fixed != nil && fixed.Name != "sdm72" {
		m.setModel(fixed) // sdm72 comes in two layouts: resolved on the device
	}
	return m
}

func (m *Meter) setModel(mod *Model) {
	m.model = mod
	m.meas, m.ident = measurementBlocks(mod), identityBlocks(mod)
	if mod.Name == "wm3m4" {
		m.signer = &iskraSigner{m: m}
	}
	m.lim = limits{maxPowerW: m.cfg.MaxPowerW, resetConfirm: m.cfg.ResetConfirm}
	if m.lim.maxPowerW == 0 {
		m.lim.maxPowerW = mod.RatedPowerW
	}
	if m.lim.maxPowerW == 0 {
		m.lim.maxPowerW = DefaultMaxPowerW
	}
}

// Resolve connects if needed and resolves the model ("auto" probes the identity registers,
// see Detect; "sunspec" walks the device's model chain). It is done once; Read calls it.
func (m *Meter) Resolve(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.resolve(ctx)
}

func (m *Meter) resolve(ctx context.Context) error {
	if m.model != nil {
		return nil
	}
	if now := m.cfg.Now(); now.Before(m.nextTry) {
		return fmt.Errorf("open meter unit %d: next connection attempt in %s: %w", m.unit, m.nextTry.Sub(now).Round(time.Millisecond), ErrConnect)
	}
	var mod *Model
	var err error
	switch m.cfg.Model {
	case "auto":
		mod, err = Detect(ctx, m.bus, m.unit)
	case "sunspec":
		mod, err = sunspecModel(ctx, m.bus, m.unit)
	default:
		// Eastron SDM72 comes in two register layouts: let the model code choose.
		mod, _ = LookupModel(m.cfg.Model)
		if d, derr := Detect(ctx, m.bus, m.unit); derr == nil && strings.HasPrefix(d.Name, "sdm72") {
			mod = d
		} else if derr != nil && (errors.Is(derr, ErrConnect) || errors.Is(derr, ErrTimeout)) {
			err = derr
		}
	}
	if err != nil {
		m.failed(err)
		return fmt.Errorf("open meter unit %d: %w", m.unit, err)
	}
	m.setModel(mod)
	m.log.Debug("meter opened", "model", mod.Name)
	return nil
}

// failed schedules the next connection attempt after an error that left no connection.
// A Read refused because the attempt was not due yet schedules nothing.
func (m *Meter) failed(err error) {
	if !errors.Is(err, ErrConnect) || m.cfg.Now().Before(m.nextTry) {
		return
	}
	wait := m.retry.NextBackOff()
	m.nextTry = m.cfg.Now().Add(wait)
	m.log.Debug("meter unreachable", "retry_in", wait, "err", err)
}

// Model returns the resolved model name ("" before the model is resolved).
func (m *Meter) Model() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.model == nil {
		return ""
	}
	return m.model.Name
}

// Seed sets the plausibility baseline from outside: the gateway passes the registers its
// chain recorded last, so that a counter that went backwards (or a meter that was replaced)
// while the program was down is caught on the first poll. It replaces any baseline the
// Meter established itself and clears a pending counter reset.
func (m *Meter) Seed(b Baseline) error {
	if b.ImportMWh < 0 || b.ExportMWh < 0 || b.ImportMWh > maxEnergyMWh || b.ExportMWh > maxEnergyMWh {
		return fmt.Errorf("seed baseline: counters %d/%d mWh outside 0..1 TWh", b.ImportMWh, b.ExportMWh)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.plaus.seed(b)
	m.needID = true
	return nil
}

// Baseline returns the current plausibility baseline (the zero Baseline before the first
// accepted reading or Seed).
func (m *Meter) Baseline() Baseline {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.plaus.haveBase {
		return Baseline{}
	}
	return m.plaus.base
}

// CapPower tightens the rise rule (doc.go, "rise") to w watts while the caller knows the meter
// cannot see more: a charging point allowed a current by its load management, whose energy may
// not rise faster than that current × phases × voltage (× PowerMargin, like the rating). The
// rule uses the smaller of w and the configured or rated figure; w ≤ 0 lifts the cap. A
// caller lowering the cap keeps the higher figure until the vehicle can have followed (IEC
// 61851-1 gives it 5 s), or a legitimate rise is judged implausible. Safe from any goroutine;
// it applies from the next poll.
func (m *Meter) CapPower(w float64) {
	if w < 0 || math.IsNaN(w) {
		w = 0
	}
	m.powerCap.Store(math.Float64bits(w))
}

// Close closes the meter's connection (and its bus when New or Open created it). A later
// Read connects again.
func (m *Meter) Close() error {
	if m.ownBus {
		return m.bus.Close()
	}
	return nil
}

// Read performs one full poll: the measurement blocks of the model's read plan (and the
// identity blocks when due: at connect, after a failed or implausible poll, every
// Config.IdentityInterval), then decoding and the plausibility checks. On failure it
// returns the error and a Reading whose Time and Status say what happened and which
// carries no measurement values. A serial change returns *ReplacementError, a confirmed
// counter reset *CounterResetError (Status "replaced" for both).
func (m *Meter) Read(ctx context.Context) (Reading, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.resolve(ctx); err != nil {
		return Reading{Time: m.cfg.Now(), Status: statusOf(err)}, fmt.Errorf("poll unit %d: %w", m.unit, err)
	}
	r, idRead, err := m.poll(ctx)
	if err != nil {
		m.needID = true
		m.failed(err)
		bad := Reading{Time: r.Time, Model: m.model.Name, Serial: m.serial, Firmware: m.firmware, Status: statusOf(err)}
		return bad, fmt.Errorf("poll %s unit %d: %w", m.model.Name, m.unit, err)
	}
	m.retry.Reset()
	m.nextTry = time.Time{}
	if idRead {
		m.needID = false
	}
	return r, nil
}

// poll reads, decodes and checks one reading; idRead says whether the identity was read.
func (m *Meter) poll(ctx context.Context) (Reading, bool, error) {
	if now := m.cfg.Now(); now.Before(m.nextTry) {
		return Reading{Time: now}, false, fmt.Errorf("next connection attempt in %s: %w", m.nextTry.Sub(now).Round(time.Millisecond), ErrConnect)
	}
	gen := m.bus.generation()
	wantID := m.needID || m.serial == "" || gen != m.idGen || m.cfg.Now().Sub(m.idAt) >= m.cfg.IdentityInterval
	im := Image{blocks: make([]imageBlock, 0, len(m.meas)+len(m.ident))}
	var st regStats
	err := readBlocks(ctx, m.bus, m.unit, m.model, m.meas, &im, &st)
	if err == nil && !wantID && m.bus.generation() != gen {
		wantID = true // the link was re-established during this poll: whoever answers now must say who it is
	}
	if err == nil && wantID {
		gen = m.bus.generation()
		err = readBlocks(ctx, m.bus, m.unit, m.model, m.ident, &im, nil)
	}
	now := m.cfg.Now()
	if err != nil {
		return Reading{Time: now}, false, err
	}
	if err := imageCheck(st, m.model, &m.plaus); err != nil {
		m.plaus.resetSince = time.Time{}
		return Reading{Time: now}, wantID, err
	}
	r, err := decode(m.model, im)
	r.Time = now
	if err != nil {
		m.plaus.resetSince = time.Time{}
		return r, wantID, err
	}
	if wantID {
		m.serial, m.firmware, m.idAt, m.idGen = r.Serial, r.Firmware, now, gen
	} else {
		r.Serial, r.Firmware = m.serial, m.firmware
	}
	lim := m.lim
	if c := math.Float64frombits(m.powerCap.Load()); c > 0 && c < lim.maxPowerW {
		lim.maxPowerW = c
	}
	err = m.plaus.check(&r, m.model, lim, wantID)
	r.Status = statusOf(err)
	if err != nil {
		return r, wantID, err
	}
	if m.signer != nil && m.signer.pending != nil {
		r.SignedRecord, m.signer.pending = m.signer.pending, nil
	}
	return r, wantID, nil
}

// readBlocks reads blocks into im (and counts them into st when not nil). A block that
// answers exception 02 is skipped when all fields in it are optional (a variant that lacks
// them).
func readBlocks(ctx context.Context, bus *Bus, unit uint8, mod *Model, blocks []Block, im *Image, st *regStats) error {
	for _, b := range blocks {
		regs, err := bus.ReadRegisters(ctx, unit, b.Table, b.Addr, b.Count)
		var ex *ExceptionError
		if errors.As(err, &ex) && ex.Code == 2 && blockOptional(mod, b) {
			continue
		}
		if err != nil {
			return err
		}
		if len(regs) != int(b.Count) {
			return fmt.Errorf("read 0x%04x: %d registers, want %d: %w", b.Addr, len(regs), b.Count, ErrFrame)
		}
		im.Set(b.Table, b.Addr, regs)
		if st != nil {
			st.add(regs)
		}
	}
	return nil
}

// measurementBlocks are the requests of the read plan that hold a measured quantity;
// identityBlocks the rest (serial, firmware, model code), read only when due.
func measurementBlocks(mod *Model) []Block { return planPart(mod, true) }

func identityBlocks(mod *Model) []Block { return planPart(mod, false) }

func planPart(mod *Model, measured bool) []Block {
	var out []Block
	for _, b := range splitBlocks(mod) {
		has := false
		for _, f := range mod.Fields {
			if f.Table == b.Table && f.Addr >= b.Addr && f.Addr < b.Addr+b.Count && f.Q != Serial && f.Q != Firmware && f.Q != ModelCode {
				has = true
			}
		}
		if has == measured {
			out = append(out, b)
		}
	}
	return out
}

// splitBlocks cuts the read plan into requests the meter accepts: at most MaxRegs (and
// the protocol's 125) registers, even counts for Eastron.
func splitBlocks(mod *Model) []Block {
	limit := 125
	if mod.MaxRegs > 0 && mod.MaxRegs < limit {
		limit = mod.MaxRegs
	}
	if mod.EvenOnly && limit%2 == 1 {
		limit--
	}
	var out []Block
	for _, b := range mod.Blocks {
		for b.Count > 0 {
			n := min(b.Count, uint16(limit))
			out = append(out, Block{Table: b.Table, Addr: b.Addr, Count: n})
			b.Addr += n
			b.Count -= n
		}
	}
	return out
}

func blockOptional(mod *Model, b Block) bool {
	any := false
	for _, f := range mod.Fields {
		if f.Table == b.Table && f.Addr >= b.Addr && f.Addr < b.Addr+b.Count {
			any = true
			if !f.Optional && f.Q != Serial && f.Q != Firmware {
				return false
			}
		}
	}
	return any
}

// Detect probes the identity registers of unit and returns the matching model: Eastron's
// model code (holding 0xFC02), Carlo Gavazzi's model ID (0x000B), ABB's type designation
// (0x8960), Iskra's model string (input 1), then the SunSpec marker. A probe that gets an
// exception moves on; a timeout on every probe gives ErrTimeout.
func Detect(ctx context.Context, bus *Bus, unit uint8) (*Model, error) {
	models := Models()
	type probe struct {
		f     Field
		count uint16
	}
	probes := []probe{
		{codeField(eastronCodeAddr), 1}, {codeField(gavazziCodeAddr), 1},
		{Field{Q: ModelCode, Table: Holding, Addr: 0x8960, Kind: ASCII, Words: 2}, 2},
		{Field{Q: ModelCode, Table: Input, Addr: 1, Kind: ASCII, Words: 8}, 8},
	}
	var errs []error
	for _, p := range probes {
		regs, err := bus.ReadRegisters(ctx, unit, p.f.Table, p.f.Addr, p.count)
		if err != nil {
			// A meter that lacks a register answers with an exception; silence means
			// nobody is there: stop probing rather than time out on every probe.
			if ctx.Err() != nil || errors.Is(err, ErrTimeout) || errors.Is(err, ErrConnect) {
				return nil, fmt.Errorf("detect model: %w", err)
			}
			errs = append(errs, err)
			continue
		}
		for _, mod := range models {
			if mod.CodeField.Table != p.f.Table || mod.CodeField.Addr != p.f.Addr {
				continue
			}
			if p.f.Kind == ASCII {
				s := decodeASCII(regs)
				for _, pre := range mod.Prefixes {
					if strings.HasPrefix(s, pre) {
						return mod, nil
					}
				}
				continue
			}
			for _, c := range mod.Codes {
				if regs[0] == c {
					return mod, nil
				}
			}
		}
		errs = append(errs, fmt.Errorf("identity register 0x%04x = %04x matches no model", p.f.Addr, regs))
	}
	mod, err := sunspecModel(ctx, bus, unit)
	if err == nil {
		return mod, nil
	}
	errs = append(errs, err)
	allTimeout := true
	for _, e := range errs {
		if !errors.Is(e, ErrTimeout) {
			allTimeout = false
		}
	}
	if allTimeout {
		return nil, fmt.Errorf("detect model: %w", errs[0])
	}
	return nil, fmt.Errorf("detect model: %w: %w", ErrUnknownModel, errors.Join(errs...))
}
