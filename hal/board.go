package hal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Pins is what a backend supplies: GPIO lines by name. hal/periph returns
// the host's character-device lines, hal/sim a simulated board's, tests
// periph's gpiotest pins. Pin fails when the name is unknown or the line
// cannot be claimed.
type Pins interface {
	Pin(name string) (gpio.PinIO, error)
}

// defaultResync bounds each WaitForEdge so that a missed edge is noticed
// and Run can stop; it is not a polling period for the safety path, which
// is edge-driven.
const defaultResync = 500 * time.Millisecond

// eventBuffer is the capacity of the Events channel; when a slow reader
// lets it fill up, the oldest event is dropped (and counted in the log)
// rather than blocking the safety path.
const eventBuffer = 64

// input is one watched input line.
type input struct {
	field string // YAML field name: feedback, estop, rcd, lid
	cfg   Pin
	pin   gpio.PinIO
	kind  EventKind // event reported for changes; 0 for feedback
	fault error     // sentinel latched when active (safety inputs), nil otherwise

	// Guarded by Board.mu.
	level     bool      // debounced logical level (true = active)
	reported  bool      // last level reported as an event
	changedAt time.Time // first edge of the transition that led to level
}

// readActive reads the line now and returns whether it is active.
func (in *input) readActive() bool { return in.cfg.active(in.pin.Read()) }

// Board is the box's relay, inputs and LED, built on any Pins backend. All
// methods are safe for concurrent use. Every way out — Run returning, Halt,
// a safety input, a feedback fault — leaves the relay driven open.
type Board struct {
	cfg        Config
	fbTimeout  time.Duration
	debounce   time.Duration
	resync     time.Duration
	log        *slog.Logger
	relay      gpio.PinIO
	led        gpio.PinIO
	fb         *input
	inputs     []*input // every configured input, feedback included
	events     chan Event
	ledWake    chan struct{}
	haltCh     chan struct{}
	haltOnce   sync.Once
	closeMu    sync.Mutex // serialises CloseRelay calls
	mu         sync.Mutex
	closed     bool  // commanded relay state
	fault      error // latched fault
	halted     bool
	running    bool
	changed    chan struct{} // closed and replaced on every state change
	cmdSeq     uint64
	cmdAt      time.Time
	cmdErr     error
	cmdErrSeq  uint64
	fbTimer    *time.Timer
	fbGen      uint64
	ledPattern LEDPattern
	dropped    uint64
}

// Open claims the configured pins from the backend and drives the relay open
// at once, before anything else. Inputs are configured for edges on both
// flanks; a safety input already active latches its fault immediately.
// logger may be nil.
func Open(cfg Config, pins Pins, logger *slog.Logger) (*Board, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open board: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	relay, err := pins.Pin(cfg.Relay.Name)
	if err != nil {
		return nil, fmt.Errorf("open board: hal.relay: %w", err)
	}
	if err := relay.Out(cfg.Relay.level(false)); err != nil {
		return nil, fmt.Errorf("open board: drive hal.relay %s open: %w", cfg.Relay.Name, err)
	}
	b := &Board{
		cfg:       cfg,
		fbTimeout: cfg.feedbackTimeout(),
		debounce:  cfg.debounce(),
		resync:    defaultResync,
		log:       logger,
		relay:     relay,
		events:    make(chan Event, eventBuffer),
		ledWake:   make(chan struct{}, 1),
		haltCh:    make(chan struct{}),
		changed:   make(chan struct{}),
	}
	specs := []struct {
		field string
		pin   *Pin
		kind  EventKind
		fault error
	}{
		{"feedback", cfg.Feedback, 0, nil},
		{"estop", cfg.EStop, EventEStop, ErrEStop},
		{"rcd", cfg.RCD, EventRCDTrip, ErrRCDTrip},
		{"lid", cfg.Lid, EventLid, nil},
	}
	for _, s := range specs {
		if s.pin == nil {
			continue
		}
		p, err := pins.Pin(s.pin.Name)
		if err != nil {
			return nil, fmt.Errorf("open board: hal.%s: %w", s.field, err)
		}
		if err := p.In(gpio.PullNoChange, gpio.BothEdges); err != nil {
			return nil, fmt.Errorf("open board: configure hal.%s %s as input: %w", s.field, s.pin.Name, err)
		}
		in := &input{field: s.field, cfg: *s.pin, pin: p, kind: s.kind, fault: s.fault}
		if s.field == "feedback" {
			b.fb = in
		}
		b.inputs = append(b.inputs, in)
	}
	if cfg.LED != nil {
		p, err := pins.Pin(cfg.LED.Name)
		if err != nil {
			return nil, fmt.Errorf("open board: hal.led: %w", err)
		}
		if err := p.Out(cfg.LED.level(false)); err != nil {
			return nil, fmt.Errorf("open board: drive hal.led %s: %w", cfg.LED.Name, err)
		}
		b.led = p
	}
	b.mu.Lock()
	b.refreshInputsLocked()
	b.mu.Unlock()
	return b, nil
}

