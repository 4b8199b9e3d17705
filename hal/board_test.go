package hal

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// Inside synctest bubbles time is virtual: time.Sleep advances the fake
// clock once every goroutine is blocked, so the timing edges below are
// exact to the nanosecond and cost no wall time.

func TestOpenDrivesRelayOpenAtOnce(t *testing.T) {
	for _, activeLow := range []bool{false, true} {
		r := newRig(t, func(c *Config, p testPins) {
			c.Relay.ActiveLow = activeLow
			// The line starts at the energised level, as after a crash.
			p["RELAY"].L = c.Relay.level(true)
		})
		if r.coil() {
			t.Errorf("active_low=%t: coil energised after Open", activeLow)
		}
		if want := gpio.Level(activeLow); r.relay.Read() != want {
			t.Errorf("active_low=%t: relay line = %v, want %v", activeLow, r.relay.Read(), want)
		}
	}
}

func TestOpenErrorsNameTheField(t *testing.T) {
	pins := testPins{"RELAY": newPin("RELAY", false)}
	cfg := Config{Relay: Pin{Name: "RELAY"}, Feedback: &Pin{Name: "GPIO99"}}
	_, err := Open(cfg, pins, nil)
	if err == nil || !strings.Contains(err.Error(), "hal.feedback") {
		t.Fatalf("open with a missing feedback pin = %v, want an error naming hal.feedback", err)
	}
	if pins["RELAY"].Read() != gpio.Low {
		t.Error("relay not driven open before the failure")
	}
	_, err = Open(Config{}, pins, nil)
	if err == nil || !strings.Contains(err.Error(), "hal.relay.name: empty") {
		t.Fatalf("open with an empty config = %v", err)
	}
	// gpiotest refuses edge detection without an edge channel, like a line
	// the kernel cannot watch.
	pins["FB"] = &gpiotest.Pin{N: "FB"}
	_, err = Open(Config{Relay: Pin{Name: "RELAY"}, Feedback: &Pin{Name: "FB"}}, pins, nil)
	if err == nil || !strings.Contains(err.Error(), "configure hal.feedback FB as input") {
		t.Fatalf("open with an input that refuses edges = %v", err)
	}
}

func TestCloseRequiresRun(t *testing.T) {
	r := newRig(t, nil)
	mustErr(t, "close without Run", r.b.CloseRelay(context.Background()), ErrNotRunning)
	if r.coil() {
		t.Fatal("coil energised")
	}
	// Opening needs nothing.
	if err := r.b.OpenRelay(context.Background()); err != nil {
		t.Fatalf("open without Run: %v", err)
	}
}

