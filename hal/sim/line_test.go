package sim_test

import (
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/chargegate/chargegate/hal/sim"
)

// TestLineContract checks the parts of periph's gpio.PinIn contract that
// hal relies on, on a simulated input line.
func TestLineContract(t *testing.T) {
	b := sim.New(sim.Options{NoBounce: true})
	defer b.Close()
	p, err := b.Pin(sim.Lid)
	if err != nil {
		t.Fatal(err)
	}
	if p.WaitForEdge(time.Millisecond) {
		t.Fatal("edge reported before In selected edges")
	}
	if err := p.In(gpio.PullNoChange, gpio.RisingEdge); err != nil {
		t.Fatal(err)
	}
	if p.WaitForEdge(0) {
		t.Fatal("zero timeout reported an edge that did not happen")
	}
	// Edges that happened before the call are reported at once.
	b.OpenLid(true)
	if !p.WaitForEdge(0) || p.Read() != gpio.High {
		t.Fatal("rising edge not reported, or level not High")
	}
	// Only the selected edges count.
	b.OpenLid(false)
	if p.WaitForEdge(0) {
		t.Fatal("falling edge reported with RisingEdge selected")
	}
	// In flushes edges seen before it.
	b.OpenLid(true)
	if err := p.In(gpio.PullNoChange, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	if p.WaitForEdge(0) {
		t.Fatal("In did not flush an earlier edge")
	}
	// A negative timeout waits until an edge comes.
	got := make(chan bool, 1)
	go func() { got <- p.WaitForEdge(-1) }()
	b.OpenLid(false)
	if !<-got {
		t.Fatal("WaitForEdge(-1) returned without an edge")
	}
	// Halt interrupts a wait.
	go func() { got <- p.WaitForEdge(-1) }()
	for {
		_ = p.Halt()
		select {
		case ok := <-got:
			if ok {
				t.Fatal("interrupted wait reported an edge")
			}
			goto halted
		case <-time.After(time.Millisecond):
		}
	}
halted:
	if err := p.Out(gpio.High); err == nil {
		t.Fatal("an input line accepted Out")
	}
	if _, err := b.Pin("GPIO4"); err == nil {
		t.Fatal("unknown pin name accepted")
	}
	relay, _ := b.Pin(sim.Relay)
	if err := relay.In(gpio.PullNoChange, gpio.BothEdges); err == nil {
		t.Fatal("the coil output accepted In")
	}
}

// TestContactorMechanics checks delay, bounce, weld and stick-open on the
// raw lines, without hal.
func TestContactorMechanics(t *testing.T) { synctest.Test(t, testContactorMechanics) }

// testContactorMechanics runs in a synctest bubble: the board's timers use
// virtual time, so delays and chatter are exact.
func testContactorMechanics(t *testing.T) {
	const delay = 30 * time.Millisecond
	b := sim.New(sim.Options{ContactDelay: delay, Bounces: 2, BounceInterval: time.Millisecond})
	defer b.Close()
	coil, _ := b.Pin(sim.Relay)
	fb, _ := b.Pin(sim.Feedback)
	if err := fb.In(gpio.PullNoChange, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	moved := make(chan time.Time, 4)
	b.OnContacts(func(bool) { moved <- time.Now() })
	energised := make(chan bool, 4)
	b.OnCoil(func(on bool) { energised <- on })

	start := time.Now()
	if err := coil.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	if !<-energised || !b.Coil() {
		t.Fatal("OnCoil not called with the coil energised")
	}
	if d := (<-moved).Sub(start); d != delay {
		t.Fatalf("contacts moved after %v, want %v", d, delay)
	}
	// Chatter: the first edge, then two back-and-forth pairs 1 ms apart.
	edges := 0
	for fb.WaitForEdge(20 * time.Millisecond) {
		edges++
	}
	if edges != 5 || fb.Read() != gpio.High {
		t.Fatalf("saw %d edges, final level %v; want 5 settling High", edges, fb.Read())
	}
	if d := time.Since(start); d != delay+4*time.Millisecond+20*time.Millisecond {
		t.Fatalf("settled at %v", d)
	}

	b.Weld(true)
	_ = coil.Out(gpio.Low)
	if fb.WaitForEdge(3 * delay) {
		t.Fatal("welded contacts moved")
	}
	if !b.Contacts() || fb.Read() != gpio.High {
		t.Fatal("welded contacts opened")
	}
	b.Weld(false) // replaced: follows the de-energised coil
	for fb.WaitForEdge(2 * delay) {
	}
	if b.Contacts() || fb.Read() != gpio.Low {
		t.Fatal("repaired contacts did not open")
	}

	b.StickOpen(true)
	_ = coil.Out(gpio.High)
	if fb.WaitForEdge(3 * delay) {
		t.Fatal("stuck-open contacts moved")
	}
	if b.Contacts() {
		t.Fatal("stuck-open contacts closed")
	}
}