// refreshInputsLocked reads every input afresh, as the truth after a time
// nobody watched; safety inputs found active latch their fault.
func (b *Board) refreshInputsLocked() {
	now := time.Now()
	for _, in := range b.inputs {
		lvl := in.readActive()
		if lvl != in.level {
			in.changedAt = now
		}
		in.level = lvl
		if in.fault != nil && lvl {
			b.tripLocked(in)
			continue
		}
		if in.kind != 0 && lvl != in.reported {
			in.reported = lvl
			b.emitLocked(Event{Kind: in.kind, Active: lvl, Pin: in.cfg.Name})
		}
	}
}

// Events returns the channel of board events. It is never closed; when the
// reader falls behind by more than its buffer, the oldest events are dropped.
// Fault() and RelayClosed() always tell the current state.
func (b *Board) Events() <-chan Event { return b.events }

// RelayClosed reports the commanded relay state (true: coil energised).
func (b *Board) RelayClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Fault returns the latched fault, or nil if none. It wraps ErrEStop,
// ErrRCDTrip and/or ErrWelded (several when several kinds latched: test
// with errors.Is).
func (b *Board) Fault() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fault
}

// Status is a snapshot of the board for status pages and the installer check.
// Inputs that are not configured read false.
type Status struct {
	RelayClosed    bool       // commanded
	FeedbackClosed bool       // debounced mirror contact: main contacts closed
	EStopPressed   bool       // debounced
	RCDTripped     bool       // debounced
	LidOpen        bool       // debounced
	Fault          error      // latched fault or nil
	LED            LEDPattern // requested pattern (a fault overrides it)
	Running        bool       // Run is watching the inputs
	Halted         bool
}

// Status returns a snapshot of the board's state.
func (b *Board) Status() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Status{RelayClosed: b.closed, Fault: b.fault, LED: b.ledPattern, Running: b.running, Halted: b.halted}
	for _, in := range b.inputs {
		switch in.field {
		case "feedback":
			s.FeedbackClosed = in.level
		case "estop":
			s.EStopPressed = in.level
		case "rcd":
			s.RCDTripped = in.level
		case "lid":
			s.LidOpen = in.level
		}
	}
	return s
}

