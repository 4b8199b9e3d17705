package sim

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"

	"github.com/chargegate/chargegate/hal"
)

// Pin names of the simulated board. Every line is active-high.
const (
	// Relay is the contactor coil output (High: energised).
	Relay = "RELAY"
	// Feedback is the mirror-contact input (High: main contacts closed).
	Feedback = "RELAY_FB"
	// EStop is the emergency stop input (High: pressed).
	EStop = "ESTOP"
	// RCD is the residual-current device's trip input (High: tripped).
	RCD = "RCD"
	// Lid is the lid/tamper switch input (High: open).
	Lid = "LID"
	// LED is the status LED output (High: lit).
	LED = "LED"
)

// Defaults for Options left zero.
const (
	// DefaultContactDelay is the time from a coil change to the main
	// contacts moving, typical of a 16-32 A contactor.
	DefaultContactDelay = 20 * time.Millisecond
	// DefaultBounces is how many times a mechanical contact chatters back
	// and forth before it settles.
	DefaultBounces = 3
	// DefaultBounceInterval is the time between two chatter transitions.
	DefaultBounceInterval = time.Millisecond
)

// Options tune the simulated hardware.
type Options struct {
	// ContactDelay is the coil-to-contacts delay (0: DefaultContactDelay).
	ContactDelay time.Duration
	// Bounces is the number of chatter transitions pairs (0: DefaultBounces).
	Bounces int
	// BounceInterval is the time between chatter transitions (0: DefaultBounceInterval).
	BounceInterval time.Duration
	// NoBounce makes every contact change clean, overriding Bounces.
	NoBounce bool
}

// DefaultConfig returns the hal.Config that matches the simulated board's
// pin names, with hal's default timings.
func DefaultConfig() hal.Config {
	return hal.Config{
		Relay:    hal.Pin{Name: Relay},
		Feedback: &hal.Pin{Name: Feedback},
		EStop:    &hal.Pin{Name: EStop},
		RCD:      &hal.Pin{Name: RCD},
		Lid:      &hal.Pin{Name: Lid},
		LED:      &hal.Pin{Name: LED},
	}
}

// Board is a simulated charger board: a contactor whose coil is the RELAY
// output and whose mirror contact is the RELAY_FB input, three switches and
// an LED. The contacts follow the coil after ContactDelay, chatter on every
// change, and can be made to weld (stay closed) or stick open. It
// implements hal.Pins; it is safe for concurrent use.
type Board struct {
	delay    time.Duration
	bounces  int
	interval time.Duration

	mu         sync.Mutex
	pins       map[string]*Line
	coil       bool
	contacts   bool
	welded     bool
	stuckOpen  bool
	contactGen uint64
	lineGen    map[string]uint64
	onContacts []func(closed bool)
	onCoil     []func(energised bool)
	timers     map[*time.Timer]struct{}
	closed     bool
}

// New returns a board with the coil de-energised, contacts open, switches
// released and the lid closed.
func New(opts Options) *Board {
	b := &Board{
		delay:    opts.ContactDelay,
		bounces:  opts.Bounces,
		interval: opts.BounceInterval,
		pins:     map[string]*Line{},
		lineGen:  map[string]uint64{},
		timers:   map[*time.Timer]struct{}{},
	}
	if b.delay <= 0 {
		b.delay = DefaultContactDelay
	}
	if b.bounces <= 0 {
		b.bounces = DefaultBounces
	}
	if opts.NoBounce {
		b.bounces = 0
	}
	if b.interval <= 0 {
		b.interval = DefaultBounceInterval
	}
	for i, name := range []string{Relay, Feedback, EStop, RCD, Lid, LED} {
		l := &Line{board: b, name: name, number: i, output: name == Relay || name == LED,
			pending: make(chan struct{}, 1), halt: make(chan struct{}, 1)}
		b.pins[name] = l
	}
	return b
}

// Pin implements hal.Pins.
func (b *Board) Pin(name string) (gpio.PinIO, error) {
	l, ok := b.pins[name]
	if !ok {
		return nil, fmt.Errorf("sim: no pin %q (have %s, %s, %s, %s, %s, %s)", name, Relay, Feedback, EStop, RCD, Lid, LED)
	}
	return l, nil
}

// OnContacts registers f to be called, outside any lock, each time the
// main contacts change; the gateway's demo connects the meter simulator's
// load with it.
func (b *Board) OnContacts(f func(closed bool)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onContacts = append(b.onContacts, f)
}

