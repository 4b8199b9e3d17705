package sim_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chargegate/chargegate/hal/sim"
)

// BenchmarkEStopToCoilOff measures the fault-to-relay-open time of the
// whole software path on the simulated board: from the emergency stop's
// first edge (PressEStop) to the RELAY line being driven to de-energise the
// coil (OnCoil hook inside Out). Each op is a full cycle — clear, close and
// confirm, press, release — so ns/op is the cycle time; the figures that
// matter are the custom metrics:
//
//	trip-ns/op   mean e-stop edge → coil off
//	trip-p50-ns  median
//	trip-max-ns  worst seen
func BenchmarkEStopToCoilOff(b *testing.B) {
	sb := sim.New(sim.Options{})
	defer sb.Close()
	board := run(b, sb, testConfig()) // a generous timeout tolerates a loaded machine between trips
	ctx := context.Background()
	coilOff := make(chan time.Time, 1)
	sb.OnCoil(func(energised bool) {
		if !energised {
			select {
			case coilOff <- time.Now():
			default:
			}
		}
	})

	trips := make([]time.Duration, 0, b.N)
	for b.Loop() {
		if err := board.ClearFault(); err != nil {
			b.Fatal(err)
		}
		if err := board.CloseRelay(ctx); err != nil {
			b.Fatal(err)
		}
		select {
		case <-coilOff:
		default:
		}
		pressed := time.Now()
		sb.PressEStop(true)
		off := <-coilOff
		trips = append(trips, off.Sub(pressed))
		sb.PressEStop(false)
		waitFor(b, "release and contacts open", func() bool {
			s := board.Status()
			return !s.EStopPressed && !s.FeedbackClosed && !sb.Contacts()
		})
	}
	if len(trips) == 0 {
		return
	}
	var sum time.Duration
	for _, d := range trips {
		sum += d
	}
	slices.Sort(trips)
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(trips)), "trip-ns/op")
	b.ReportMetric(float64(trips[len(trips)/2].Nanoseconds()), "trip-p50-ns")
	b.ReportMetric(float64(trips[len(trips)-1].Nanoseconds()), "trip-max-ns")
}

// BenchmarkCloseConfirmed measures CloseRelay on the simulated board: coil
// on, contacts after the 20 ms delay, bounce, then the 20 ms debounce.
func BenchmarkCloseConfirmed(b *testing.B) {
	sb := sim.New(sim.Options{})
	defer sb.Close()
	board := run(b, sb, testConfig())
	ctx := context.Background()
	for b.Loop() {
		if err := board.CloseRelay(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := board.OpenRelay(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