// CloseRelay energises the coil and, when a feedback pin is configured,
// waits until the mirror contact confirms (at most the feedback timeout).
// It fails with ErrHalted, ErrNotRunning, ErrLatched (wrapping the latched
// fault) or a safety fault found on a fresh read of the inputs, without
// touching the relay; with ErrFailedToClose (relay driven open again) when
// the contacts do not close in time; and with the context's error (relay
// driven open) when ctx ends first.
func (b *Board) CloseRelay(ctx context.Context) error {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	b.mu.Lock()
	switch {
	case b.halted:
		b.mu.Unlock()
		return fmt.Errorf("close relay: %w", ErrHalted)
	case b.fault != nil:
		err := b.fault
		b.mu.Unlock()
		return fmt.Errorf("close relay: %w: %w", ErrLatched, err)
	case !b.running:
		b.mu.Unlock()
		return fmt.Errorf("close relay: %w", ErrNotRunning)
	}
	// A fresh read guards against an edge the watcher has not handled yet.
	for _, in := range b.inputs {
		if in.fault != nil && in.readActive() {
			b.tripLocked(in)
			err := b.fault
			b.mu.Unlock()
			return fmt.Errorf("close relay: %w: %w", ErrLatched, err)
		}
	}
	seq, err := b.commandLocked(true)
	if err != nil {
		_, _ = b.commandLocked(false)
		b.mu.Unlock()
		return fmt.Errorf("close relay: %w", err)
	}
	b.mu.Unlock()
	if err := b.awaitFeedback(ctx, seq, true); err != nil {
		return fmt.Errorf("close relay: %w", err)
	}
	return nil
}

// OpenRelay de-energises the coil at once, whatever the state (halted,
// latched, not running, a CloseRelay waiting). While Run is active and a
// feedback pin is configured it then waits for the mirror contact to
// confirm; if the contacts stay closed past the feedback timeout it latches
// and returns ErrWelded. Without Run it cannot verify and returns nil once
// the coil is driven. A ctx ending early returns its error; the relay is
// open regardless, and supervision goes on while Run is active.
func (b *Board) OpenRelay(ctx context.Context) error {
	b.mu.Lock()
	seq, err := b.commandLocked(false)
	if err != nil {
		b.mu.Unlock()
		return fmt.Errorf("open relay: %w", err)
	}
	verify := b.running && b.fb != nil
	b.mu.Unlock()
	if !verify {
		return nil
	}
	if err := b.awaitFeedback(ctx, seq, false); err != nil {
		return fmt.Errorf("open relay: %w", err)
	}
	return nil
}

// awaitFeedback waits until the mirror contact agrees with want for command
// seq, a feedback fault is declared for it, or the command is superseded.
func (b *Board) awaitFeedback(ctx context.Context, seq uint64, want bool) error {
	for {
		b.mu.Lock()
		// A fault declared for this command, or for a later one while the
		// same disagreement lasted (a trip during OpenRelay's wait).
		if b.cmdErr != nil && b.cmdErrSeq >= seq && errors.Is(b.cmdErr, feedbackFault(want)) {
			err := b.cmdErr
			b.mu.Unlock()
			return err
		}
		if b.closed != want {
			err := b.fault
			switch {
			case err != nil:
				err = fmt.Errorf("%w: %w", ErrLatched, err)
			case b.halted:
				err = ErrHalted
			case !b.running:
				err = fmt.Errorf("%w: Run returned", ErrNotRunning)
			default:
				err = errors.New("superseded by a later relay command")
			}
			b.mu.Unlock()
			return err
		}
		if b.fb == nil || !b.running || b.fb.level == want {
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			if want {
				b.mu.Lock()
				if b.cmdSeq == seq {
					_, _ = b.commandLocked(false)
				}
				b.mu.Unlock()
			}
			return fmt.Errorf("wait for feedback: %w", ctx.Err())
		}
	}
}

// feedbackFault is the fault a command waiting for want can end in.
func feedbackFault(want bool) error {
	if want {
		return ErrFailedToClose
	}
	return ErrWelded
}

