package pilot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/hal"
)

// Faults reported in hal.ControlState.Fault; test with errors.Is. The
// first three latch until the vehicle is unplugged (state A measured).
var (
	// ErrDiodeFault: with the PWM running, the low level mirrors the high
	// level: the vehicle's diode is missing or shorted (IEC 61851-1 requires
	// the diode to be checked at least once before closing the contactor).
	ErrDiodeFault = errors.New("vehicle diode missing: the CP low level mirrors the high level")
	// ErrShortCircuit: the CP line reads about 0 V (state E): shorted to PE.
	ErrShortCircuit = errors.New("control pilot shorted to PE (state E)")
	// ErrPilotFault: a level outside every band of IEC 61851-1 Table A.4, a
	// low level that does not reach −11 V with the PWM running, or −12 V
	// (state F) while the EVSE drives the line: the CP circuit is broken.
	ErrPilotFault = errors.New("control pilot level out of range")
	// ErrVentilation: the vehicle asks for ventilation (state D) and the
	// site has none (Config.Ventilation false). It clears when D ends.
	ErrVentilation = errors.New("vehicle requires ventilation (state D) and none is configured")
	// ErrSampler: Config.SampleErrors consecutive measurements failed. It
	// clears with the next good measurement.
	ErrSampler = errors.New("control pilot cannot be measured")
	// ErrOutput: the PWM output refused a duty cycle. It clears when a
	// later write succeeds.
	ErrOutput = errors.New("control pilot output failed")
	// ErrHalted: Halt was called; the pilot signals state F for good.
	ErrHalted = errors.New("pilot halted")
)

// Contactor is what the pilot opens by itself: hal.Board satisfies it.
// OpenRelay de-energises the coil at once and may then wait for the mirror
// contact; its error is reported in the Event and logged.
type Contactor interface {
	OpenRelay(ctx context.Context) error
}

// Defaults for Config fields left zero.
const (
	// DefaultMax is the current offered at most when Config.Max is 0: the
	// rating of a common 16 A installation.
	DefaultMax = 16 * physic.Ampere
	// DefaultPeriod is the time between two measurements.
	DefaultPeriod = 10 * time.Millisecond
	// DefaultDebounce is how many equal measurements in a row make a new
	// state (chargebyte's driver requires two).
	DefaultDebounce = 2
	// DefaultPauseGrace is how long a vehicle may keep requesting (state C)
	// after the offer dropped to none before the contactor is opened under
	// load. IEC 61851-1 expects the vehicle to answer a 100 % duty cycle by
	// going to state B; this bounds the wait for one that does not.
	DefaultPauseGrace = 3 * time.Second
	// DefaultSampleErrors is how many failed measurements in a row make
	// ErrSampler.
	DefaultSampleErrors = 3
)

// Config tunes a Pilot. The zero value is usable: 16 A at most, no
// ventilation, the defaults above.
type Config struct {
	// Max is the highest current this charging point may offer (cable,
	// contactor, installation), 6–80 A; SetCurrent is capped to it.
	Max physic.ElectricCurrent
	// Ventilation says the site ventilates the charging area, so state D
	// may charge.
	Ventilation bool
	// Inverted says the ±12 V driver stage inverts the PWM pin (a single
	// transistor or an inverting op-amp): the pin's duty is then
	// 100 % − the CP duty.
	Inverted bool
	// Period is the time between measurements (DefaultPeriod).
	Period time.Duration
	// Debounce is the number of equal measurements that make a new state
	// (DefaultDebounce). Leaving C or D needs one: opening is the safe
	// direction.
	Debounce int
	// PauseGrace bounds the wait for the vehicle to stop after a pause
	// (DefaultPauseGrace).
	PauseGrace time.Duration
	// SampleErrors is the number of failed measurements in a row that
	// make ErrSampler (DefaultSampleErrors).
	SampleErrors int
}

func (c Config) withDefaults() (Config, error) {
	if c.Max == 0 {
		c.Max = DefaultMax
	}
	if c.Max < hal.MinCurrent || c.Max > hal.MaxCurrent {
		return c, fmt.Errorf("pilot max %s: %w (%s…%s)", c.Max, hal.ErrCurrentRange, hal.MinCurrent, hal.MaxCurrent)
	}
	if c.Period <= 0 {
		c.Period = DefaultPeriod
	}
	if c.Debounce <= 0 {
		c.Debounce = DefaultDebounce
	}
	if c.PauseGrace <= 0 {
		c.PauseGrace = DefaultPauseGrace
	}
	if c.SampleErrors <= 0 {
		c.SampleErrors = DefaultSampleErrors
	}
	return c, nil
}