// OnCoil registers f to be called, synchronously inside the RELAY pin's
// Out, each time the coil changes; benchmarks time fault-to-open with it.
// f runs while hal holds its board lock: it must not call back into the
// hal.Board, and should only record.
func (b *Board) OnCoil(f func(energised bool)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onCoil = append(b.onCoil, f)
}

// Weld makes the main contacts weld: once closed they stay closed whatever
// the coil does. Weld(false) is a replaced contactor: the contacts follow
// the coil again.
func (b *Board) Weld(on bool) {
	b.mu.Lock()
	b.welded = on
	b.scheduleContactsLocked()
	b.mu.Unlock()
}

// StickOpen makes the main contacts refuse to close (a burnt coil, a
// broken armature). StickOpen(false) repairs it.
func (b *Board) StickOpen(on bool) {
	b.mu.Lock()
	b.stuckOpen = on
	b.scheduleContactsLocked()
	b.mu.Unlock()
}

// PressEStop presses (true) or releases (false) the emergency stop, with bounce.
func (b *Board) PressEStop(on bool) { b.setSwitch(EStop, on) }

// TripRCD trips (true) or resets (false) the RCD, with bounce.
func (b *Board) TripRCD(on bool) { b.setSwitch(RCD, on) }

// OpenLid opens (true) or closes (false) the lid, with bounce.
func (b *Board) OpenLid(on bool) { b.setSwitch(Lid, on) }

// Coil reports whether the contactor coil is energised.
func (b *Board) Coil() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.coil
}

// Contacts reports whether the main contacts are closed.
func (b *Board) Contacts() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.contacts
}

// LEDLit reports whether the LED is lit.
func (b *Board) LEDLit() bool { return bool(b.pins[LED].Read()) }

// Close stops the board's pending mechanical movements (timers). Lines keep
// their levels; later changes happen without delay or bounce.
func (b *Board) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for t := range b.timers {
		t.Stop()
	}
	clear(b.timers)
}

// afterLocked runs f after d unless the board is closed.
func (b *Board) afterLocked(d time.Duration, f func()) {
	if b.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		b.mu.Lock()
		delete(b.timers, t)
		b.mu.Unlock()
		f()
	})
	b.timers[t] = struct{}{}
}

// coilChanged is called by the RELAY line's Out.
func (b *Board) coilChanged(energised bool) {
	b.mu.Lock()
	if energised == b.coil {
		b.mu.Unlock()
		return
	}
	b.coil = energised
	b.scheduleContactsLocked()
	hooks := append([]func(bool){}, b.onCoil...)
	b.mu.Unlock()
	for _, f := range hooks {
		f(energised)
	}
}

// scheduleContactsLocked makes the contacts move to where the coil and the
// faults say, after the contact delay.
func (b *Board) scheduleContactsLocked() {
	b.contactGen++
	gen := b.contactGen
	if b.closed {
		b.mu.Unlock()
		b.moveContacts(gen)
		b.mu.Lock()
		return
	}
	b.afterLocked(b.delay, func() { b.moveContacts(gen) })
}

func (b *Board) moveContacts(gen uint64) {
	b.mu.Lock()
	if gen != b.contactGen {
		b.mu.Unlock()
		return
	}
	target := b.coil
	if b.welded && b.contacts {
		target = true
	}
	if b.stuckOpen && !b.contacts {
		target = false
	}
	if target == b.contacts {
		b.mu.Unlock()
		return
	}
	b.contacts = target
	b.bounceLocked(Feedback, target)
	hooks := append([]func(bool){}, b.onContacts...)
	b.mu.Unlock()
	for _, f := range hooks {
		f(target)
	}
}

func (b *Board) setSwitch(name string, on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bounceLocked(name, on)
}

// bounceLocked moves an input line to final the way a mechanical contact
// does: the first transition at once, then chatter every interval, then
// the final level. The chatter is planned against the clock, so a timer
// that fires late (a loaded machine) skips ahead instead of stretching the
// chatter past its physical window; a later change of the same line
// cancels it.
func (b *Board) bounceLocked(name string, final bool) {
	b.lineGen[name]++
	gen := b.lineGen[name]
	l := b.pins[name]
	l.set(gpio.Level(final))
	if b.bounces == 0 || b.closed {
		return
	}
	seq := make([]bool, 0, 2*b.bounces)
	for range b.bounces {
		seq = append(seq, !final, final)
	}
	start := time.Now()
	var step func()
	step = func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.lineGen[name] != gen {
			return
		}
		elapsed := time.Since(start)
		i := int(elapsed/b.interval) - 1 // transition i is due at (i+1)*interval
		if i >= len(seq)-1 {
			l.set(gpio.Level(final))
			return
		}
		l.set(gpio.Level(seq[max(i, 0)]))
		b.afterLocked(max(0, time.Duration(i+2)*b.interval-elapsed), step)
	}
	b.afterLocked(b.interval, step)
}