// driveLocked sets the coil. It records the new commanded state only when
// the pin accepted it.
func (b *Board) driveLocked(closed bool) error {
	if err := b.relay.Out(b.cfg.Relay.level(closed)); err != nil {
		state := "open"
		if closed {
			state = "closed"
		}
		b.log.Error("hal: drive relay failed", "pin", b.cfg.Relay.Name, "state", state, "err", err)
		return fmt.Errorf("drive relay %s %s: %w", b.cfg.Relay.Name, state, err)
	}
	if closed != b.closed {
		b.closed = closed
		b.cmdAt = time.Now()
		b.emitLocked(Event{Kind: EventRelay, Active: closed, Pin: b.cfg.Relay.Name})
	}
	b.signalLocked()
	return nil
}

// commandLocked drives the coil for a command and starts the feedback
// deadline afresh when the commanded state changed; repeating a command
// keeps a running deadline, so calling OpenRelay often cannot postpone the
// detection of a weld. It returns the command's sequence number.
func (b *Board) commandLocked(closed bool) (uint64, error) {
	was := b.closed
	if err := b.driveLocked(closed); err != nil {
		return 0, err
	}
	b.cmdSeq++
	if was != closed {
		b.stopFeedbackTimerLocked()
	}
	b.evalFeedbackLocked()
	return b.cmdSeq, nil
}

func (b *Board) stopFeedbackTimerLocked() {
	if b.fbTimer != nil {
		b.fbTimer.Stop()
		b.fbTimer = nil
	}
	b.fbGen++
}

// evalFeedbackLocked arms the feedback deadline when the mirror contact
// disagrees with the command and disarms it when they agree. An armed
// deadline is kept: a disagreement counts from when it began (the command,
// or the first edge of a spontaneous change), so the contact must have
// settled, debounce included, within FeedbackTimeout.
func (b *Board) evalFeedbackLocked() {
	if b.fb == nil || !b.running {
		return
	}
	if b.fb.level == b.closed {
		b.stopFeedbackTimerLocked()
		return
	}
	if b.fbTimer != nil {
		return
	}
	// The disagreement began at the command or at the first edge of the
	// contact's change, whichever is later.
	began := b.cmdAt
	if b.fb.changedAt.After(began) {
		began = b.fb.changedAt
	}
	gen := b.fbGen
	b.fbTimer = time.AfterFunc(max(0, time.Until(began.Add(b.fbTimeout))), func() { b.feedbackExpired(gen) })
}

// feedbackExpired declares the fault when the disagreement has lasted the
// whole feedback timeout. The fault answers the command in force now.
func (b *Board) feedbackExpired(gen uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen != b.fbGen || !b.running {
		return
	}
	b.fbTimer = nil
	if b.fb.level == b.closed {
		return
	}
	name := b.fb.cfg.Name
	var err error
	if b.closed {
		err = fmt.Errorf("%w: %s reads open %v after the relay was commanded closed", ErrFailedToClose, name, b.fbTimeout)
		b.log.Error("hal: contactor failed to close; driving it open", "pin", name, "timeout", b.fbTimeout)
		_ = b.driveLocked(false)
		b.emitLocked(Event{Kind: EventFailedToClose, Active: true, Pin: name, Err: err})
	} else {
		err = fmt.Errorf("%w: %s reads closed %v after the relay was commanded open", ErrWelded, name, b.fbTimeout)
		b.log.Error("hal: contactor welded", "pin", name, "timeout", b.fbTimeout)
		if b.latchLocked(err, ErrWelded) {
			b.emitLocked(Event{Kind: EventWelded, Active: true, Pin: name, Err: err})
		}
	}
	b.cmdErr, b.cmdErrSeq = err, b.cmdSeq
	b.signalLocked()
}

// tripLocked opens the relay for an active safety input, latches its fault
// and reports it once per activation.
func (b *Board) tripLocked(in *input) {
	if _, err := b.commandLocked(false); err != nil {
		b.log.Error("hal: could not open the relay for a safety input", "input", in.field, "err", err)
	}
	err := fmt.Errorf("%w (%s)", in.fault, in.cfg.Name)
	b.latchLocked(err, in.fault)
	if !in.reported {
		in.reported = true
		b.log.Warn("hal: safety input active; relay opened", "input", in.field, "pin", in.cfg.Name)
		b.emitLocked(Event{Kind: in.kind, Active: true, Pin: in.cfg.Name, Err: err})
	}
}