// Event reports a change of the pilot's state: the new state and what the
// pilot did about the contactor.
type Event struct {
	// At is when the measurement that caused the change ended.
	At time.Time
	// Prev is the control-pilot state before the change.
	Prev hal.CPState
	// State is the pilot's state after the change.
	State hal.ControlState
	// Opened says the pilot opened the contactor on this change; OpenErr is
	// OpenRelay's error, if any.
	Opened  bool
	OpenErr error
}

// eventBuffer is the capacity of the Events channel; when it is full the
// oldest event is dropped, never the safety path blocked.
const eventBuffer = 64

// Pilot is the EVSE side of the IEC 61851-1 control pilot: it drives the
// PWM on out, measures the line through in, tracks the vehicle's state and
// opens the contactor when power must stop. It implements
// hal.CurrentControl. All methods are safe for concurrent use.
type Pilot struct {
	cfg       Config
	out       gpio.PinOut
	in        Sampler
	contactor Contactor
	log       *slog.Logger
	events    chan Event

	mu         sync.Mutex
	setpoint   physic.ElectricCurrent
	state      hal.CPState // debounced
	cand       hal.CPState // candidate state and how often it was seen in a row
	candN      int
	latched    error // diode, short, pilot faults: until state A
	sampleErr  error // ErrSampler while measurements fail
	outErr     error // ErrOutput while the PWM refuses
	sampleErrs int
	diodeOK    bool // a diode check passed since the vehicle was plugged in
	duty       gpio.Duty
	driven     physic.ElectricCurrent // the current duty offers (0 without PWM)
	dutyGen    uint64                 // counts duty changes, so a sample spanning one is not judged by the new duty
	mayBeShut  bool                   // the contactor may be closed: allowed was true and it has not been opened since
	pauseUntil time.Time
	last       hal.ControlState
	halted     bool
	dropped    uint64
}

// New returns a pilot that drives out at once to a steady +12 V (no PWM,
// nothing offered: state A/B1 for the vehicle) and measures in. contactor
// may be nil: then the gateway alone opens it, on the events. logger may be
// nil.
func New(cfg Config, out gpio.PinOut, in Sampler, contactor Contactor, logger *slog.Logger) (*Pilot, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Pilot{cfg: cfg, out: out, in: in, contactor: contactor, log: logger, events: make(chan Event, eventBuffer)}
	if err := p.drive(DutyNone); err != nil {
		return nil, fmt.Errorf("start control pilot at +12 V: %w", err)
	}
	p.duty = DutyNone
	p.last = p.snapshotLocked()
	return p, nil
}

// drive writes a CP duty cycle to the pin at Frequency.
func (p *Pilot) drive(d gpio.Duty) error {
	pin := d
	if p.cfg.Inverted {
		pin = gpio.DutyMax - d
	}
	return p.out.PWM(pin, Frequency)
}

// Events delivers every change of state. Read it, or changes are dropped
// (oldest first).
func (p *Pilot) Events() <-chan Event { return p.events }

