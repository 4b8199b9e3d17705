package pilot_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/pilot"
	"github.com/chargegate/chargegate/hal/sim"
)

// contactor stands in for the relay in the state-machine tests; it behaves
// like hal.Board's relay as far as the pilot can see (closed until opened).
// TestUnplugOpensRealRelay runs the same path against hal.Board.
type contactor struct {
	mu     sync.Mutex
	closed bool
	opens  []time.Time
}

func (c *contactor) OpenRelay(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = false
	c.opens = append(c.opens, time.Now())
	return nil
}

func (c *contactor) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
}

func (c *contactor) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// rig is a pilot on a simulated line, run inside a synctest bubble, with a
// gateway stand-in that closes the contactor whenever the pilot allows it.
type rig struct {
	t    *testing.T
	v    *sim.Vehicle
	line *sim.ControlPilot
	p    *pilot.Pilot
	c    *contactor
	ctx  context.Context
}

func newRig(t *testing.T, cfg pilot.Config, vopts sim.VehicleOptions) *rig {
	t.Helper()
	v := sim.NewVehicle(vopts)
	line := sim.NewControlPilot(v, sim.PilotOptions{Noise: 200 * physic.MilliVolt})
	c := &contactor{}
	p, err := pilot.New(cfg, line.PWMPin(), line, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.Run(ctx)
	}()
	go func() { // the gateway: close when allowed (it never opens for the pilot's reasons)
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-p.Events():
				if e.State.ContactorAllowed {
					c.close()
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return &rig{t: t, v: v, line: line, p: p, c: c, ctx: ctx}
}

func (r *rig) state() hal.ControlState {
	s, err := r.p.State(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// until advances the bubble's clock in steps of 1 ms until cond holds or
// limit passes, and returns the simulated time it took.
func (r *rig) until(what string, limit time.Duration, cond func(hal.ControlState) bool) time.Duration {
	r.t.Helper()
	start := time.Now()
	for {
		synctest.Wait()
		if cond(r.state()) {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			r.t.Fatalf("%s: not within %s; state %+v, duty %.2f %%", what, limit, r.state(), dutyPct(r.line.Duty()))
		}
		time.Sleep(time.Millisecond)
	}
}

// charging plugs the vehicle in, asks for energy and waits for the pilot to
// allow the contactor, which the gateway stand-in closes.
func (r *rig) charging() {
	r.t.Helper()
	r.v.Plug()
	r.until("state B with PWM", time.Second, func(s hal.ControlState) bool {
		return s.CP == hal.CPStateB && s.Offered > 0
	})
	r.v.Request(true)
	r.until("contactor allowed in C", time.Second, func(s hal.ControlState) bool { return s.ContactorAllowed })
	synctest.Wait()
	if !r.c.isClosed() {
		r.t.Fatal("the gateway did not close the contactor on the event")
	}
}

// TestSession: plug in, the pilot offers the setpoint as PWM in B, the
// vehicle requests, the contactor is allowed only in C with a current
// offered, a new setpoint changes the duty without opening the contactor,
// and unplugging mid-charge opens it on the first measurement that sees it
// — within one period, although a new state otherwise needs Debounce (5
// here) measurements.
func TestSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, pilot.Config{Max: 32 * physic.Ampere, Debounce: 5}, sim.VehicleOptions{})
		if s := r.state(); s.CP != hal.CPUnknown || s.ContactorAllowed || r.line.Duty() != pilot.DutyNone {
			t.Fatalf("before the first measurement: %+v, duty %.1f %%", s, dutyPct(r.line.Duty()))
		}
		r.until("state A", 100*time.Millisecond, func(s hal.ControlState) bool { return s.CP == hal.CPStateA })
		if err := r.p.SetCurrent(r.ctx, 16*physic.Ampere); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(50 * time.Millisecond)
		if d := r.line.Duty(); d != pilot.DutyNone {
			t.Fatalf("state A with a setpoint: duty %.2f %%, want no PWM (100 %%)", dutyPct(d))
		}

		r.charging()
		want, _ := pilot.DutyForCurrent(16 * physic.Ampere)
		if d := r.line.Duty(); d != want {
			t.Errorf("charging at 16 A: duty %.3f %%, want %.3f %%", dutyPct(d), dutyPct(want))
		}
		if s := r.state(); s.CP != hal.CPStateC || s.Offered != 16*physic.Ampere || s.Fault != nil {
			t.Errorf("charging: %+v", s)
		}

		// A new setpoint above Max is capped; the contactor stays.
		if err := r.p.SetCurrent(r.ctx, 40*physic.Ampere); err != nil {
			t.Fatal(err)
		}
		r.until("offer capped at Max", 100*time.Millisecond, func(s hal.ControlState) bool { return s.Offered == 32*physic.Ampere })
		if !r.c.isClosed() || len(r.c.opens) != 0 {
			t.Fatalf("changing the setpoint opened the contactor (%d opens)", len(r.c.opens))
		}

		r.v.Unplug()
		unplugged := time.Now()
		took := r.until("contactor open after unplug", time.Second, func(hal.ControlState) bool { return !r.c.isClosed() })
		if took > pilot.DefaultPeriod+time.Millisecond {
			t.Errorf("contactor opened %s after the unplug, want within one period (%s)", took, pilot.DefaultPeriod)
		}
		if len(r.c.opens) != 1 || r.c.opens[0].Sub(unplugged) > pilot.DefaultPeriod {
			t.Errorf("opens %v", r.c.opens)
		}
		r.until("state A", time.Second, func(s hal.ControlState) bool { return s.CP == hal.CPStateA && !s.ContactorAllowed })
		if d := r.line.Duty(); d != pilot.DutyNone {
			t.Errorf("unplugged: duty %.2f %%, want no PWM", dutyPct(d))
		}
	})
}

