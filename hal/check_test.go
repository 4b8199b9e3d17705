package hal_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/sim"
)

// The tests run in synctest bubbles: the simulated board's timers and
// hal's use virtual time, so the measured timings are exact.

// check runs the installer check on a simulated board prepared by setup: hal.Check, or with
// running hal.CheckRunning on a board whose Run is already active (a running gateway's). Both
// must leave the coil de-energised; CheckRunning while Run still runs.
func check(t *testing.T, cfg hal.Config, setup func(*sim.Board), running bool) (hal.CheckReport, string) {
	t.Helper()
	sb := sim.New(sim.Options{})
	t.Cleanup(sb.Close)
	if setup != nil {
		setup(sb)
	}
	b, err := hal.Open(cfg, sb, nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	var rep hal.CheckReport
	if running {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx) }()
		defer func() {
			cancel()
			<-done
		}()
		if err := b.WaitRunning(ctx); err != nil {
			t.Fatal(err)
		}
		rep, err = hal.CheckRunning(ctx, b, hal.CheckOptions{Cycles: 2})
	} else {
		rep, err = hal.Check(context.Background(), b, hal.CheckOptions{Cycles: 2})
	}
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	var out strings.Builder
	if _, err := rep.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	if sb.Coil() {
		t.Error("coil energised after the check")
	}
	return rep, out.String()
}

// both runs f for hal.Check and for hal.CheckRunning.
func both(t *testing.T, f func(t *testing.T, running bool)) {
	for _, running := range []bool{false, true} {
		name := "Check"
		if running {
			name = "CheckRunning"
		}
		t.Run(name, func(t *testing.T) { f(t, running) })
	}
}

// line returns the report line of a role.
func line(t *testing.T, out, role string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == role {
			return l
		}
	}
	t.Fatalf("no %s line in:\n%s", role, out)
	return ""
}

func TestCheckHealthyBoard(t *testing.T) {
	both(t, func(t *testing.T, running bool) { synctest.Test(t, func(t *testing.T) { healthyBoard(t, running) }) })
}

func healthyBoard(t *testing.T, running bool) {
	rep, out := check(t, sim.DefaultConfig(), nil, running)
	if !rep.Pass() || !strings.Contains(out, "RESULT: PASS (6 pins checked)") {
		t.Fatalf("healthy board failed:\n%s", out)
	}
	if len(rep.CloseTimes) != 2 || len(rep.OpenTimes) != 2 {
		t.Fatalf("timings: close %v open %v, want 2 each", rep.CloseTimes, rep.OpenTimes)
	}
	// The simulated contactor moves 20 ms after its coil; the check
	// measures from the command to the contact's first edge.
	for _, d := range append(rep.CloseTimes, rep.OpenTimes...) {
		if d != sim.DefaultContactDelay {
			t.Errorf("measured %v, want %v", d, sim.DefaultContactDelay)
		}
	}
	if l := line(t, out, "feedback"); !strings.HasPrefix(l, "PASS") || !strings.Contains(l, "close 20ms..20ms, open 20ms..20ms (limit 200ms)") {
		t.Errorf("feedback line: %q", l)
	}
	// Check drives its own board's LED; on a running board the LED is its owner's.
	if l := line(t, out, "led"); running != strings.Contains(l, "driven by the running gateway") {
		t.Errorf("led line: %q", l)
	}
}

// CheckRunning refuses a board whose Run is not active: it would not see the inputs debounced
// and could not close the relay.
func TestCheckRunningNeedsRun(t *testing.T) {
	sb := sim.New(sim.Options{})
	t.Cleanup(sb.Close)
	b, err := hal.Open(sim.DefaultConfig(), sb, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hal.CheckRunning(context.Background(), b, hal.CheckOptions{}); !errors.Is(err, hal.ErrNotRunning) {
		t.Fatalf("CheckRunning on a board not running: %v, want ErrNotRunning", err)
	}
}

func TestCheckFindsFaults(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(*sim.Board)
		role   string
		detail string
	}{
		{"estop pressed", func(b *sim.Board) { b.PressEStop(true) }, "estop", "PRESSED"},
		{"rcd tripped", func(b *sim.Board) { b.TripRCD(true) }, "rcd", "TRIPPED"},
		{"contactor stuck open", func(b *sim.Board) { b.StickOpen(true) }, "relay", "failed to close"},
		{"contactor welds on its first close", func(b *sim.Board) {
			b.OnContacts(func(closed bool) {
				if closed {
					b.Weld(true)
				}
			})
		}, "relay", "contactor welded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			both(t, func(t *testing.T, running bool) {
				synctest.Test(t, func(t *testing.T) {
					rep, out := check(t, sim.DefaultConfig(), tc.setup, running)
					if rep.Pass() || !strings.Contains(out, "RESULT: FAIL") {
						t.Fatalf("passed:\n%s", out)
					}
					if l := line(t, out, tc.role); !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, tc.detail) {
						t.Fatalf("%s line %q, want FAIL with %q\n%s", tc.role, l, tc.detail, out)
					}
					if tc.role != "relay" && !strings.Contains(line(t, out, "relay"), "NOT TESTED") {
						t.Fatalf("relay cycled although a safety input was active:\n%s", out)
					}
				})
			})
		})
	}
}

func TestCheckWithoutFeedback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := sim.DefaultConfig()
		cfg.Feedback = nil
		rep, out := check(t, cfg, nil, false)
		if !rep.Pass() || !strings.Contains(line(t, out, "relay"), "no feedback configured") {
			t.Fatalf("report:\n%s", out)
		}
	})
}
