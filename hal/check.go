package hal

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// CheckOptions tune the installer check.
type CheckOptions struct {
	// Cycles is how many times the relay is closed and opened (0: 3).
	Cycles int
}

// CheckResult is the verdict on one pin.
type CheckResult struct {
	Role   string // relay, feedback, estop, rcd, lid, led
	Pin    string // configured pin name
	Pass   bool
	Detail string
}

// CheckReport is the outcome of Check: one result per configured pin, in
// a fixed order, and the measured feedback timings.
type CheckReport struct {
	Results []CheckResult
	// CloseTimes and OpenTimes are, per cycle, the time from driving the
	// coil to the first edge of the mirror contact's settled transition.
	CloseTimes, OpenTimes []time.Duration
	// FeedbackTimeout is the limit the timings were held against.
	FeedbackTimeout time.Duration
}

// Pass reports whether every pin passed.
func (r CheckReport) Pass() bool {
	for _, c := range r.Results {
		if !c.Pass {
			return false
		}
	}
	return len(r.Results) > 0
}

// WriteTo prints the report for an installer: one line per pin, then the
// overall verdict.
func (r CheckReport) WriteTo(w io.Writer) (int64, error) {
	var sb strings.Builder
	failed := 0
	for _, c := range r.Results {
		verdict := "PASS"
		if !c.Pass {
			verdict = "FAIL"
			failed++
		}
		fmt.Fprintf(&sb, "%-4s  %-8s  %-12s  %s\n", verdict, c.Role, c.Pin, c.Detail)
	}
	if r.Pass() {
		fmt.Fprintf(&sb, "RESULT: PASS (%d pins checked)\n", len(r.Results))
	} else {
		fmt.Fprintf(&sb, "RESULT: FAIL (%d of %d pins failed)\n", failed, len(r.Results))
	}
	n, err := io.WriteString(w, sb.String())
	return int64(n), err
}

// Check is the installer's wiring check. It runs the board (b must be
// open and not running), reads every input with the relay open, then — only
// when no safety input is active and no fault is latched — closes and
// opens the relay opts.Cycles times, timing the mirror contact, and lights
// the LED once. The relay is open when Check returns. The error is for a
// board that could not be run; wiring faults are in the report.
func Check(ctx context.Context, b *Board, opts CheckOptions) (CheckReport, error) {
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()
	defer func() {
		cancel()
		<-done
	}()
	if err := b.awaitRunning(ctx, done); err != nil {
		return CheckReport{FeedbackTimeout: b.fbTimeout}, fmt.Errorf("check: %w", err)
	}
	return b.check(ctx, opts, true), nil
}

// CheckRunning is Check on a board whose Run is already active (a running gateway's): the
// caller must keep everything else off the relay meanwhile (hold its sessions). It judges the
// inputs as Run has debounced them and cycles the relay like Check; the LED is left to the
// caller, which drives it (its line asks the installer to confirm it shows the state). The
// relay is open when CheckRunning returns. It fails with ErrNotRunning when Run is not active.
func CheckRunning(ctx context.Context, b *Board, opts CheckOptions) (CheckReport, error) {
	b.mu.Lock()
	running := b.running
	b.mu.Unlock()
	if !running {
		return CheckReport{FeedbackTimeout: b.fbTimeout}, fmt.Errorf("check: %w", ErrNotRunning)
	}
	return b.check(ctx, opts, false), nil
}