// TestPause: a setpoint of 0 stops the PWM; a compliant vehicle answers
// with state B and the contactor opens then, before PauseGrace; resuming
// offers again and the vehicle returns to C.
func TestPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, pilot.Config{}, sim.VehicleOptions{React: 200 * time.Millisecond})
		if err := r.p.SetCurrent(r.ctx, 10*physic.Ampere); err != nil {
			t.Fatal(err)
		}
		r.charging()
		if err := r.p.SetCurrent(r.ctx, 0); err != nil {
			t.Fatal(err)
		}
		took := r.until("vehicle back in B", time.Second, func(s hal.ControlState) bool { return s.CP == hal.CPStateB })
		if r.line.Duty() != pilot.DutyNone {
			t.Errorf("paused: duty %.2f %%, want 100 %%", dutyPct(r.line.Duty()))
		}
		synctest.Wait()
		if r.c.isClosed() || len(r.c.opens) != 1 {
			t.Fatalf("paused and in B: contactor closed %v, opens %d", r.c.isClosed(), len(r.c.opens))
		}
		if took >= pilot.DefaultPauseGrace {
			t.Errorf("opened after %s: waited for the grace, not for the vehicle", took)
		}
		if err := r.p.SetCurrent(r.ctx, 10*physic.Ampere); err != nil {
			t.Fatal(err)
		}
		r.until("resumed", time.Second, func(s hal.ControlState) bool { return s.ContactorAllowed })
	})
}

// TestPauseStubbornVehicle: a vehicle that keeps requesting after the
// offer was withdrawn gets the contactor opened under load after
// PauseGrace, not before.
func TestPauseStubbornVehicle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		grace := 2 * time.Second
		r := newRig(t, pilot.Config{PauseGrace: grace}, sim.VehicleOptions{Stubborn: true})
		if err := r.p.SetCurrent(r.ctx, 16*physic.Ampere); err != nil {
			t.Fatal(err)
		}
		r.charging()
		if err := r.p.SetCurrent(r.ctx, 0); err != nil {
			t.Fatal(err)
		}
		took := r.until("contactor open", 2*grace, func(hal.ControlState) bool { return !r.c.isClosed() })
		if took < grace || took > grace+2*pilot.DefaultPeriod {
			t.Errorf("opened %s after the pause, want after the %s grace", took, grace)
		}
		if s := r.state(); s.CP != hal.CPStateC || s.ContactorAllowed {
			t.Errorf("stubborn vehicle after the grace: %+v", s)
		}
	})
}

