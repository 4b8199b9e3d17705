package pilot_test

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/hal/pilot"
	"github.com/chargegate/chargegate/hal/sim"
)

// A simulated vehicle plugs in and asks for energy; the pilot offers 16 A
// and allows the contactor in state C.
func Example() {
	v := sim.NewVehicle(sim.VehicleOptions{React: time.Millisecond})
	line := sim.NewControlPilot(v, sim.PilotOptions{})
	p, err := pilot.New(pilot.Config{}, line.PWMPin(), line, nil, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	_ = p.SetCurrent(ctx, 16*physic.Ampere)
	v.Plug()
	v.Request(true)
	for e := range p.Events() {
		if e.State.ContactorAllowed {
			fmt.Println("state", e.State.CP, "offered", e.State.Offered, "contactor allowed")
			return
		}
	}
	// Output: state C offered 16A contactor allowed
}