// TestFeedbackDeadline pins down the deadline: the mirror contact must have
// settled (first edge + debounce) within FeedbackTimeout of the command.
func TestFeedbackDeadline(t *testing.T) {
	const timeout, debounce = 100 * time.Millisecond, 10 * time.Millisecond
	cases := []struct {
		name    string
		closing bool
		edgeAt  time.Duration // after the command; <0: never
		want    error
	}{
		{"close settles 1ms before the deadline", true, timeout - debounce - time.Millisecond, nil},
		{"close settles 1ms after the deadline", true, timeout - debounce + time.Millisecond, ErrFailedToClose},
		{"close never confirmed", true, -1, ErrFailedToClose},
		{"open settles 1ms before the deadline", false, timeout - debounce - time.Millisecond, nil},
		{"open settles 1ms after the deadline", false, timeout - debounce + time.Millisecond, ErrWelded},
		{"open never confirmed", false, -1, ErrWelded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, nil)
				r.run()
				defer r.stop()
				ctx := context.Background()
				if !tc.closing {
					done := async(func() error { return r.b.CloseRelay(ctx) })
					synctest.Wait()
					r.set(r.fb, true)
					if err := <-done; err != nil {
						t.Fatalf("close: %v", err)
					}
				}
				start := time.Now()
				done := async(func() error {
					if tc.closing {
						return r.b.CloseRelay(ctx)
					}
					return r.b.OpenRelay(ctx)
				})
				synctest.Wait()
				if r.coil() != tc.closing {
					t.Fatalf("coil = %t right after the command", r.coil())
				}
				if tc.edgeAt >= 0 {
					time.Sleep(tc.edgeAt)
					r.set(r.fb, tc.closing)
				}
				err := <-done
				elapsed := time.Since(start)
				if tc.want == nil {
					if err != nil {
						t.Fatalf("command: %v", err)
					}
					if want := tc.edgeAt + debounce; elapsed != want {
						t.Errorf("confirmed after %v, want %v", elapsed, want)
					}
					if r.b.Fault() != nil {
						t.Errorf("fault latched: %v", r.b.Fault())
					}
					return
				}
				mustErr(t, "command", err, tc.want)
				if elapsed != timeout {
					t.Errorf("fault declared after %v, want exactly %v", elapsed, timeout)
				}
				if r.coil() {
					t.Error("coil energised after a feedback fault")
				}
				evs := r.drainEvents()
				if tc.want == ErrWelded {
					if len(kinds(evs, EventWelded)) != 1 {
						t.Errorf("events = %v, want one welded", evs)
					}
					mustErr(t, "fault", r.b.Fault(), ErrWelded)
					mustErr(t, "close after weld", r.b.CloseRelay(ctx), ErrLatched, ErrWelded)
				} else {
					if len(kinds(evs, EventFailedToClose)) != 1 {
						t.Errorf("events = %v, want one failed_to_close", evs)
					}
					if r.b.Fault() != nil {
						t.Errorf("failed-to-close latched %v; it must not", r.b.Fault())
					}
				}
			})
		})
	}
}

func TestSpontaneousDisagreement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.run()
		defer r.stop()
		ctx := context.Background()
		done := async(func() error { return r.b.CloseRelay(ctx) })
		synctest.Wait()
		r.set(r.fb, true)
		if err := <-done; err != nil {
			t.Fatalf("close: %v", err)
		}
		r.drainEvents()

		// A chatter shorter than the timeout is tolerated.
		r.set(r.fb, false)
		time.Sleep(50 * time.Millisecond)
		r.set(r.fb, true)
		time.Sleep(200 * time.Millisecond)
		if !r.coil() || len(kinds(r.drainEvents(), EventFailedToClose)) != 0 {
			t.Fatal("a 50 ms feedback glitch was treated as a fault")
		}

		// The contactor drops out while commanded closed.
		dropped := time.Now()
		r.set(r.fb, false)
		time.Sleep(r.feedbackTimeout) // counted from the first edge
		synctest.Wait()
		if r.coil() || r.b.RelayClosed() {
			t.Fatal("relay still commanded closed after the contactor dropped out")
		}
		evs := r.drainEvents()
		if f := kinds(evs, EventFailedToClose); len(f) != 1 || f[0].Time.Sub(dropped) != r.feedbackTimeout {
			t.Fatalf("events = %v, want one failed_to_close %v after the drop-out", evs, r.feedbackTimeout)
		}
		if rel := kinds(evs, EventRelay); len(rel) != 1 || rel[0].Active {
			t.Fatalf("relay events = %v, want one opening", rel)
		}

		// The contacts close by themselves while commanded open: a weld.
		r.set(r.fb, true)
		time.Sleep(r.feedbackTimeout)
		synctest.Wait()
		mustErr(t, "fault", r.b.Fault(), ErrWelded)
	})
}

func TestRepeatedOpenDoesNotPostponeWeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.run()
		defer r.stop()
		start := time.Now()
		r.set(r.fb, true) // reads closed with the relay open
		time.Sleep(r.debounceDur)
		synctest.Wait() // the watcher settles the level at this same instant
		for range 5 {
			ctx, cancel := context.WithTimeout(context.Background(), 25*time.Millisecond)
			err := r.b.OpenRelay(ctx)
			cancel()
			if errors.Is(err, ErrWelded) {
				break
			}
			mustErr(t, "open", err, context.DeadlineExceeded)
		}
		if r.b.Fault() == nil {
			t.Fatal("no weld latched")
		}
		// The weld counts from the contact's first edge, not from the last
		// OpenRelay.
		if got := time.Since(start); got != r.feedbackTimeout {
			t.Fatalf("weld declared after %v, want %v", got, r.feedbackTimeout)
		}
	})
}