// SetCurrent sets the current to offer: 0 pauses (the PWM stops, the
// contactor opens once the vehicle answers with state B, or after
// Config.PauseGrace), 6–80 A offers up to Config.Max. Other values fail
// with hal.ErrCurrentRange. The new duty cycle is driven at the next
// measurement, within Config.Period.
func (p *Pilot) SetCurrent(_ context.Context, current physic.ElectricCurrent) error {
	if _, err := DutyForCurrent(current); err != nil {
		return fmt.Errorf("set pilot current: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.halted {
		return fmt.Errorf("set pilot current: %w", ErrHalted)
	}
	p.setpoint = current
	return nil
}

// State returns the pilot's state as of the last measurement; it never
// fails.
func (p *Pilot) State(context.Context) (hal.ControlState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, nil
}

// Run measures the line every Config.Period and acts on it until ctx ends.
// When it returns, the contactor has been told to open and the line shows
// state F (−12 V: EVSE not available).
func (p *Pilot) Run(ctx context.Context) error {
	defer p.Halt()
	t := time.NewTicker(p.cfg.Period)
	defer t.Stop()
	for {
		if err := p.step(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Halt opens the contactor, drives the line to a steady −12 V (state F) and
// refuses further setpoints. Safe from any goroutine, any number of times.
func (p *Pilot) Halt() error {
	p.mu.Lock()
	p.halted = true
	p.setpoint = 0
	p.mayBeShut = false
	p.mu.Unlock()
	var errs []error
	if p.contactor != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := p.contactor.OpenRelay(ctx); err != nil {
			errs = append(errs, fmt.Errorf("open contactor: %w", err))
		}
		cancel()
	}
	if err := p.drive(DutyOff); err != nil {
		errs = append(errs, fmt.Errorf("drive control pilot to state F: %w", err))
	}
	p.mu.Lock()
	p.duty, p.driven = DutyOff, 0
	p.dutyGen++
	p.last = p.snapshotLocked()
	p.mu.Unlock()
	return errors.Join(errs...)
}

// step takes one measurement and acts on it. It returns an error only when
// the pilot was halted.
func (p *Pilot) step(ctx context.Context) error {
	p.mu.Lock()
	if p.halted {
		p.mu.Unlock()
		return ErrHalted
	}
	gen, duty := p.dutyGen, p.duty
	p.mu.Unlock()

	lv, err := p.in.Sample(ctx)
	now := time.Now()

	p.mu.Lock()
	if p.halted {
		p.mu.Unlock()
		return ErrHalted
	}
	if err != nil {
		if ctx.Err() != nil {
			p.mu.Unlock()
			return nil
		}
		p.sampleErrs++
		if p.sampleErrs >= p.cfg.SampleErrors && p.sampleErr == nil {
			p.sampleErr = fmt.Errorf("%w: %d measurements in a row failed, last: %w", ErrSampler, p.sampleErrs, err)
			p.log.Error("control pilot cannot be measured", "err", err)
		}
	} else {
		p.sampleErrs, p.sampleErr = 0, nil
		p.judgeLocked(lv, gen == p.dutyGen, duty)
	}
	act := p.applyLocked(now)
	p.mu.Unlock()
	p.act(ctx, act)
	return nil
}

// oscillating reports whether d is a running PWM (not a steady level).
func oscillating(d gpio.Duty) bool { return d > DutyOff && d < DutyNone }

// judgeLocked classifies a measurement and updates state, candidate and
// faults. steady says the duty did not change while it was taken; duty is
// the duty that was driven.
func (p *Pilot) judgeLocked(lv Levels, steady bool, duty gpio.Duty) {
	raw := classify(lv.High, p.state)
	// The low level tells something only with the PWM running and a vehicle
	// on the line: unplugged, the line mirrors the source (±12 V).
	if steady && oscillating(duty) && raw.Connected() {
		switch {
		case abs(lv.High+lv.Low) <= mirrorTolerance && lv.High > diodeMinHigh:
			p.latchLocked(fmt.Errorf("%w (high %s, low %s)", ErrDiodeFault, lv.High, lv.Low))
		case lv.Low > lowMax || lv.Low < lowMin:
			p.latchLocked(fmt.Errorf("%w: low level %s with the PWM running (want %s…%s)", ErrPilotFault, lv.Low, lowMin, lowMax))
		default:
			p.diodeOK = true
		}
	}
	switch raw {
	case invalid:
		p.latchLocked(fmt.Errorf("%w: high level %s", ErrPilotFault, lv.High))
		return
	case hal.CPStateE:
		p.latchLocked(ErrShortCircuit)
	case hal.CPStateF:
		p.latchLocked(fmt.Errorf("%w: the line reads −12 V (state F) while the EVSE drives it", ErrPilotFault))
	}
	if raw == p.cand {
		p.candN++
	} else {
		p.cand, p.candN = raw, 1
	}
	leaving := p.state.Requesting() && !raw.Requesting()
	if raw == p.state || (p.candN < p.cfg.Debounce && !leaving) {
		return
	}
	prev := p.state
	p.state = raw
	p.log.Info("control pilot state", "from", prev, "to", raw, "high", lv.High, "low", lv.Low)
	if raw == hal.CPStateA {
		// Unplugged: latched faults clear, and the next vehicle is checked afresh.
		p.latched, p.diodeOK = nil, false
	}
}

// latchLocked records a fault that stands until the vehicle is unplugged.
func (p *Pilot) latchLocked(err error) {
	if p.latched == nil {
		p.latched = err
		p.log.Error("control pilot fault", "err", err)
	}
}

func abs(v physic.ElectricPotential) physic.ElectricPotential {
	if v < 0 {
		return -v
	}
	return v
}

// faultLocked is the fault that stands now, nil when none does.
func (p *Pilot) faultLocked() error {
	switch {
	case p.halted:
		return ErrHalted
	case p.latched != nil:
		return p.latched
	case p.sampleErr != nil:
		return p.sampleErr
	case p.outErr != nil:
		return p.outErr
	case p.state == hal.CPStateD && !p.cfg.Ventilation:
		return ErrVentilation
	}
	return nil
}

// offeredLocked is the current the pilot offers: the setpoint capped to Max,
// 0 while a fault stands or no vehicle is connected.
func (p *Pilot) offeredLocked() physic.ElectricCurrent {
	if p.faultLocked() != nil || !p.state.Connected() {
		return 0
	}
	return min(p.setpoint, p.cfg.Max)
}

// snapshotLocked is the state as reported: Offered is what the driven duty
// offers, so a change of offer is reported once it is on the line.
func (p *Pilot) snapshotLocked() hal.ControlState {
	fault := p.faultLocked()
	offered := p.driven
	if fault != nil || !p.state.Connected() {
		offered = 0
	}
	return hal.ControlState{
		CP:               p.state,
		Setpoint:         p.setpoint,
		Offered:          offered,
		ContactorAllowed: fault == nil && p.state.Requesting() && offered > 0 && p.diodeOK,
		Fault:            fault,
	}
}

// wantDutyLocked is the duty cycle the pilot should drive now.
func (p *Pilot) wantDutyLocked() gpio.Duty {
	d, err := DutyForCurrent(p.offeredLocked())
	if err != nil {
		return DutyNone
	}
	return d
}

// action is what step does outside the lock.
type action struct {
	duty    gpio.Duty
	current physic.ElectricCurrent // what duty offers
	setDuty bool
	open    bool
	event   *Event
}

// applyLocked decides the duty cycle, whether the contactor must open, and
// the event to emit.
func (p *Pilot) applyLocked(now time.Time) action {
	var a action
	if want := p.wantDutyLocked(); want != p.duty || p.outErr != nil {
		a.duty, a.current, a.setDuty = want, p.offeredLocked(), true
	}
	s := p.snapshotLocked()
	switch {
	case s.ContactorAllowed:
		p.mayBeShut, p.pauseUntil = true, time.Time{}
	case !p.mayBeShut:
	case s.Fault == nil && s.CP.Requesting() && s.Setpoint == 0:
		// Paused while the vehicle still requests: give it PauseGrace to
		// answer the 100 % duty with state B before opening under load.
		if p.pauseUntil.IsZero() {
			p.pauseUntil = now.Add(p.cfg.PauseGrace)
		}
		a.open = !now.Before(p.pauseUntil)
	default:
		a.open = true
	}
	if a.open {
		p.mayBeShut, p.pauseUntil = false, time.Time{}
	}
	if s != p.last || a.open {
		prev := p.last.CP
		p.last = s
		a.event = &Event{At: now, Prev: prev, State: s, Opened: a.open}
	}
	return a
}

// act drives the PWM and opens the contactor as decided, then emits the
// event. The contactor opens first: it is the safety-relevant action.
func (p *Pilot) act(ctx context.Context, a action) {
	if a.open && p.contactor != nil {
		octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		err := p.contactor.OpenRelay(octx)
		cancel()
		if err != nil {
			p.log.Error("open contactor", "err", err)
		}
		if a.event != nil {
			a.event.OpenErr = err
		}
	}
	if a.setDuty {
		err := p.drive(a.duty)
		p.mu.Lock()
		if err != nil {
			if p.outErr == nil { // kept once, so the state (and its events) stay put while it lasts
				p.log.Error("control pilot output", "err", err)
				p.outErr = fmt.Errorf("%w: %w", ErrOutput, err)
			}
		} else {
			p.outErr = nil
			if a.duty != p.duty {
				p.duty = a.duty
				p.dutyGen++
			}
			p.driven = a.current
		}
		p.mu.Unlock()
	}
	if a.event != nil {
		p.emit(*a.event)
	}
}

// emit sends e without blocking, dropping the oldest event when full.
func (p *Pilot) emit(e Event) {
	for {
		select {
		case p.events <- e:
			return
		default:
		}
		select {
		case <-p.events:
			p.mu.Lock()
			p.dropped++
			p.mu.Unlock()
		default:
		}
	}
}
