package sim_test

import (
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/chargegate/chargegate/hal/sim"
)

// The simulated contactor follows its coil after the contact delay, and
// tells the meter simulator when its main contacts move.
func Example() {
	board := sim.New(sim.Options{ContactDelay: 5 * time.Millisecond, NoBounce: true})
	defer board.Close()
	moved := make(chan bool, 1)
	board.OnContacts(func(closed bool) { moved <- closed }) // e.g. connect the meter simulator's load

	coil, _ := board.Pin(sim.Relay)
	feedback, _ := board.Pin(sim.Feedback)
	_ = feedback.In(gpio.PullNoChange, gpio.BothEdges)
	_ = coil.Out(gpio.High)
	fmt.Println("contacts closed:", <-moved, "mirror reads:", feedback.Read())

	board.Weld(true)
	_ = feedback.In(gpio.PullNoChange, gpio.BothEdges) // forget the edges seen so far
	_ = coil.Out(gpio.Low)
	fmt.Println("mirror moved within 50ms:", feedback.WaitForEdge(50*time.Millisecond))
	fmt.Println("coil energised:", board.Coil(), "contacts closed:", board.Contacts())
	// Output:
	// contacts closed: true mirror reads: High
	// mirror moved within 50ms: false
	// coil energised: false contacts closed: true
}
