package meter_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chargegate/chargegate/meter"
	"github.com/chargegate/chargegate/meter/sim"
)

func Example() {
	clk := sim.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	url, s := startExampleSim(sim.Options{Model: "sdm630", Clock: clk, Serial: "12345678"})
	defer s()

	ctx := context.Background()
	m, err := meter.Open(ctx, meter.Config{URL: url, Model: "auto", Timeout: time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	r, err := m.Read(ctx)
	var ex *meter.ExceptionError
	switch {
	case errors.Is(err, meter.ErrTimeout):
		fmt.Println("meter silent")
	case errors.As(err, &ex):
		fmt.Println("exception", ex.Code)
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Println(m.Model(), r.Serial, r.ImportMWh, r.Status)
	}
	// Output: sdm630 12345678 0 ok
}
