package site_test

import (
	"fmt"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/gateway/site"
)

// Two EVSEs behind a 32 A main fuse with 10 A of other load: both vehicles charging share
// the 22 A left; a third vehicle makes it three shares; when the other load rises to 18 A
// the 14 A left cannot give three vehicles their 6 A minimum, so the one that came last
// waits; an operator's 0 A limit pauses the second, and the first gets the rest (the third
// resumes only once the room for its minimum has lasted ResumeDelay, 1 min).
func Example() {
	m, err := site.New(site.Config{
		EVSEs: []site.EVSE{
			{ID: 1, Phases: 3, Max: 32 * physic.Ampere},
			{ID: 2, Phases: 3, Max: 32 * physic.Ampere},
			{ID: 3, Phases: 3, Max: 16 * physic.Ampere},
		},
		SiteLimit: 32 * physic.Ampere,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	tick := func(otherA float64) {
		now = now.Add(time.Second)
		// The grid meter; nothing draws yet, so all it sees is the other load.
		m.SetGrid(site.Grid{Time: now, Lines: []float64{otherA, otherA, otherA}, PowerW: 3 * 230 * otherA})
		for _, a := range m.Compute(now) {
			fmt.Printf("evse %d %4.1f A %s\n", a.EVSE, float64(a.Current)/float64(physic.Ampere), a.Reason)
		}
		fmt.Println("--")
	}
	_ = m.SetVehicle(1, site.Vehicle{Connected: true, Requesting: true})
	_ = m.SetVehicle(2, site.Vehicle{Connected: true, Requesting: true})
	tick(10)
	_ = m.SetVehicle(3, site.Vehicle{Connected: true, Requesting: true})
	tick(10)
	tick(18)
	_ = m.SetLimit(site.Limit{Origin: site.OriginOperator, EVSE: 2, Current: 0})
	tick(18)
	// Output:
	// evse 1 11.0 A site_limit
	// evse 2 11.0 A site_limit
	// evse 3  0.0 A no_vehicle
	// --
	// evse 1  7.3 A site_limit
	// evse 2  7.3 A site_limit
	// evse 3  7.3 A site_limit
	// --
	// evse 1  7.0 A site_limit
	// evse 2  7.0 A site_limit
	// evse 3  0.0 A site_min
	// --
	// evse 1 14.0 A site_limit
	// evse 2  0.0 A operator
	// evse 3  0.0 A site_min
	// --
}

// The least current per phase that keeps the 4.2 kW §14a EnWG lets a grid operator dim
// to: more than the pilot's 6 A minimum on three phases.
func ExampleCurrentFor() {
	for _, phases := range []int{3, 1} {
		i := site.CurrentFor(site.Para14aMinPower, phases, site.DefaultVoltage, site.DefaultStep)
		fmt.Printf("%d phases: %.1f A\n", phases, float64(i)/float64(physic.Ampere))
	}
	// Output:
	// 3 phases: 6.1 A
	// 1 phases: 18.3 A
}
