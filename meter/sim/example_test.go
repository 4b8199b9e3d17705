package sim_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/chargegate/chargegate/meter"
	"github.com/chargegate/chargegate/meter/sim"
)

func Example() {
	clk := sim.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, _ := sim.New(sim.Options{Model: "em340", Clock: clk, Serial: "CG0001"})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Buses()[0].ServeTCP(ctx, ln)

	m, _ := s.Meter(0, 1)
	m.SetLoad(clk.Now(), true, 0)
	clk.Advance(time.Hour) // 11 kW, ramped up in 5.5 s

	mt, err := meter.Open(ctx, meter.Config{URL: "tcp://" + ln.Addr().String()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mt.Close()
	r, err := mt.Read(ctx)
	fmt.Println(mt.Model(), r.Serial, r.ImportMWh, r.PowerW, err)
	// Output: em340 CG0001 10900000 11000 <nil>
}