// TestFaults: each fault opens the contactor at once, stops the PWM, and
// the latched ones stand until the vehicle is unplugged.
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    pilot.Config
		inject func(r *rig)
		want   error
		latch  bool
		clear  func(r *rig)
	}{
		{name: "diode missing", inject: func(r *rig) { r.v.RemoveDiode(true) }, want: pilot.ErrDiodeFault, latch: true,
			clear: func(r *rig) { r.v.RemoveDiode(false) }},
		{name: "CP shorted (E)", inject: func(r *rig) { r.v.Short(true) }, want: pilot.ErrShortCircuit, latch: true,
			clear: func(r *rig) { r.v.Short(false) }},
		{name: "ventilation required (D)", inject: func(r *rig) { r.v.Ventilation(true) }, want: pilot.ErrVentilation,
			clear: func(r *rig) { r.v.Ventilation(false) }},
		{name: "ADC fails", inject: func(r *rig) { r.line.FailSamples(5) }, want: pilot.ErrSampler},
		{name: "PWM output fails", inject: func(r *rig) {
			r.line.FailPWM(errors.New("timer stuck"))
			_ = r.p.SetCurrent(r.ctx, 10*physic.Ampere) // the next duty change meets the failure
		}, want: pilot.ErrOutput, clear: func(r *rig) { r.line.FailPWM(nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, tc.cfg, sim.VehicleOptions{})
				if err := r.p.SetCurrent(r.ctx, 16*physic.Ampere); err != nil {
					t.Fatal(err)
				}
				r.charging()
				tc.inject(r)
				r.until("fault", time.Second, func(s hal.ControlState) bool { return s.Fault != nil })
				s := r.state()
				if !errors.Is(s.Fault, tc.want) || s.ContactorAllowed || s.Offered != 0 {
					t.Fatalf("after the fault: %+v, want %v", s, tc.want)
				}
				synctest.Wait()
				if r.c.isClosed() {
					t.Fatal("contactor still closed after the fault")
				}
				if tc.want != pilot.ErrOutput && r.line.Duty() != pilot.DutyNone {
					t.Errorf("fault: duty %.2f %%, want no PWM", dutyPct(r.line.Duty()))
				}
				if tc.clear != nil {
					tc.clear(r)
				}
				time.Sleep(200 * time.Millisecond)
				synctest.Wait()
				if s := r.state(); (s.Fault != nil) != tc.latch {
					t.Fatalf("cause removed, vehicle plugged: fault %v, want latched %v", s.Fault, tc.latch)
				}
				if tc.latch {
					r.v.Unplug()
					r.until("fault cleared by unplugging", time.Second, func(s hal.ControlState) bool { return s.CP == hal.CPStateA && s.Fault == nil })
				}
			})
		})
	}
}

// TestVentilationConfigured: with ventilation, state D charges.
func TestVentilationConfigured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, pilot.Config{Ventilation: true}, sim.VehicleOptions{})
		r.v.Ventilation(true)
		if err := r.p.SetCurrent(r.ctx, 16*physic.Ampere); err != nil {
			t.Fatal(err)
		}
		r.charging()
		if s := r.state(); s.CP != hal.CPStateD || s.Fault != nil {
			t.Fatalf("%+v", s)
		}
	})
}

// TestDiodeCheckedBeforeClosing: a vehicle without its diode that asks for
// energy at once never gets the contactor allowed: the first measurement
// with the PWM running finds the fault (and the pilot also requires a
// passed check before allowing, which this sequence cannot reach).
func TestDiodeCheckedBeforeClosing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, pilot.Config{}, sim.VehicleOptions{})
		r.v.RemoveDiode(true)
		r.v.Plug()
		r.v.Request(true)
		if err := r.p.SetCurrent(r.ctx, 16*physic.Ampere); err != nil {
			t.Fatal(err)
		}
		for range 100 {
			time.Sleep(time.Millisecond)
			synctest.Wait()
			if s := r.state(); s.ContactorAllowed {
				t.Fatalf("contactor allowed without a diode: %+v", s)
			}
		}
		if s := r.state(); !errors.Is(s.Fault, pilot.ErrDiodeFault) {
			t.Fatalf("fault %v, want ErrDiodeFault", s.Fault)
		}
	})
}

