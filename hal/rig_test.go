package hal

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// testPins is a Pins backend of gpiotest pins.
type testPins map[string]*gpiotest.Pin

func (p testPins) Pin(name string) (gpio.PinIO, error) {
	if pin, ok := p[name]; ok {
		return pin, nil
	}
	return nil, fmt.Errorf("no pin %q", name)
}

// rig is a Board on gpiotest pins. Inputs get unbuffered edge channels:
// a test's send completes only when the watcher has taken the edge.
type rig struct {
	t                            *testing.T
	relay, fb, estop, rcd, lid   *gpiotest.Pin
	led                          *gpiotest.Pin
	pins                         testPins
	b                            *Board
	cancel                       context.CancelFunc
	runErr                       chan error
	feedbackTimeout, debounceDur time.Duration
}

func newPin(name string, input bool) *gpiotest.Pin {
	p := &gpiotest.Pin{N: name}
	if input {
		p.EdgesChan = make(chan gpio.Level)
	}
	return p
}

// rigConfig is the configuration the rig's pins match.
func rigConfig() Config {
	return Config{
		Relay:           Pin{Name: "RELAY"},
		Feedback:        &Pin{Name: "FB"},
		FeedbackTimeout: 100 * time.Millisecond,
		EStop:           &Pin{Name: "ESTOP"},
		RCD:             &Pin{Name: "RCD"},
		Lid:             &Pin{Name: "LID"},
		LED:             &Pin{Name: "LED"},
		Debounce:        10 * time.Millisecond,
	}
}

// newRig opens a board; mutate may change the config and the pins' initial
// levels before Open.
func newRig(t *testing.T, mutate func(*Config, testPins)) *rig {
	t.Helper()
	r := &rig{
		t:     t,
		relay: newPin("RELAY", false),
		fb:    newPin("FB", true),
		estop: newPin("ESTOP", true),
		rcd:   newPin("RCD", true),
		lid:   newPin("LID", true),
		led:   newPin("LED", false),
	}
	r.pins = testPins{"RELAY": r.relay, "FB": r.fb, "ESTOP": r.estop, "RCD": r.rcd, "LID": r.lid, "LED": r.led}
	cfg := rigConfig()
	if mutate != nil {
		mutate(&cfg, r.pins)
	}
	b, err := Open(cfg, r.pins, nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	b.resync = 50 * time.Millisecond
	r.b = b
	r.feedbackTimeout, r.debounceDur = cfg.feedbackTimeout(), cfg.debounce()
	return r
}

// run starts Run and registers its shutdown; inside a synctest bubble the
// caller must stop it (r.stop) before the bubble ends.
func (r *rig) run() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.runErr = make(chan error, 1)
	go func() { r.runErr <- r.b.Run(ctx) }()
	for {
		r.b.mu.Lock()
		running, ch := r.b.running, r.b.changed
		r.b.mu.Unlock()
		if running {
			return
		}
		<-ch
	}
}

// stop ends Run and checks that it left the relay open.
func (r *rig) stop() {
	r.t.Helper()
	r.cancel()
	if err := <-r.runErr; err != nil {
		r.t.Errorf("run: %v", err)
	}
	if r.coil() {
		r.t.Error("coil energised after Run returned")
	}
}

// coil reports whether the relay line is at its energised level.
func (r *rig) coil() bool { return r.b.cfg.Relay.active(r.relay.Read()) }

// set drives an input line to the level that means active/inactive and
// waits until the watcher has taken the edge.
func (r *rig) set(p *gpiotest.Pin, active bool) {
	cfg := r.cfgFor(p)
	p.EdgesChan <- cfg.level(active)
}

func (r *rig) cfgFor(p *gpiotest.Pin) Pin {
	for _, in := range r.b.inputs {
		if in.pin == gpio.PinIO(p) {
			return in.cfg
		}
	}
	r.t.Fatalf("pin %s is not a configured input", p.N)
	return Pin{}
}

// drainEvents returns the events queued so far.
func (r *rig) drainEvents() []Event {
	var out []Event
	for {
		select {
		case e := <-r.b.Events():
			out = append(out, e)
		default:
			return out
		}
	}
}

// kinds filters events of kind k.
func kinds(es []Event, k EventKind) []Event {
	var out []Event
	for _, e := range es {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// async runs f in a goroutine and returns its result channel.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// mustErr checks errors.Is for every target.
func mustErr(t *testing.T, what string, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: nil error, want %v", what, targets)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("%s: %v, want errors.Is %v", what, err, target)
		}
	}
}
