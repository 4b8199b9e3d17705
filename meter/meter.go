package meter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Meter is one meter on a bus. Its methods are safe for concurrent use; polls are
// serialised.
type Meter struct {
	bus     *Bus
	ownBus  bool
	unit    uint8
	model   *Model
	log     *slog.Logger
	signer  *iskraSigner // non-nil for models that sign (wm3m4)
	mu      sync.Mutex
	plaus   plausibility
	nowFunc func() time.Time
}

// Open validates cfg (errors name the field), connects, and resolves Model "auto" by
// probing the identity registers (see Detect).
func Open(ctx context.Context, cfg Config) (*Meter, error) {
	cfg, fixed, err := cfg.withDefaults(true)
	if err != nil {
		return nil, err
	}
	baud := 0
	if fixed != nil {
		baud = fixed.DefaultBaud
	}
	bus, err := OpenBus(ctx, cfg.URL, baud, cfg.Timeout, cfg.Retries, cfg.Logger)
	if err != nil {
		return nil, err
	}
	m, err := OpenOnBus(ctx, bus, cfg)
	if err != nil {
		_ = bus.Close()
		return nil, err
	}
	m.ownBus = true
	return m, nil
}

// OpenOnBus opens a meter on a shared bus (several unit IDs on one RS-485 line). cfg.URL,
// Timeout and Retries are ignored: the bus has them. Closing the Meter leaves the bus open.
func OpenOnBus(ctx context.Context, bus *Bus, cfg Config) (*Meter, error) {
	cfg, fixed, err := cfg.withDefaults(false)
	if err != nil {
		return nil, err
	}
	m := &Meter{bus: bus, unit: cfg.Unit, log: cfg.Logger.With("unit", cfg.Unit), nowFunc: cfg.Now}
	if m.nowFunc == nil {
		m.nowFunc = time.Now
	}
	switch cfg.Model {
	case "auto":
		m.model, err = Detect(ctx, bus, cfg.Unit)
	case "sunspec":
		m.model, err = sunspecModel(ctx, bus, cfg.Unit)
	default:
		m.model = fixed
		// Eastron SDM72 comes in two register layouts: let the model code choose.
		if fixed.Name == "sdm72" {
			if d, derr := Detect(ctx, bus, cfg.Unit); derr == nil && strings.HasPrefix(d.Name, "sdm72") {
				m.model = d
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open meter unit %d: %w", cfg.Unit, err)
	}
	if m.model.Name == "wm3m4" {
		m.signer = &iskraSigner{m: m}
	}
	m.log.Debug("meter opened", "model", m.model.Name)
	return m, nil
}

// Model returns the resolved model name.
func (m *Meter) Model() string { return m.model.Name }

// Close closes the meter (and its bus when Open created it).
func (m *Meter) Close() error {
	if m.ownBus {
		return m.bus.Close()
	}
	return nil
}

// Read performs one full poll: every block of the model's read plan, then decoding and the
// plausibility checks. On failure it returns the error and a Reading whose Time and Status
// say what happened. A serial change returns *ReplacementError (Status "replaced").
func (m *Meter) Read(ctx context.Context) (Reading, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	im, err := readImage(ctx, m.bus, m.unit, m.model)
	now := m.nowFunc()
	if err != nil {
		return Reading{Time: now, Model: m.model.Name, Status: statusOf(err)}, fmt.Errorf("poll %s unit %d: %w", m.model.Name, m.unit, err)
	}
	r, err := decode(m.model, im)
	r.Time = now
	if err == nil {
		err = m.plaus.check(&r, m.model)
	}
	r.Status = statusOf(err)
	if err == nil && m.signer != nil && m.signer.pending != nil {
		r.SignedRecord, m.signer.pending = m.signer.pending, nil
	}
	if err != nil {
		// Never hand out the numbers of a reading that failed its checks.
		bad := Reading{Time: now, Model: m.model.Name, Serial: r.Serial, Firmware: r.Firmware, Status: r.Status}
		return bad, fmt.Errorf("poll %s unit %d: %w", m.model.Name, m.unit, err)
	}
	return r, nil
}

// readImage reads every block of the model's plan into an image. A block that answers
// exception 02 is skipped when all fields in it are optional (a variant that lacks them).
func readImage(ctx context.Context, bus *Bus, unit uint8, mod *Model) (Image, error) {
	im := Image{}
	for _, b := range splitBlocks(mod) {
		regs, err := bus.ReadRegisters(ctx, unit, b.Table, b.Addr, b.Count)
		var ex *ExceptionError
		if errors.As(err, &ex) && ex.Code == 2 && blockOptional(mod, b) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(regs) != int(b.Count) {
			return nil, fmt.Errorf("read 0x%04x: %d registers, want %d: %w", b.Addr, len(regs), b.Count, ErrFrame)
		}
		im.Set(b.Table, b.Addr, regs)
	}
	return im, nil
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
