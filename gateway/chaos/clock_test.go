package chaos_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/hal"
	halsim "github.com/chargegate/chargegate/hal/sim"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/sqlite"
	"github.com/chargegate/chargegate/meter"
)

// stepClock is a wall clock that an operator (or NTP) steps: real time plus an offset.
type stepClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// set makes the clock read t now.
func (c *stepClock) set(t time.Time) {
	c.mu.Lock()
	c.offset = time.Until(t)
	c.mu.Unlock()
}

func (c *stepClock) step(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// status is the OCMF time status a gateway should give the clock: a Pi without an RTC boots
// in 1970 (unsynchronised, U) until NTP sets it (S). It mirrors the gateway's kernel time status, which
// reads the process clock and the kernel's NTP flag and so cannot follow an injected clock.
func (c *stepClock) status() ledger.TimeStatus {
	if c.Now().Year() < 2024 {
		return ledger.TimeUnsynchronised
	}
	return ledger.TimeSynchronised
}

// clockRig runs the real control loop in-process — metersim over Modbus TCP, the simulated
// board, a real store — with one injected stepping clock for the meter's reading times, the
// control loop and the store. `chargegate run` has no way to take a clock, so this is the
// closest whole-gateway test of clock steps there is.
type clockRig struct {
	clock *stepClock
	store *sqlite.Store
	gw    *gateway.Controller
	stop  func() error
}

func startClockRig(t *testing.T, clock *stepClock) *clockRig {
	t.Helper()
	s := rig.StartStack(t, rig.StackOptions{NoNode: true})
	ctx, cancel := context.WithCancel(context.Background())
	data := t.TempDir()
	keys, err := ledger.LoadOrCreateKeys(data)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, data, sqlite.Options{Key: keys.Entry, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	m, err := meter.Open(ctx, meter.Config{URL: s.Metersim["modbus"], Model: "sdm630", Unit: 1,
		Timeout: 300 * time.Millisecond, Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	board, err := hal.Open(halsim.DefaultConfig(), halsim.New(halsim.Options{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	const poll = 40 * time.Millisecond
	gw, err := gateway.NewController(m, board, store, gateway.Options{
		PollInterval: poll, RecordIntervalCharging: poll, RecordIntervalIdle: poll,
		Policy: gateway.SessionPolicy{Authorized: true},
		Now:    clock.Now, TimeStatus: clock.status,
	})
	if err != nil {
		t.Fatal(err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return board.Run(gctx) })
	g.Go(func() error { return gw.Run(gctx) })
	r := &clockRig{clock: clock, store: store, gw: gw}
	var once sync.Once
	var stopErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			err := g.Wait()
			if errors.Is(err, context.Canceled) {
				err = nil
			}
			stopErr = errors.Join(err, m.Close())
		})
		return stopErr
	}
	t.Cleanup(func() {
		r.stop()
		store.Close()
	})
	return r
}

// readingsAfter waits for n readings after seq and returns them.
func (r *clockRig) readingsAfter(t *testing.T, what string, seq uint64, n int) []ledger.Entry {
	t.Helper()
	var got []ledger.Entry
	rig.WaitFor(t, 10*time.Second, what, func() bool {
		es, err := r.store.Entries(context.Background(), seq+1, 1000)
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, e := range es {
			if e.Kind == ledger.KindReading {
				got = append(got, e)
			}
		}
		return len(got) >= n
	})
	return got
}

func (r *clockRig) head() uint64 {
	seq, _ := r.store.Head()
	return seq
}

// checkPhase requires readings stamped by the stepped clock (within a margin) with the status.
func checkPhase(t *testing.T, what string, es []ledger.Entry, around time.Time, want ledger.TimeStatus) {
	t.Helper()
	for _, e := range es {
		if d := e.Time.Sub(around); d < -5*time.Second || d > 5*time.Second {
			t.Errorf("%s: reading %d stamped %v, want about %v", what, e.Seq, e.Time, around)
		}
		if e.TimeStatus != want {
			t.Errorf("%s: reading %d has time status %v, want %v", what, e.Seq, e.TimeStatus, want)
		}
	}
}

// TestClockStepsForward boots the control loop with the clock in 1970 (a Pi without an RTC),
// lets NTP step it to the present, then a day forward. Readings go on without interruption,
// stamped with the clock of the moment and status U before NTP and S after; the sequence and the
// chain stay intact. (Backward steps: see the chaosbugs tests.)
func TestClockStepsForward(t *testing.T) {
	clock := &stepClock{}
	clock.set(time.Date(1970, 1, 1, 0, 0, 5, 0, time.UTC))
	r := startClockRig(t, clock)

	es := r.readingsAfter(t, "readings at boot in 1970", 0, 5)
	checkPhase(t, "1970 at boot", es, clock.Now(), ledger.TimeUnsynchronised)

	clock.set(time.Now()) // NTP steps the clock by ~56 years
	es = r.readingsAfter(t, "readings after NTP set the clock", r.head(), 5)
	checkPhase(t, "after NTP", es, clock.Now(), ledger.TimeSynchronised)

	clock.step(24 * time.Hour)
	es = r.readingsAfter(t, "readings a day ahead", r.head(), 5)
	checkPhase(t, "+1 day", es, clock.Now(), ledger.TimeSynchronised)

	if err := r.stop(); err != nil {
		t.Fatalf("control loop: %v", err)
	}
	verifyStore(t, r)
}

// verifyStore verifies the whole chain (sequence, links, signatures).
func verifyStore(t *testing.T, r *clockRig) ledger.ChainStats {
	t.Helper()
	st, err := ledger.VerifyChain(r.store.All(context.Background()), ledger.ChainOptions{Key: r.store.DeviceKey()})
	if err != nil {
		t.Fatalf("chain after clock steps: %v", err)
	}
	if head := r.head(); st.Last != head || st.First != 1 || uint64(st.Entries) != head {
		t.Fatalf("chain %d..%d with %d entries, store head %d", st.First, st.Last, st.Entries, head)
	}
	t.Logf("chain ok: %d entries, %d gaps", st.Entries, st.Gaps)
	return st
}

// TestClockStepBack steps the clock back by a day while the loop runs: recording goes on at
// once (scheduling runs on elapsed time, not on wall differences), stamped with the stepped
// clock; the chain stays intact. Regression test for a silent day-long hole.
func TestClockStepBack(t *testing.T) {
	clock := &stepClock{}
	r := startClockRig(t, clock)
	r.readingsAfter(t, "readings before the step", 0, 5)
	clock.step(-24 * time.Hour)
	es := r.readingsAfter(t, "readings after the clock stepped back a day", r.head(), 5)
	checkPhase(t, "-1 day", es, clock.Now(), ledger.TimeSynchronised)
	if err := r.stop(); err != nil {
		t.Fatalf("control loop: %v", err)
	}
	verifyStore(t, r)
}