func TestWeldClearRefusedWhilePersisting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.run()
		defer r.stop()
		r.set(r.fb, true)
		time.Sleep(r.debounceDur + r.feedbackTimeout)
		synctest.Wait()
		mustErr(t, "fault", r.b.Fault(), ErrWelded)
		mustErr(t, "clear while welded", r.b.ClearFault(), ErrFaultPersists, ErrWelded)
		r.set(r.fb, false)
		time.Sleep(r.debounceDur)
		synctest.Wait()
		if err := r.b.ClearFault(); err != nil {
			t.Fatalf("clear after repair: %v", err)
		}
		if len(kinds(r.drainEvents(), EventFaultCleared)) != 1 {
			t.Fatal("no fault_cleared event")
		}
		if err := r.b.ClearFault(); err != nil {
			t.Fatalf("clear without a fault: %v", err)
		}
	})
}

func TestSafetyInputsTripOnFirstEdge(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pin      func(*rig) *gpiotest.Pin
		kind     EventKind
		fault    error
		activeLo bool
	}{
		{"estop", func(r *rig) *gpiotest.Pin { return r.estop }, EventEStop, ErrEStop, false},
		{"estop active-low", func(r *rig) *gpiotest.Pin { return r.estop }, EventEStop, ErrEStop, true},
		{"rcd", func(r *rig) *gpiotest.Pin { return r.rcd }, EventRCDTrip, ErrRCDTrip, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, func(c *Config, p testPins) {
					if tc.activeLo {
						c.EStop.ActiveLow = true
						p["ESTOP"].L = gpio.High // released
					}
				})
				r.run()
				defer r.stop()
				ctx := context.Background()
				done := async(func() error { return r.b.CloseRelay(ctx) })
				synctest.Wait()
				r.set(r.fb, true)
				if err := <-done; err != nil {
					t.Fatalf("close: %v", err)
				}
				r.drainEvents()
				pin := tc.pin(r)
				start := time.Now()
				// Press with bounce: active, inactive, active, all within 2 ms.
				r.set(pin, true)
				synctest.Wait()
				if r.coil() {
					t.Fatal("coil still energised after the first active edge")
				}
				if d := time.Since(start); d != 0 {
					t.Fatalf("tripped after %v of virtual time, want before any debounce", d)
				}
				r.set(r.fb, false) // the contactor follows its coil
				time.Sleep(time.Millisecond)
				r.set(pin, false)
				time.Sleep(time.Millisecond)
				r.set(pin, true)
				time.Sleep(r.debounceDur)
				synctest.Wait()
				evs := kinds(r.drainEvents(), tc.kind)
				if len(evs) != 1 || !evs[0].Active || !errors.Is(evs[0].Err, tc.fault) {
					t.Fatalf("events = %v, want exactly one active %s", evs, tc.kind)
				}
				mustErr(t, "close while latched", r.b.CloseRelay(ctx), ErrLatched, tc.fault)
				mustErr(t, "clear while active", r.b.ClearFault(), ErrFaultPersists, tc.fault)
				r.set(pin, false)
				time.Sleep(r.debounceDur)
				synctest.Wait()
				if evs := kinds(r.drainEvents(), tc.kind); len(evs) != 1 || evs[0].Active {
					t.Fatalf("release events = %v, want one inactive", evs)
				}
				mustErr(t, "close before reset", r.b.CloseRelay(ctx), ErrLatched)
				if err := r.b.ClearFault(); err != nil {
					t.Fatalf("clear: %v", err)
				}
				done = async(func() error { return r.b.CloseRelay(ctx) })
				synctest.Wait()
				r.set(r.fb, true)
				if err := <-done; err != nil {
					t.Fatalf("close after reset: %v", err)
				}
			})
		})
	}
}