// check judges the inputs and cycles the relay of a running board; driveLED lights the LED once
// (Check's board is its own), otherwise the LED is its running owner's.
func (b *Board) check(ctx context.Context, opts CheckOptions, driveLED bool) CheckReport {
	cycles := opts.Cycles
	if cycles <= 0 {
		cycles = 3
	}
	rep := CheckReport{FeedbackTimeout: b.fbTimeout}
	st := b.Status()
	var blocked []string
	var inputs []CheckResult
	var fbRes *CheckResult
	for _, in := range b.inputs {
		res := CheckResult{Role: in.field, Pin: in.cfg.Name, Pass: true}
		switch in.field {
		case "feedback":
			res.Detail = "reads open with the relay open"
			if st.FeedbackClosed {
				res.Pass = false
				res.Detail = "reads CLOSED with the relay open: welded contactor, or feedback wiring/active_low wrong"
				blocked = append(blocked, "feedback reads closed")
			}
			fbRes = &res
			continue // judged again with the relay cycles below
		case "estop":
			res.Detail = "released"
			if st.EStopPressed {
				res.Pass, res.Detail = false, "reads PRESSED: release it, or check the wiring and active_low"
				blocked = append(blocked, "emergency stop pressed")
			}
		case "rcd":
			res.Detail = "not tripped"
			if st.RCDTripped {
				res.Pass, res.Detail = false, "reads TRIPPED: reset it, or check the wiring and active_low"
				blocked = append(blocked, "rcd tripped")
			}
		case "lid":
			res.Detail = "closed"
			if st.LidOpen {
				res.Detail = "open (expected while the box is being installed)"
			}
		}
		inputs = append(inputs, res)
	}
	if st.Fault != nil {
		blocked = append(blocked, "latched fault: "+st.Fault.Error())
	}

	relay := CheckResult{Role: "relay", Pin: b.cfg.Relay.Name}
	switch {
	case len(blocked) > 0:
		relay.Detail = "NOT TESTED: " + strings.Join(blocked, "; ")
	default:
		relay.Pass, relay.Detail = b.cycleRelay(ctx, cycles, &rep)
		if !relay.Pass {
			b.OpenRelay(context.WithoutCancel(ctx)) // a cycle that failed may have left it closed
		}
		switch {
		case fbRes == nil && relay.Pass:
			relay.Detail += "; no feedback configured: confirm by ear that the contactor clicks"
		case fbRes != nil && relay.Pass:
			fbRes.Pass, fbRes.Detail = true, "follows the coil: "+rep.timingDetail()
		case fbRes != nil:
			fbRes.Pass, fbRes.Detail = false, "did NOT follow the coil (see relay): "+rep.timingDetail()
		}
	}
	rep.Results = append(rep.Results, relay)
	if fbRes != nil {
		rep.Results = append(rep.Results, *fbRes)
	}
	rep.Results = append(rep.Results, inputs...)
	switch {
	case b.led != nil && driveLED:
		led := CheckResult{Role: "led", Pin: b.cfg.LED.Name, Pass: true, Detail: "driven on and off: confirm it lit"}
		for _, on := range []bool{true, false} {
			if err := b.led.Out(b.cfg.LED.level(on)); err != nil {
				led.Pass, led.Detail = false, fmt.Sprintf("drive: %v", err)
				break
			}
		}
		rep.Results = append(rep.Results, led)
	case b.led != nil:
		rep.Results = append(rep.Results, CheckResult{Role: "led", Pin: b.cfg.LED.Name, Pass: true, Detail: "driven by the running gateway: confirm it shows the state"})
	}
	return rep
}

// awaitRunning waits until Run has taken over the inputs, or Run returned
// (done), or ctx ended.
func (b *Board) awaitRunning(ctx context.Context, done <-chan error) error {
	for {
		b.mu.Lock()
		running, halted, ch := b.running, b.halted, b.changed
		b.mu.Unlock()
		switch {
		case running:
			return nil
		case halted:
			return ErrHalted
		}
		select {
		case <-ch:
		case err := <-done:
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("run board: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitRunning blocks until Run is watching the inputs (so CloseRelay is
// allowed), the board is halted (ErrHalted) or ctx ends.
func (b *Board) WaitRunning(ctx context.Context) error {
	return b.awaitRunning(ctx, nil)
}

// cycleRelay closes and opens the relay, recording feedback timings.
func (b *Board) cycleRelay(ctx context.Context, cycles int, rep *CheckReport) (bool, string) {
	for i := range cycles {
		if err := b.CloseRelay(ctx); err != nil {
			return false, fmt.Sprintf("cycle %d: %v", i+1, err)
		}
		if d, ok := b.feedbackLatency(); ok {
			rep.CloseTimes = append(rep.CloseTimes, d)
		}
		if err := b.OpenRelay(ctx); err != nil {
			return false, fmt.Sprintf("cycle %d: %v", i+1, err)
		}
		if d, ok := b.feedbackLatency(); ok {
			rep.OpenTimes = append(rep.OpenTimes, d)
		}
	}
	return true, fmt.Sprintf("closed and opened %d times", cycles)
}

// feedbackLatency is the time from the last coil change to the first edge
// of the mirror contact's settled transition.
func (b *Board) feedbackLatency() (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fb == nil || b.fb.changedAt.Before(b.cmdAt) {
		return 0, false
	}
	return b.fb.changedAt.Sub(b.cmdAt), true
}

func (r CheckReport) timingDetail() string {
	span := func(ds []time.Duration) string {
		if len(ds) == 0 {
			return "n/a"
		}
		lo, hi := ds[0], ds[0]
		for _, d := range ds {
			lo, hi = min(lo, d), max(hi, d)
		}
		return fmt.Sprintf("%v..%v", lo.Round(100*time.Microsecond), hi.Round(100*time.Microsecond))
	}
	return fmt.Sprintf("close %s, open %s (limit %v)", span(r.CloseTimes), span(r.OpenTimes), r.FeedbackTimeout)
}
