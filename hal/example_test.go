package hal_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/sim"
)

// A charging session on the simulated board: close the relay, an emergency
// stop opens it and latches, the operator clears the fault after release.
func Example() {
	board := sim.New(sim.Options{})
	defer board.Close()
	cfg := sim.DefaultConfig()
	cfg.FeedbackTimeout = time.Second

	b, err := hal.Open(cfg, board, nil) // the relay is driven open here
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Run(ctx) // when it returns, the relay is open
	if err := b.WaitRunning(ctx); err != nil {
		fmt.Println(err)
		return
	}

	if err := b.CloseRelay(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("relay closed, contacts closed:", board.Contacts())

	board.PressEStop(true)
	for e := range b.Events() {
		if e.Kind == hal.EventEStop {
			fmt.Println("event:", e.Kind, "active:", e.Active)
			break
		}
	}
	fmt.Println("coil energised:", board.Coil())
	err = b.CloseRelay(ctx)
	fmt.Println("close refused:", errors.Is(err, hal.ErrLatched), errors.Is(err, hal.ErrEStop))
	fmt.Println("clear while pressed:", errors.Is(b.ClearFault(), hal.ErrFaultPersists))
	// Output:
	// relay closed, contacts closed: true
	// event: estop active: true
	// coil energised: false
	// close refused: true true
	// clear while pressed: true
}