func TestSafetyInputActiveAtOpenLatches(t *testing.T) {
	r := newRig(t, func(_ *Config, p testPins) { p["RCD"].L = gpio.High })
	mustErr(t, "fault", r.b.Fault(), ErrRCDTrip)
	if evs := kinds(r.drainEvents(), EventRCDTrip); len(evs) != 1 {
		t.Fatalf("events = %v", evs)
	}
}

func TestCloseReadsSafetyInputsAfresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.run()
		defer r.stop()
		// The level changed but the edge was lost.
		r.estop.Out(gpio.High)
		mustErr(t, "close", r.b.CloseRelay(context.Background()), ErrLatched, ErrEStop)
		if r.coil() {
			t.Fatal("coil energised")
		}
	})
}

func TestLostEdgeCaughtByResync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.run()
		defer r.stop()
		r.lid.Out(gpio.High) // no edge delivered
		time.Sleep(r.b.resync + r.debounceDur)
		synctest.Wait()
		if evs := kinds(r.drainEvents(), EventLid); len(evs) != 1 || !evs[0].Active {
			t.Fatalf("events = %v, want the lid found open by the resync read", evs)
		}
	})
}

func TestLidDebounced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.run()
		defer r.stop()
		// A glitch shorter than the debounce is no event.
		r.set(r.lid, true)
		time.Sleep(r.debounceDur / 2)
		r.set(r.lid, false)
		time.Sleep(2 * r.debounceDur)
		synctest.Wait()
		if evs := kinds(r.drainEvents(), EventLid); len(evs) != 0 {
			t.Fatalf("glitch produced %v", evs)
		}
		// Bouncing open: one event, after the line is quiet.
		opened := time.Now()
		for i := range 5 {
			r.set(r.lid, i%2 == 0)
			time.Sleep(time.Millisecond)
		}
		synctest.Wait()
		if evs := kinds(r.drainEvents(), EventLid); len(evs) != 0 {
			t.Fatalf("event before the line settled: %v", evs)
		}
		time.Sleep(r.debounceDur)
		synctest.Wait()
		evs := kinds(r.drainEvents(), EventLid)
		if len(evs) != 1 || !evs[0].Active {
			t.Fatalf("events = %v, want one lid open", evs)
		}
		if got, want := evs[0].Time.Sub(opened), 4*time.Millisecond+r.debounceDur; got != want {
			t.Errorf("reported after %v, want %v", got, want)
		}
		if !r.b.Status().LidOpen {
			t.Error("status does not show the lid open")
		}
		if r.b.Fault() != nil {
			t.Error("the lid latched a fault")
		}
	})
}

func TestContextCancelDuringClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.run()
		defer r.stop()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		mustErr(t, "close", r.b.CloseRelay(ctx), context.DeadlineExceeded)
		if r.coil() {
			t.Fatal("coil energised after the caller gave up")
		}
	})
}

func TestOpenWhileCloseWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.run()
		defer r.stop()
		ctx := context.Background()
		closing := async(func() error { return r.b.CloseRelay(ctx) })
		synctest.Wait()
		if err := r.b.OpenRelay(ctx); err != nil {
			t.Fatalf("open: %v", err)
		}
		if err := <-closing; err == nil || !strings.Contains(err.Error(), "superseded") {
			t.Fatalf("close = %v, want superseded", err)
		}
		if r.coil() {
			t.Fatal("coil energised")
		}
	})
}

func TestRunExitAndHaltOpenRelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.run()
		ctx := context.Background()
		done := async(func() error { return r.b.CloseRelay(ctx) })
		synctest.Wait()
		r.set(r.fb, true)
		if err := <-done; err != nil {
			t.Fatalf("close: %v", err)
		}
		for range 4 {
			go r.b.Halt()
		}
		if err := r.b.Halt(); err != nil {
			t.Fatalf("halt: %v", err)
		}
		if r.coil() {
			t.Fatal("coil energised after Halt")
		}
		if err := <-r.runErr; err != nil {
			t.Fatalf("run after halt: %v", err)
		}
		synctest.Wait()
		mustErr(t, "close after halt", r.b.CloseRelay(ctx), ErrHalted)
		mustErr(t, "run after halt", r.b.Run(ctx), ErrHalted)
		if err := r.b.OpenRelay(ctx); err != nil {
			t.Fatalf("open after halt: %v", err)
		}
		if !r.b.Status().Halted {
			t.Fatal("status not halted")
		}
		r.cancel()
	})
}

func TestRunAlreadyRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.run()
		defer r.stop()
		if err := r.b.Run(context.Background()); err == nil {
			t.Fatal("second Run succeeded")
		}
	})
}

func TestLEDPatterns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.run()
		defer r.stop()
		lit := func() bool { return r.led.Read() == gpio.High }
		// sample returns the LED level every 25 ms over one second.
		sample := func() (on int) {
			time.Sleep(10 * time.Millisecond) // stay off the pattern's edges
			for range 40 {
				time.Sleep(25 * time.Millisecond)
				if lit() {
					on++
				}
			}
			return on
		}
		r.b.SetLED(LEDCharging)
		synctest.Wait()
		if got := sample(); got != 40 {
			t.Errorf("charging: lit %d/40 samples, want steady", got)
		}
		r.b.SetLED(LEDUpdating)
		synctest.Wait()
		if got := sample(); got != 20 {
			t.Errorf("updating: lit %d/40 samples, want half", got)
		}
		// A latched fault overrides the selection.
		r.estop.Out(gpio.High)
		r.set(r.estop, true)
		synctest.Wait()
		if got := sample(); got != 20 {
			t.Errorf("fault: lit %d/40 samples, want half (4 Hz)", got)
		}
		r.b.SetLED(LEDCharging)
		if got := sample(); got == 40 {
			t.Error("fault pattern replaced by charging while latched")
		}
	})
}

func TestEventsNeverBlock(t *testing.T) {
	r := newRig(t, nil)
	r.b.mu.Lock()
	for i := range eventBuffer + 10 {
		r.b.emitLocked(Event{Kind: EventLid, Pin: strings.Repeat("x", i)})
	}
	r.b.mu.Unlock()
	evs := r.drainEvents()
	if len(evs) != eventBuffer {
		t.Fatalf("got %d events, want %d", len(evs), eventBuffer)
	}
	if last := evs[len(evs)-1]; len(last.Pin) != eventBuffer+9 {
		t.Fatalf("newest event lost: last pin length %d", len(last.Pin))
	}
}

func TestWithoutFeedback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(c *Config, _ testPins) { c.Feedback = nil })
		r.run()
		defer r.stop()
		ctx := context.Background()
		if err := r.b.CloseRelay(ctx); err != nil {
			t.Fatalf("close: %v", err)
		}
		if !r.coil() {
			t.Fatal("coil not energised")
		}
		if err := r.b.OpenRelay(ctx); err != nil {
			t.Fatalf("open: %v", err)
		}
	})
}

// failPin is a relay line whose driver can fail (a dead GPIO expander).
type failPin struct {
	*gpiotest.Pin
	fail bool
}

func (p *failPin) Out(l gpio.Level) error {
	if p.fail {
		return errors.New("i/o error")
	}
	return p.Pin.Out(l)
}

type failPins struct {
	testPins
	relay *failPin
}

func (p failPins) Pin(name string) (gpio.PinIO, error) {
	if name == "RELAY" {
		return p.relay, nil
	}
	return p.testPins.Pin(name)
}

