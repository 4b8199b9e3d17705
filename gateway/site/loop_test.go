package site_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/gateway/site"
)

// TestSiteLimitOverModbus runs the control loop against metersim over Modbus TCP: the grid
// meter and both EVSE meters are read over the wire, the EVSEs' loads follow the applied
// setpoints with a vehicle's ramp. Both charging, the grid settles within the 32 A site
// limit and stays there; when one vehicle leaves, the other takes what is left; after a
// step in the base load the grid comes back under the limit; each change is reported.
func TestSiteLimitOverModbus(t *testing.T) {
	r := newRig(t, site.Config{EVSEs: twoEVSEs(), SiteLimit: 32 * A}, site.LoopConfig{EventInterval: 30 * time.Second})
	r.base = 10
	r.plug(1, true)
	r.plug(2, true)
	if n := r.settle(32, 0.1, 60); n < 0 {
		t.Fatalf("grid never settled under the limit: %.2f A", r.gridMax())
	}
	for range 30 { // let the ramps finish
		r.step()
	}
	var alloc []site.Allocation
	for i := range 30 {
		alloc = r.step()
		if g := r.gridMax(); g > 32+0.1 {
			t.Fatalf("steady state, tick %d: grid %.2f A over the 32 A site limit", i, g)
		}
	}
	if got := r.loop.Last(); fmt.Sprint(got) != fmt.Sprint(alloc) {
		t.Errorf("Last() = %v, want the latest tick's %v", got, alloc)
	}
	for _, a := range alloc {
		if got := asA(a.Current); got < 10.8 || got > 11 || a.Reason != site.ReasonSite {
			t.Errorf("both charging: evse %d %.1f A (%s), want 11 A less noise (site_limit)", a.EVSE, got, a.Reason)
		}
	}
	if g := r.gridMax(); g < 31.5 {
		t.Errorf("both charging: grid %.2f A, the site limit is not used", g)
	}
	r.takeEvents()

	r.plug(2, false)
	alloc = r.step()
	if a := alloc[1]; a.Current != 0 || a.Reason != site.ReasonNoVehicle {
		t.Errorf("evse 2 unplugged: %+v", a)
	}
	var paused bool
	for _, e := range r.takeEvents() {
		if e.EVSE == 2 && e.To == 0 && e.Reason == site.ReasonNoVehicle {
			paused = true
		}
	}
	if !paused {
		t.Error("the pause of evse 2 was not reported at once")
	}
	for range 30 {
		alloc = r.step()
	}
	if got := asA(alloc[0].Current); got < 21.8 || got > 22 {
		t.Errorf("one vehicle left: evse 1 %.1f A, want the 22 A left", got)
	}

	r.base = 20 // a step in the base load: over the limit until the vehicle follows
	if g := r.gridMax(); g <= 32.1 {
		t.Fatalf("the step did not push the grid over the limit: %.2f A", g)
	}
	if n := r.settle(32, 0.1, 60); n < 0 {
		t.Fatalf("not back under the limit after 60 ticks: %.2f A", r.gridMax())
	}
	for range 30 {
		alloc = r.step()
	}
	if got := asA(alloc[0].Current); got < 11.8 || got > 12 {
		t.Errorf("after the step: evse 1 %.1f A, want 12 A", got)
	}
}

// TestEventsRateLimited: a grid meter whose base load jumps every tick (±3 A) changes the
// allocation on most ticks for ten minutes; the chain gets at most one change per
// EventInterval besides the first report, each summing up the ones it stands for, and once
// the noise stops the last report tells the current in force. A pause is reported in the
// tick it happens.
func TestEventsRateLimited(t *testing.T) {
	evs := twoEVSEs()[:1]
	r := newRig(t, site.Config{EVSEs: evs, SiteLimit: 32 * A}, site.LoopConfig{EventInterval: 30 * time.Second})
	r.plug(1, true)
	rnd := rand.New(rand.NewPCG(1, 2))
	var last physic.ElectricCurrent
	changes := 0
	for range 600 {
		r.base = 10 + 6*rnd.Float64() - 3
		a := r.step()[0]
		if a.Current != last {
			changes++
		}
		last = a.Current
	}
	ev := r.takeEvents()
	if changes < 200 {
		t.Fatalf("only %d changes of the allocation in 600 noisy ticks: the test does not test", changes)
	}
	if len(ev) > 1+600/30 {
		t.Errorf("%d events for %d changes in 600 s, want at most %d", len(ev), changes, 1+600/30)
	}
	sum := 0
	for _, e := range ev[1:] {
		sum += e.Coalesced
	}
	if sum < changes/2 {
		t.Errorf("the events sum up %d changes, of %d", sum, changes)
	}
	r.base = 10
	var alloc []site.Allocation
	for range 90 {
		alloc = r.step()
	}
	ev = r.takeEvents()
	if len(ev) == 0 || ev[len(ev)-1].To != alloc[0].Current {
		t.Errorf("after the noise: events %+v, allocation %s", ev, alloc[0].Current)
	}
	if err := r.m.SetLimit(site.Limit{Origin: site.OriginOperator, EVSE: 1}); err != nil {
		t.Fatal(err)
	}
	r.step()
	ev = r.takeEvents()
	if len(ev) != 1 || ev[0].To != 0 || ev[0].Reason != site.Reason(site.OriginOperator) {
		t.Errorf("pause: events %+v, want one to 0 A by the operator", ev)
	}
}