// Line is one simulated GPIO line; it implements gpio.PinIO. Outputs
// (RELAY, LED) accept Out; inputs are driven by the board and refuse it.
// WaitForEdge follows periph's contract: a negative timeout waits forever,
// edges since the last call are reported at once (coalesced), and Halt
// interrupts a pending wait.
type Line struct {
	board   *Board
	name    string
	number  int
	output  bool
	pending chan struct{}
	halt    chan struct{}

	mu    sync.Mutex
	level gpio.Level
	edge  gpio.Edge
	pull  gpio.Pull
}

var _ gpio.PinIO = (*Line)(nil)

// errNotOutput is returned by Out and PWM on lines the board drives.
var errNotOutput = errors.New("sim: line is an input driven by the board")

// set changes the level as the outside world does and records an edge.
func (l *Line) set(v gpio.Level) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v == l.level {
		return
	}
	l.level = v
	if l.edge == gpio.BothEdges || (l.edge == gpio.RisingEdge && v) || (l.edge == gpio.FallingEdge && !v) {
		select {
		case l.pending <- struct{}{}:
		default:
		}
	}
}

// String implements conn.Resource.
func (l *Line) String() string { return "sim:" + l.name }

// Halt implements conn.Resource: it interrupts a pending WaitForEdge.
func (l *Line) Halt() error {
	select {
	case l.halt <- struct{}{}:
	default:
	}
	return nil
}

// Name implements pin.Pin.
func (l *Line) Name() string { return l.name }

// Number implements pin.Pin.
func (l *Line) Number() int { return l.number }

// Function implements pin.Pin.
func (l *Line) Function() string { return string(l.Func()) }

// Func implements pin.PinFunc.
func (l *Line) Func() pin.Func {
	if l.output {
		if l.Read() {
			return gpio.OUT_HIGH
		}
		return gpio.OUT_LOW
	}
	if l.Read() {
		return gpio.IN_HIGH
	}
	return gpio.IN_LOW
}

// In implements gpio.PinIn: it selects the edges to report and flushes
// edges seen before. Pulls are recorded only: the board's external
// circuitry decides the level.
func (l *Line) In(pull gpio.Pull, edge gpio.Edge) error {
	if l.output {
		return fmt.Errorf("sim: %s is an output", l.name)
	}
	l.mu.Lock()
	l.pull = pull
	l.edge = edge
	l.mu.Unlock()
	select {
	case <-l.pending:
	default:
	}
	select {
	case <-l.halt:
	default:
	}
	return nil
}

// Read implements gpio.PinIn.
func (l *Line) Read() gpio.Level {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.level
}

// WaitForEdge implements gpio.PinIn.
func (l *Line) WaitForEdge(timeout time.Duration) bool {
	l.mu.Lock()
	edge := l.edge
	l.mu.Unlock()
	if edge == gpio.NoEdge {
		return false
	}
	select {
	case <-l.pending:
		return true
	default:
	}
	var expired <-chan time.Time
	switch {
	case timeout == 0:
		return false
	case timeout > 0:
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-l.pending:
		return true
	case <-l.halt:
		return false
	case <-expired:
		return false
	}
}

// Pull implements gpio.PinIn.
func (l *Line) Pull() gpio.Pull {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pull
}

// DefaultPull implements gpio.PinIn.
func (l *Line) DefaultPull() gpio.Pull { return gpio.Float }

// Out implements gpio.PinOut. On RELAY it moves the coil, synchronously.
func (l *Line) Out(v gpio.Level) error {
	if !l.output {
		return fmt.Errorf("sim: out on %s: %w", l.name, errNotOutput)
	}
	l.mu.Lock()
	l.level = v
	l.mu.Unlock()
	if l.name == Relay {
		l.board.coilChanged(bool(v))
	}
	return nil
}

// PWM implements gpio.PinOut; the simulated lines do not support it.
func (l *Line) PWM(gpio.Duty, physic.Frequency) error {
	return fmt.Errorf("sim: pwm on %s: not supported", l.name)
}
