package heidelberg_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/hal/heidelberg"
	"github.com/chargegate/chargegate/hal/sim"
)

// Set the current of a (simulated) Energy Control over Modbus TCP and read
// its state while a vehicle charges.
func Example() {
	box := sim.NewEnergyControl(sim.NewVehicle(sim.VehicleOptions{React: time.Millisecond}), sim.EnergyControlOptions{})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go box.ServeTCP(ctx, ln)

	c, err := heidelberg.Open(ctx, heidelberg.Config{URL: "tcp://" + ln.Addr().String()}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	_ = c.SetCurrent(ctx, 10*physic.Ampere)
	box.Vehicle().Plug()
	box.Vehicle().Request(true)
	for range 1000 {
		s, err := c.State(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		if s.ContactorAllowed {
			fmt.Println("state", s.CP, "offered", s.Offered)
			return
		}
		<-time.After(time.Millisecond)
	}
	// Output: state C offered 10A
}