// TestRunStopsAndPauses: Run ticks on its own until its context ends, then sets every EVSE
// to 0 A and returns the context's error.
func TestRunStopsAndPauses(t *testing.T) {
	ticked := make(chan struct{}, 100)
	r := newRig(t, site.Config{EVSEs: twoEVSEs()}, site.LoopConfig{Interval: 5 * time.Millisecond,
		OnChange: func(site.Change) { ticked <- struct{}{} }})
	r.plug(1, true)
	_ = r.m.SetVehicle(1, site.Vehicle{Connected: true, Requesting: true})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.loop.Run(ctx) }()
	<-ticked // the first tick reported both EVSEs
	<-ticked
	m, _ := r.sim.Meter(0, 2)
	if sp := m.State(r.clk.Now()).SetpointA; sp == nil || *sp != 32 {
		t.Errorf("running: evse 1 setpoint %v, want 32 A", sp)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
	for _, u := range []uint8{2, 3} {
		m, _ := r.sim.Meter(0, u)
		if sp := m.State(r.clk.Now()).SetpointA; sp == nil || *sp != 0 {
			t.Errorf("after Run: unit %d setpoint %v, want 0 A", u, sp)
		}
	}
}

// TestSkewedGridMeterDoesNotOscillate: with the grid meter a whole tick behind the EVSE
// meters, the estimate of the other load errs by what the vehicles ramped in a tick; the
// loop still settles (allocations within 0.3 A over the last 30 ticks) within 0.1 A of the
// limit. Without the smoothing of doc.go rule 4 (BaseSmoothing -1) the same rig swings by
// several amperes, which this test also checks, so that it keeps testing something.
func TestSkewedGridMeterDoesNotOscillate(t *testing.T) {
	swing := func(smoothing time.Duration) (lo, hi, peak float64) {
		r := newRig(t, site.Config{EVSEs: twoEVSEs(), SiteLimit: 32 * A, BaseSmoothing: smoothing}, site.LoopConfig{})
		r.lag = true
		r.base = 10
		r.plug(1, true)
		r.plug(2, true)
		for range 60 {
			r.step()
		}
		lo, hi = 99, 0
		for range 30 {
			a := asA(r.step()[0].Current)
			lo, hi, peak = min(lo, a), max(hi, a), max(peak, r.gridMax())
		}
		return lo, hi, peak
	}
	lo, hi, peak := swing(0)
	t.Logf("smoothed: evse 1 %.1f..%.1f A, grid peak %.2f A", lo, hi, peak)
	if hi-lo > 0.3 || peak > 32.1 {
		t.Errorf("smoothed: evse 1 between %.1f and %.1f A, grid up to %.2f A", lo, hi, peak)
	}
	lo, hi, peak = swing(-1)
	t.Logf("unsmoothed: evse 1 %.1f..%.1f A, grid peak %.2f A", lo, hi, peak)
	if hi-lo < 2 {
		t.Errorf("unsmoothed: evse 1 between %.1f and %.1f A: the rig no longer provokes the oscillation", lo, hi)
	}
}

// TestPVSurplusOverModbus: one PV-mode EVSE, the grid meter read over Modbus TCP importing
// or exporting as the PV production changes. It does not start on too little surplus,
// starts after the 1 min start delay, then uses the surplus so the grid sees almost
// nothing, holds its 6 A minimum through a 2 min cloud and stops after a 4 min one.
func TestPVSurplusOverModbus(t *testing.T) {
	evs := []site.EVSE{{ID: 1, Phases: 3, Max: 16 * A, Mode: site.ModePV}}
	r := newRig(t, site.Config{EVSEs: evs}, site.LoopConfig{})
	r.base = 1 // 690 W
	r.plug(1, true)
	var starts, stops int
	was := false
	var a site.Allocation
	run := func(pvW float64, d time.Duration) {
		t.Helper()
		r.pvW = pvW
		for range int(d / time.Second) {
			a = r.step()[0]
			on := a.Current > 0
			if on && !was {
				starts++
			}
			if !on && was {
				stops++
			}
			was = on
		}
	}
	run(3000, 2*time.Minute)
	if starts != 0 || a.Reason != site.ReasonPVWait {
		t.Fatalf("2.3 kW surplus: %d starts, %+v", starts, a)
	}
	run(8000, 59*time.Second)
	if starts != 0 {
		t.Fatal("started before the start delay")
	}
	run(8000, 2*time.Minute)
	if starts != 1 || a.Reason != site.ReasonPV || asA(a.Current) < 10.2 || asA(a.Current) > 10.6 {
		t.Fatalf("7.3 kW surplus: %d starts, %+v, want about 10.6 A", starts, a)
	}
	if g := r.gridMax(); g > 0.3 || g < -0.8 {
		t.Errorf("charging from the surplus: %.2f A at the grid, want about 0", g)
	}
	run(2000, 2*time.Minute)
	if stops != 0 || a.Reason != site.ReasonPVHold || a.Current != 6*A {
		t.Errorf("2 min cloud: %d stops, %+v, want held at 6 A", stops, a)
	}
	run(8000, time.Minute)
	run(2000, 4*time.Minute)
	if starts != 1 || stops != 1 || a.Reason != site.ReasonPVWait {
		t.Errorf("4 min cloud: %d starts, %d stops, %+v; want it stopped once", starts, stops, a)
	}
}
