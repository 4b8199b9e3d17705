package site_test

import (
	"testing"
	"time"

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
