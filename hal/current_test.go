package hal_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/heidelberg"
	"github.com/chargegate/chargegate/hal/pilot"
	"github.com/chargegate/chargegate/hal/sim"
)

var (
	_ hal.CurrentControl = (*pilot.Pilot)(nil)
	_ hal.CurrentControl = (*heidelberg.Controller)(nil)
)

// backend is one CurrentControl with the simulated vehicle behind it.
type backend struct {
	name string
	open func(t *testing.T, v *sim.Vehicle) hal.CurrentControl
}

var backends = []backend{
	{"pilot", func(t *testing.T, v *sim.Vehicle) hal.CurrentControl {
		line := sim.NewControlPilot(v, sim.PilotOptions{})
		p, err := pilot.New(pilot.Config{}, line.PWMPin(), line, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = p.Run(ctx)
		}()
		go func() { // drain events: the state is read with State
			for {
				select {
				case <-ctx.Done():
					return
				case <-p.Events():
				}
			}
		}()
		t.Cleanup(func() { cancel(); <-done })
		return p
	}},
	{"heidelberg", func(t *testing.T, v *sim.Vehicle) hal.CurrentControl {
		box := sim.NewEnergyControl(v, sim.EnergyControlOptions{})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = box.ServeTCP(ctx, ln)
		}()
		c, err := heidelberg.Open(t.Context(), heidelberg.Config{URL: "tcp://" + ln.Addr().String()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); cancel(); <-done })
		return c
	}},
}

// TestCurrentControlContract runs the CurrentControl contract against both
// backends, each with a simulated vehicle: out-of-range setpoints are
// refused, a vehicle that plugs in and requests gets the setpoint offered
// and the contactor allowed in C, 0 A pauses (nothing offered, contactor
// not allowed, the vehicle stays plugged in), a new setpoint resumes, and
// unplugging ends in A with nothing allowed.
func TestCurrentControlContract(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			v := sim.NewVehicle(sim.VehicleOptions{React: 5 * time.Millisecond})
			cc := b.open(t, v)
			ctx := t.Context()
			wait := func(what string, cond func(hal.ControlState) bool) hal.ControlState {
				t.Helper()
				deadline := time.After(5 * time.Second)
				for {
					s, err := cc.State(ctx)
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					if cond(s) {
						return s
					}
					select {
					case <-deadline:
						t.Fatalf("%s: last state %+v", what, s)
					case <-time.After(2 * time.Millisecond):
					}
				}
			}
			for _, a := range []physic.ElectricCurrent{physic.Ampere, 5 * physic.Ampere, 81 * physic.Ampere} {
				if err := cc.SetCurrent(ctx, a); !errors.Is(err, hal.ErrCurrentRange) {
					t.Errorf("SetCurrent(%s): %v, want ErrCurrentRange", a, err)
				}
			}
			if err := cc.SetCurrent(ctx, 10*physic.Ampere); err != nil {
				t.Fatal(err)
			}
			wait("no vehicle", func(s hal.ControlState) bool { return s.CP == hal.CPStateA && !s.ContactorAllowed })
			v.Plug()
			v.Request(true)
			s := wait("charging", func(s hal.ControlState) bool { return s.ContactorAllowed })
			if s.CP != hal.CPStateC || s.Offered != 10*physic.Ampere || s.Setpoint != 10*physic.Ampere || s.Fault != nil {
				t.Fatalf("charging: %+v", s)
			}
			if err := cc.SetCurrent(ctx, 0); err != nil {
				t.Fatal(err)
			}
			s = wait("paused", func(s hal.ControlState) bool { return !s.ContactorAllowed && s.Offered == 0 && s.CP == hal.CPStateB })
			if s.Setpoint != 0 || s.Fault != nil {
				t.Fatalf("paused: %+v", s)
			}
			if err := cc.SetCurrent(ctx, 6*physic.Ampere); err != nil {
				t.Fatal(err)
			}
			wait("resumed", func(s hal.ControlState) bool { return s.ContactorAllowed && s.Offered == 6*physic.Ampere })
			v.Unplug()
			wait("unplugged", func(s hal.ControlState) bool { return s.CP == hal.CPStateA && !s.ContactorAllowed })
		})
	}
}