// TestSetCurrentRange: 0 and 6–80 A are accepted, other values refused.
func TestSetCurrentRange(t *testing.T) {
	line := sim.NewControlPilot(sim.NewVehicle(sim.VehicleOptions{}), sim.PilotOptions{})
	p, err := pilot.New(pilot.Config{}, line.PWMPin(), line, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []physic.ElectricCurrent{0, 6 * physic.Ampere, 80 * physic.Ampere} {
		if err := p.SetCurrent(t.Context(), a); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	for _, a := range []physic.ElectricCurrent{3 * physic.Ampere, 81 * physic.Ampere} {
		if err := p.SetCurrent(t.Context(), a); !errors.Is(err, hal.ErrCurrentRange) {
			t.Errorf("%s: %v, want ErrCurrentRange", a, err)
		}
	}
	if _, err := pilot.New(pilot.Config{Max: 5 * physic.Ampere}, line.PWMPin(), line, nil, nil); !errors.Is(err, hal.ErrCurrentRange) {
		t.Errorf("Max 5 A: %v", err)
	}
}

// TestHaltSignalsF: when Run returns, the line shows state F (0 % duty)
// and the contactor has been opened.
func TestHaltSignalsF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := sim.NewVehicle(sim.VehicleOptions{})
		line := sim.NewControlPilot(v, sim.PilotOptions{})
		c := &contactor{closed: true}
		p, err := pilot.New(pilot.Config{}, line.PWMPin(), line, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
		time.Sleep(50 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if d := line.Duty(); d != gpio.Duty(0) || c.isClosed() {
			t.Fatalf("after Run: duty %.1f %%, contactor closed %v", dutyPct(d), c.isClosed())
		}
		if err := p.SetCurrent(t.Context(), 16*physic.Ampere); !errors.Is(err, pilot.ErrHalted) {
			t.Errorf("SetCurrent after halt: %v", err)
		}
		if s, _ := p.State(t.Context()); !errors.Is(s.Fault, pilot.ErrHalted) {
			t.Errorf("state after halt: %+v", s)
		}
	})
}

// TestUnplugOpensRealRelay runs the pilot against hal's real relay logic on
// the simulated board: the gateway closes the relay when the pilot allows
// it, and unplugging mid-charge makes the pilot open it — coil and main
// contacts — with no help from the gateway. Real time; no timing asserted
// (BenchmarkUnplugToCoilOpen measures it).
func TestUnplugOpensRealRelay(t *testing.T) {
	board := sim.New(sim.Options{ContactDelay: 5 * time.Millisecond})
	defer board.Close()
	relay, err := hal.Open(sim.DefaultConfig(), board, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go relay.Run(ctx)
	if err := relay.WaitRunning(ctx); err != nil {
		t.Fatal(err)
	}
	v := sim.NewVehicle(sim.VehicleOptions{React: 5 * time.Millisecond})
	line := sim.NewControlPilot(v, sim.PilotOptions{})
	p, err := pilot.New(pilot.Config{}, line.PWMPin(), line, relay, nil)
	if err != nil {
		t.Fatal(err)
	}
	go p.Run(ctx)
	if err := p.SetCurrent(ctx, 16*physic.Ampere); err != nil {
		t.Fatal(err)
	}
	v.Plug()
	v.Request(true)
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for !cond() {
			select {
			case <-deadline:
				t.Fatalf("%s: not within 5 s", what)
			case <-p.Events():
			case <-time.After(time.Millisecond):
			}
		}
	}
	wait("contactor allowed", func() bool { s, _ := p.State(ctx); return s.ContactorAllowed })
	if err := relay.CloseRelay(ctx); err != nil {
		t.Fatal(err)
	}
	if !board.Contacts() {
		t.Fatal("main contacts not closed")
	}
	v.Unplug()
	wait("coil de-energised and contacts open", func() bool { return !board.Coil() && !board.Contacts() })
	if relay.RelayClosed() {
		t.Error("hal still commands the relay closed")
	}
}