// latchLocked adds err, a fault of the given kind, to the latched fault
// unless a fault of that kind is latched already (an e-stop and then a
// weld are both kept: errors.Is finds either). It reports whether err was
// added.
func (b *Board) latchLocked(err, kind error) bool {
	if errors.Is(b.fault, kind) {
		return false
	}
	if b.fault == nil {
		b.fault = err
	} else {
		b.fault = fmt.Errorf("%w; %w", b.fault, err)
	}
	b.wakeLED()
	b.signalLocked()
	return true
}

// ClearFault is the operator's reset. It re-reads the inputs and refuses,
// with ErrFaultPersists wrapping the cause, while an emergency stop is
// pressed, the RCD is tripped or the mirror contact reads closed with the
// relay commanded open. It emits EventFaultCleared on success and returns
// nil when no fault is latched.
func (b *Board) ClearFault() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fault == nil {
		return nil
	}
	var causes []error
	for _, in := range b.inputs {
		active := in.readActive()
		switch {
		case in.fault != nil && active:
			causes = append(causes, fmt.Errorf("%w (%s)", in.fault, in.cfg.Name))
		case in == b.fb && active && !b.closed:
			causes = append(causes, fmt.Errorf("%w: %s reads closed", ErrWelded, in.cfg.Name))
		}
	}
	if len(causes) > 0 {
		return fmt.Errorf("clear fault: %w: %w", ErrFaultPersists, errors.Join(causes...))
	}
	old := b.fault
	b.fault = nil
	b.log.Info("hal: fault cleared by operator", "fault", old)
	b.emitLocked(Event{Kind: EventFaultCleared, Active: true, Err: old})
	b.wakeLED()
	b.signalLocked()
	return nil
}

// Halt drives the relay open and makes the board inert: Run returns, and
// every later command except OpenRelay fails with ErrHalted. It is safe to
// call many times and from any goroutine (a recovered panic, a signal
// handler); it returns the error of driving the coil, if any.
func (b *Board) Halt() error {
	b.haltOnce.Do(func() { close(b.haltCh) })
	b.mu.Lock()
	defer b.mu.Unlock()
	b.halted = true
	b.stopFeedbackTimerLocked()
	err := b.driveLocked(false)
	if b.led != nil {
		_ = b.led.Out(b.cfg.LED.level(false))
	}
	return err
}

// HaltOnPanic, deferred at the top of a goroutine, halts the board (relay
// open) if that goroutine panics, then lets the panic go on: the process
// still crashes and is restarted, but never with the contactor closed.
//
//	go func() {
//		defer board.HaltOnPanic()
//		worker()
//	}()
func (b *Board) HaltOnPanic() {
	if r := recover(); r != nil {
		if err := b.Halt(); err != nil {
			b.log.Error("hal: halt on panic", "err", err)
		}
		b.log.Error("hal: panic in a goroutine; board halted, relay open", "panic", r)
		panic(r)
	}
}

// signalLocked wakes everyone waiting for a state change.
func (b *Board) signalLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// emitLocked queues an event without ever blocking: when the buffer is
// full the oldest event is dropped.
func (b *Board) emitLocked(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	for {
		select {
		case b.events <- e:
			return
		default:
		}
		select {
		case <-b.events:
			b.dropped++
			b.log.Warn("hal: event buffer full; dropped the oldest event", "dropped_total", b.dropped)
		default:
		}
	}
}

// level returns the line level that makes the pin's function active or not.
func (p Pin) level(active bool) gpio.Level {
	return gpio.Level(active != p.ActiveLow)
}

// active interprets a line level.
func (p Pin) active(l gpio.Level) bool {
	return bool(l) != p.ActiveLow
}
