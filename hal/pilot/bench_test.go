package pilot_test

import (
	"context"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/pilot"
	"github.com/chargegate/chargegate/hal/sim"
)

// BenchmarkUnplugToCoilOpen measures, in real time, how long the pilot
// takes from the vehicle being unplugged mid-charge to the contactor coil
// being de-energised through hal's relay on the simulated board, with the
// default 10 ms measurement period. It reports the mean and the worst case
// (IEC 61851-1 allows the EVSE 100 ms to switch off after the vehicle
// leaves state C — Table A.6; the coil drop-out and the contactor's own
// opening time come on top).
func BenchmarkUnplugToCoilOpen(b *testing.B) {
	board := sim.New(sim.Options{ContactDelay: time.Millisecond, NoBounce: true})
	defer board.Close()
	relay, err := hal.Open(sim.DefaultConfig(), board, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	go relay.Run(ctx)
	if err := relay.WaitRunning(ctx); err != nil {
		b.Fatal(err)
	}
	coil := make(chan time.Time, 16)
	board.OnCoil(func(on bool) {
		if !on {
			coil <- time.Now()
		}
	})
	v := sim.NewVehicle(sim.VehicleOptions{React: time.Millisecond})
	line := sim.NewControlPilot(v, sim.PilotOptions{})
	p, err := pilot.New(pilot.Config{}, line.PWMPin(), line, relay, nil)
	if err != nil {
		b.Fatal(err)
	}
	go p.Run(ctx)
	if err := p.SetCurrent(ctx, 16*physic.Ampere); err != nil {
		b.Fatal(err)
	}
	var worst, total time.Duration
	n := 0
	for b.Loop() {
		b.StopTimer()
		for len(coil) > 0 {
			<-coil
		}
		v.Plug()
		v.Request(true)
		for {
			if s, _ := p.State(ctx); s.ContactorAllowed {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err := relay.CloseRelay(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		at := time.Now()
		v.Unplug()
		select {
		case opened := <-coil:
			d := opened.Sub(at)
			total += d
			worst = max(worst, d)
			n++
		case <-time.After(5 * time.Second):
			b.Fatal("coil not de-energised within 5 s")
		}
		b.StopTimer()
		for {
			if s, _ := p.State(ctx); s.CP == hal.CPStateA {
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.StartTimer()
	}
	if n > 0 {
		b.ReportMetric(float64(total.Microseconds())/float64(n)/1000, "mean_ms")
		b.ReportMetric(float64(worst.Microseconds())/1000, "worst_ms")
	}
}
