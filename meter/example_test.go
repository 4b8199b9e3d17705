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

// ExampleMeter_Seed: a long-lived Meter from New, seeded with the registers the chain
// recorded last; a counter below them is implausible and nothing is billed from it.
func ExampleMeter_Seed() {
	clk := sim.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	url, s := startExampleSim(sim.Options{Model: "sdm630", Clock: clk, Serial: "12345678"})
	defer s()

	m, err := meter.New(meter.Config{URL: url, Model: "sdm630", Now: clk.Now})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	// The chain's last reading of this meter said 2 kWh.
	if err := m.Seed(meter.Baseline{Serial: "12345678", ImportMWh: 2_000_000, At: clk.Now().Add(-time.Minute)}); err != nil {
		fmt.Println(err)
		return
	}
	_, err = m.Read(context.Background())
	var ie *meter.ImplausibleError
	if errors.As(err, &ie) {
		fmt.Println(ie.Rule, ie.SeenMWh, ie.BaseMWh, m.Baseline().ImportMWh)
	}
	// Output: fall 0 2000000 2000000
}