func TestRelayDriveFailure(t *testing.T) {
	relay := &failPin{Pin: newPin("RELAY", false), fail: true}
	pins := failPins{testPins{}, relay}
	_, err := Open(Config{Relay: Pin{Name: "RELAY"}}, pins, nil)
	if err == nil || !strings.Contains(err.Error(), "drive hal.relay RELAY open: i/o error") {
		t.Fatalf("open with a failing relay driver = %v", err)
	}
	synctest.Test(t, func(t *testing.T) {
		relay.fail = false
		b, err := Open(Config{Relay: Pin{Name: "RELAY"}}, pins, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := async(func() error { return b.Run(ctx) })
		if err := b.WaitRunning(ctx); err != nil {
			t.Fatal(err)
		}
		relay.fail = true
		if err := b.CloseRelay(ctx); err == nil || !strings.Contains(err.Error(), "drive relay RELAY closed") {
			t.Fatalf("close with a failing driver = %v", err)
		}
		if b.RelayClosed() {
			t.Fatal("a command the pin refused counts as closed")
		}
		if err := b.OpenRelay(ctx); err == nil {
			t.Fatal("open with a failing driver reported success")
		}
		relay.fail = false
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
	})
}

func TestHaltOnPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(c *Config, _ testPins) { c.Feedback = nil })
		r.run()
		if err := r.b.CloseRelay(context.Background()); err != nil {
			t.Fatal(err)
		}
		recovered := make(chan any, 1)
		go func() {
			defer func() { recovered <- recover() }()
			defer r.b.HaltOnPanic()
			panic("worker failed")
		}()
		if got := <-recovered; got != "worker failed" {
			t.Fatalf("panic value = %v, want it passed on", got)
		}
		if r.coil() || !r.b.Status().Halted {
			t.Fatal("relay not opened by a panicking goroutine")
		}
		if err := <-r.runErr; err != nil {
			t.Fatalf("run: %v", err)
		}
		// Without a panic it does nothing.
		func() { defer r.b.HaltOnPanic() }()
	})
}

func TestWeldAfterEStopStillReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.run()
		defer r.stop()
		ctx := context.Background()
		done := async(func() error { return r.b.CloseRelay(ctx) })
		synctest.Wait()
		r.set(r.fb, true)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		r.set(r.estop, true) // trips; the contactor does not open: welded
		time.Sleep(r.feedbackTimeout)
		synctest.Wait()
		fault := r.b.Fault()
		mustErr(t, "fault", fault, ErrEStop, ErrWelded)
		if evs := kinds(r.drainEvents(), EventWelded); len(evs) != 1 {
			t.Fatalf("welded events = %v, want one although an e-stop was latched first", evs)
		}
		r.set(r.estop, false)
		time.Sleep(r.debounceDur)
		synctest.Wait()
		mustErr(t, "clear while welded", r.b.ClearFault(), ErrFaultPersists, ErrWelded)
	})
}

func TestActiveLowFeedbackAndLid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(c *Config, p testPins) {
			c.Relay.ActiveLow, c.Feedback.ActiveLow, c.Lid.ActiveLow = true, true, true
			p["FB"].L, p["LID"].L = gpio.High, gpio.High // contacts open, lid closed
		})
		if r.relay.Read() != gpio.High {
			t.Fatal("active-low relay not driven High (open) at Open")
		}
		r.run()
		defer r.stop()
		ctx := context.Background()
		done := async(func() error { return r.b.CloseRelay(ctx) })
		synctest.Wait()
		if r.relay.Read() != gpio.Low {
			t.Fatal("active-low relay not driven Low to close")
		}
		r.fb.EdgesChan <- gpio.Low // contacts closed
		if err := <-done; err != nil {
			t.Fatalf("close: %v", err)
		}
		r.lid.EdgesChan <- gpio.Low // lid opened
		time.Sleep(r.debounceDur)
		synctest.Wait()
		if evs := kinds(r.drainEvents(), EventLid); len(evs) != 1 || !evs[0].Active {
			t.Fatalf("lid events = %v, want one open", evs)
		}
	})
}
