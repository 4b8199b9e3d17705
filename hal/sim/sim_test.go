package sim_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/sim"
)

// testConfig is the simulated board's configuration with a feedback
// timeout generous enough for a machine whose CPUs are shared with other
// builds, for the benchmarks, which run in real time. The tests run in
// synctest bubbles, where the board's timers use virtual time and the
// default configuration is exact.
func testConfig() hal.Config {
	cfg := sim.DefaultConfig()
	cfg.FeedbackTimeout = time.Second
	return cfg
}

// start opens a hal.Board on a fresh simulated board and runs it until the
// test ends.
func start(t *testing.T, opts sim.Options) (*hal.Board, *sim.Board) {
	t.Helper()
	sb := sim.New(opts)
	t.Cleanup(sb.Close)
	return run(t, sb, sim.DefaultConfig()), sb
}

// run opens a hal.Board on sb and runs it until the test or benchmark
// ends, then checks that the coil was left de-energised.
func run(tb testing.TB, sb *sim.Board, cfg hal.Config) *hal.Board {
	tb.Helper()
	b, err := hal.Open(cfg, sb, nil)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("run: %v", err)
		}
		if sb.Coil() {
			tb.Error("coil still energised after Run returned")
		}
	})
	if err := b.WaitRunning(ctx); err != nil {
		tb.Fatalf("wait running: %v", err)
	}
	return b
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			tb.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// nextEvent returns the next event of kind k, skipping others.
func nextEvent(t *testing.T, b *hal.Board, k hal.EventKind) hal.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-b.Events():
			if e.Kind == k {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event", k)
		}
	}
}

func TestCloseOpenFollowsContacts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, sb := start(t, sim.Options{})
		var closes []bool
		contacts := make(chan bool, 8)
		sb.OnContacts(func(c bool) { contacts <- c })
		ctx := context.Background()
		if err := b.CloseRelay(ctx); err != nil {
			t.Fatalf("close relay: %v", err)
		}
		if !sb.Contacts() || !b.RelayClosed() || !b.Status().FeedbackClosed {
			t.Fatalf("after close: contacts=%t relay=%t status=%+v", sb.Contacts(), b.RelayClosed(), b.Status())
		}
		closes = append(closes, <-contacts)
		if err := b.OpenRelay(ctx); err != nil {
			t.Fatalf("open relay: %v", err)
		}
		closes = append(closes, <-contacts)
		if sb.Contacts() || b.RelayClosed() {
			t.Fatal("contacts or relay still closed after OpenRelay")
		}
		if len(closes) != 2 || !closes[0] || closes[1] {
			t.Fatalf("OnContacts calls = %v, want [true false]", closes)
		}
	})
}

func TestEStopOpensAndLatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, sb := start(t, sim.Options{})
		ctx := context.Background()
		if err := b.CloseRelay(ctx); err != nil {
			t.Fatalf("close relay: %v", err)
		}
		sb.PressEStop(true)
		e := nextEvent(t, b, hal.EventEStop)
		if !e.Active || !errors.Is(e.Err, hal.ErrEStop) {
			t.Fatalf("event = %v", e)
		}
		if sb.Coil() || b.RelayClosed() {
			t.Fatal("coil energised after e-stop")
		}
		if err := b.CloseRelay(ctx); !errors.Is(err, hal.ErrLatched) || !errors.Is(err, hal.ErrEStop) {
			t.Fatalf("close while latched = %v, want ErrLatched wrapping ErrEStop", err)
		}
		if err := b.ClearFault(); !errors.Is(err, hal.ErrFaultPersists) {
			t.Fatalf("clear while pressed = %v, want ErrFaultPersists", err)
		}
		sb.PressEStop(false)
		if e := nextEvent(t, b, hal.EventEStop); e.Active {
			t.Fatalf("release event = %v", e)
		}
		waitFor(t, "contacts to open", func() bool { return !sb.Contacts() && !b.Status().FeedbackClosed })
		if err := b.ClearFault(); err != nil {
			t.Fatalf("clear after release: %v", err)
		}
		if err := b.CloseRelay(ctx); err != nil {
			t.Fatalf("close after clear: %v", err)
		}
	})
}

func TestWeldedLatchesAndStickOpenFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, sb := start(t, sim.Options{})
		ctx := context.Background()
		sb.StickOpen(true)
		if err := b.CloseRelay(ctx); !errors.Is(err, hal.ErrFailedToClose) {
			t.Fatalf("close stuck-open contactor = %v, want ErrFailedToClose", err)
		}
		if sb.Coil() || b.Fault() != nil {
			t.Fatalf("after failed close: coil=%t fault=%v; want coil off, no latch", sb.Coil(), b.Fault())
		}
		sb.StickOpen(false)
		if err := b.CloseRelay(ctx); err != nil {
			t.Fatalf("close repaired contactor: %v", err)
		}
		sb.Weld(true)
		if err := b.OpenRelay(ctx); !errors.Is(err, hal.ErrWelded) {
			t.Fatalf("open welded contactor = %v, want ErrWelded", err)
		}
		if !errors.Is(b.Fault(), hal.ErrWelded) {
			t.Fatalf("fault = %v, want ErrWelded", b.Fault())
		}
		if err := b.CloseRelay(ctx); !errors.Is(err, hal.ErrLatched) {
			t.Fatalf("close after weld = %v, want ErrLatched", err)
		}
		if err := b.ClearFault(); !errors.Is(err, hal.ErrFaultPersists) {
			t.Fatalf("clear while welded = %v, want ErrFaultPersists", err)
		}
		sb.Weld(false) // contactor replaced
		waitFor(t, "contacts to open", func() bool { return !sb.Contacts() })
		waitFor(t, "feedback to settle open", func() bool { return !b.Status().FeedbackClosed })
		if err := b.ClearFault(); err != nil {
			t.Fatalf("clear after replacement: %v", err)
		}
	})
}
