package hal

import (
	"context"
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// Two charging points on one box: each Board has its own relay and mirror contact, both watch
// the one emergency stop through SharedPins. Pressing it opens both relays and latches both
// boards; each reports it on its own event channel; releasing it lets each be cleared.
func TestSharedEStopOpensEveryContactor(t *testing.T) {
	estop := &gpiotest.Pin{N: "ESTOP", EdgesChan: make(chan gpio.Level, 4)}
	pins := testPins{
		"RELAY1": {N: "RELAY1"}, "RELAY2": {N: "RELAY2"}, "ESTOP": estop,
	}
	shared := ShareInputs(pins)
	defer shared.Close()
	var boards []*Board
	for _, relay := range []string{"RELAY1", "RELAY2"} {
		b, err := Open(Config{Relay: Pin{Name: relay}, EStop: &Pin{Name: "ESTOP"}, Debounce: time.Millisecond}, shared, nil)
		if err != nil {
			t.Fatal(err)
		}
		boards = append(boards, b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, len(boards))
	for _, b := range boards {
		go func() { done <- b.Run(ctx) }()
	}
	defer func() {
		cancel()
		for range boards {
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}()
	for i, b := range boards {
		waitUntil(t, "board running", func() bool { return b.Status().Running })
		if err := b.CloseRelay(ctx); err != nil {
			t.Fatalf("close relay %d: %v", i+1, err)
		}
	}
	estop.EdgesChan <- gpio.High // pressed (WaitForEdge sets the level)
	for i, b := range boards {
		waitUntil(t, "relay open", func() bool { return !b.RelayClosed() })
		if !errors.Is(b.Fault(), ErrEStop) {
			t.Errorf("board %d: fault %v, want ErrEStop", i+1, b.Fault())
		}
		if !sawEvent(b, EventEStop) {
			t.Errorf("board %d: no e-stop event", i+1)
		}
		if err := b.CloseRelay(ctx); !errors.Is(err, ErrLatched) {
			t.Errorf("board %d: close while latched: %v, want ErrLatched", i+1, err)
		}
	}
	for _, p := range []string{"RELAY1", "RELAY2"} {
		if pins[p].L != gpio.Low {
			t.Errorf("%s driven %v after the e-stop", p, pins[p].L)
		}
	}
	if err := boards[1].ClearFault(); !errors.Is(err, ErrFaultPersists) {
		t.Errorf("clear while pressed: %v, want ErrFaultPersists", err)
	}
	estop.EdgesChan <- gpio.Low
	for i, b := range boards {
		waitUntil(t, "fault cleared", func() bool { return b.ClearFault() == nil && b.Fault() == nil })
		if err := b.CloseRelay(ctx); err != nil {
			t.Errorf("board %d: close after the reset: %v", i+1, err)
		}
	}
}

func sawEvent(b *Board, kind EventKind) bool {
	deadline := time.After(2 * time.Second)
	for {
		select {
		case e := <-b.Events():
			if e.Kind == kind {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
