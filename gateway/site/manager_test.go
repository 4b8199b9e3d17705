package site_test

import (
	"fmt"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/gateway/site"
)

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

const A = physic.Ampere

func amps(f float64) physic.ElectricCurrent {
	return physic.ElectricCurrent(f * float64(physic.Ampere))
}

func asA(c physic.ElectricCurrent) float64 { return float64(c) / float64(physic.Ampere) }

// plant is a site in memory for the policy tests: a base load per line, EVSEs whose
// vehicles draw what they are allowed (up to what they want), and the grid meter that sees
// the sum. Each tick follows a control tick: the vehicles settle on the last allocation.
type plant struct {
	t      *testing.T
	m      *site.Manager
	now    time.Time
	base   float64           // A per line
	pvW    float64           // PV production, W (three lines, 230 V)
	want   map[uint8]float64 // what each vehicle would draw, A (0: as much as allowed)
	draw   map[uint8]float64 // what each vehicle draws now, A
	plugs  map[uint8]bool    // connected
	phases map[uint8]int     // from the config
	last   []site.Allocation // last computed
	byID   map[uint8]site.Allocation
}

func newPlant(t *testing.T, cfg site.Config) *plant {
	t.Helper()
	m, err := site.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &plant{t: t, m: m, now: t0, want: map[uint8]float64{}, draw: map[uint8]float64{},
		plugs: map[uint8]bool{}, phases: map[uint8]int{}}
	for _, e := range cfg.EVSEs {
		p.phases[e.ID] = e.Phases
	}
	return p
}

// plug connects (and has request) or disconnects a vehicle.
func (p *plant) plug(id uint8, on bool) { p.plugs[id] = on }

// tick advances d, feeds the manager the grid and vehicles, computes and lets the vehicles
// follow the new allocation (they draw it by the next tick).
func (p *plant) tick(d time.Duration) {
	p.t.Helper()
	p.now = p.now.Add(d)
	lines := []float64{p.base, p.base, p.base}
	total := 3 * p.base * 230
	for id, a := range p.draw {
		if !p.plugs[id] {
			a = 0
		}
		for l := range p.phases[id] {
			lines[l] += a
		}
		total += a * 230 * float64(p.phases[id])
	}
	pvLine := p.pvW / 3 / 230
	for l := range lines {
		lines[l] -= pvLine
	}
	p.m.SetGrid(site.Grid{Time: p.now, Lines: lines, PowerW: total - p.pvW})
	for id := range p.phases {
		if err := p.m.SetVehicle(id, site.Vehicle{Connected: p.plugs[id], Requesting: p.plugs[id], Current: amps(p.draw[id])}); err != nil {
			p.t.Fatal(err)
		}
	}
	p.last = p.m.Compute(p.now)
	p.byID = map[uint8]site.Allocation{}
	for _, a := range p.last {
		p.byID[a.EVSE] = a
		w := asA(a.Current)
		if x, ok := p.want[a.EVSE]; ok && x > 0 && x < w {
			w = x
		}
		if !p.plugs[a.EVSE] {
			w = 0
		}
		p.draw[a.EVSE] = w
	}
}

// gridMax is the most current on any line now (after the vehicles followed).
func (p *plant) gridMax() float64 {
	g := p.base
	for id, a := range p.draw {
		if p.plugs[id] && p.phases[id] == 3 {
			g += a
		}
	}
	return g
}

func (p *plant) is(id uint8, wantA float64, why site.Reason) {
	p.t.Helper()
	a := p.byID[id]
	if got := asA(a.Current); abs(got-wantA) > 1e-9 || a.Reason != why {
		p.t.Errorf("%s: evse %d %.1f A (%s), want %.1f A (%s)", p.now.Sub(t0), id, got, a.Reason, wantA, why)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func twoEVSEs() []site.EVSE {
	return []site.EVSE{
		{ID: 1, Phases: 3, Max: 32 * A},
		{ID: 2, Phases: 3, Max: 32 * A},
	}
}

// TestTwoEVSEsShareSiteLimit: two vehicles under a 32 A site limit with 10 A of other load.
// Both charging, each gets half of the 22 A left and the grid stays within the limit on
// every tick after the first; when one leaves, the other gets everything left; when the
// base load steps up, both come down and the grid is back under the limit by the next tick.
func TestTwoEVSEsShareSiteLimit(t *testing.T) {
	p := newPlant(t, site.Config{EVSEs: twoEVSEs(), SiteLimit: 32 * A})
	p.base = 10
	p.plug(1, true)
	p.tick(time.Second)
	p.is(1, 22, site.ReasonSite)
	p.is(2, 0, site.ReasonNoVehicle)
	p.plug(2, true)
	for i := range 10 {
		p.tick(time.Second)
		if g := p.gridMax(); i > 0 && g > 32+1e-9 {
			t.Fatalf("tick %d: grid %.2f A over the 32 A site limit", i, g)
		}
	}
	p.is(1, 11, site.ReasonSite)
	p.is(2, 11, site.ReasonSite)
	p.base = 20 // a heat pump starts
	p.tick(time.Second)
	p.is(1, 6, site.ReasonSite)
	p.is(2, 6, site.ReasonSite)
	if g := p.gridMax(); g > 32+1e-9 {
		t.Errorf("after the step: grid %.2f A", g)
	}
	p.base = 10
	p.plug(2, false)
	p.tick(time.Second)
	p.is(2, 0, site.ReasonNoVehicle)
	// The base load fell by 10 A: the estimate follows a fall with the 5 s time constant
	// (a rise at once, as above), so EVSE 1 gets the room back over some seconds.
	if got := asA(p.byID[1].Current); got < 12 || got > 21 {
		t.Errorf("a second after the base load fell: evse 1 %.1f A, want on its way from 12 to 22 A", got)
	}
	for range 60 {
		p.tick(time.Second)
	}
	p.is(1, 22, site.ReasonSite)
	if g := p.gridMax(); abs(g-32) > 1e-9 {
		t.Errorf("one EVSE: grid %.2f A, want the whole 32 A", g)
	}
}

// TestEVSEMaxLeavesRestToOthers: an EVSE whose ceiling is below the fair share keeps its
// ceiling and the rest goes to the other (max-min fairness).
func TestEVSEMaxLeavesRestToOthers(t *testing.T) {
	evs := twoEVSEs()
	evs[0].Max = 8 * A
	p := newPlant(t, site.Config{EVSEs: evs, SiteLimit: 40 * A})
	p.plug(1, true)
	p.plug(2, true)
	p.tick(time.Second)
	p.is(1, 8, site.ReasonEVSEMax)
	p.is(2, 32, site.ReasonEVSEMax)
	p.base = 10 // 30 A left: 8 + 22
	p.tick(time.Second)
	p.tick(time.Second)
	p.is(1, 8, site.ReasonEVSEMax)
	p.is(2, 22, site.ReasonSite)
}

// TestMinCurrentRule: when the budget cannot give every EVSE its minimum, the vehicle that
// arrived last is paused and the first gets everything; with different minima the equal
// share is clamped to each minimum; a paused EVSE resumes only after the budget has covered
// its minimum for ResumeDelay.
func TestMinCurrentRule(t *testing.T) {
	evs := twoEVSEs()
	// Without smoothing of the base load, so that a change of it counts from its tick.
	p := newPlant(t, site.Config{EVSEs: evs, SiteLimit: 20 * A, ResumeDelay: time.Minute, BaseSmoothing: -1})
	p.base = 10 // 10 A left: not 2 × 6 A
	p.plug(1, true)
	p.tick(time.Second)
	p.plug(2, true) // arrives later
	p.tick(time.Second)
	p.is(1, 10, site.ReasonSite)
	p.is(2, 0, site.ReasonSiteMin)
	p.base = 7     // 13 A left: enough for both minima, from this tick on
	for range 60 { // the first of these starts the minute
		p.tick(time.Second)
		p.is(2, 0, site.ReasonSiteMin)
	}
	p.tick(time.Second)
	p.is(1, 6.5, site.ReasonSite) // 13 A shared equally
	p.is(2, 6.5, site.ReasonSite)
	p.base = 9 // 11 A: one must go; EVSE 2 arrived last
	p.tick(time.Second)
	p.tick(time.Second)
	p.is(1, 11, site.ReasonSite)
	p.is(2, 0, site.ReasonSiteMin)

	// Different minima: 10 A and 6 A over a 17 A budget → 10 + 7.
	evs[0].Min = 10 * A
	q := newPlant(t, site.Config{EVSEs: evs, SiteLimit: 17 * A})
	q.plug(1, true)
	q.plug(2, true)
	q.tick(time.Second)
	q.is(1, 10, site.ReasonSite)
	q.is(2, 7, site.ReasonSite)
}

// TestLimitsStack: limits from several origins stack (lowest wins), expire, pause at 0,
// pause below the minimum, and a box-wide limit bounds the sum of the shares.
func TestLimitsStack(t *testing.T) {
	p := newPlant(t, site.Config{EVSEs: twoEVSEs()})
	p.plug(1, true)
	set := func(l site.Limit) {
		t.Helper()
		if err := p.m.SetLimit(l); err != nil {
			t.Fatal(err)
		}
	}
	p.tick(time.Second)
	p.is(1, 32, site.ReasonEVSEMax)
	set(site.Limit{Origin: site.OriginConfig, EVSE: 1, Current: 16 * A})
	set(site.Limit{Origin: site.OriginOCPP, EVSE: 1, Current: 12 * A})
	set(site.Limit{Origin: site.OriginOperator, EVSE: 1, Current: 10 * A, Expires: p.now.Add(10 * time.Second)})
	p.tick(time.Second)
	p.is(1, 10, site.Reason(site.OriginOperator))
	if got := len(p.m.Limits(p.now)); got != 3 {
		t.Errorf("%d limits in force, want 3", got)
	}
	p.tick(10 * time.Second) // the operator's limit expired
	p.is(1, 12, site.Reason(site.OriginOCPP))
	if got := len(p.m.Limits(p.now)); got != 2 {
		t.Errorf("%d limits in force after expiry, want 2", got)
	}
	set(site.Limit{Origin: site.OriginOCPP, EVSE: 1, Current: 0}) // replaces the 12 A one
	p.tick(time.Second)
	p.is(1, 0, site.Reason(site.OriginOCPP))
	set(site.Limit{Origin: site.OriginOCPP, EVSE: 1, Current: 4 * A}) // below the 6 A minimum
	p.tick(time.Second)
	p.is(1, 0, site.Reason(site.OriginOCPP))
	if err := p.m.ClearLimit(site.OriginOCPP, 1); err != nil {
		t.Fatal(err)
	}
	p.tick(time.Second)
	p.is(1, 16, site.Reason(site.OriginConfig))
	// Box-wide: 20 A for both together.
	p.plug(2, true)
	set(site.Limit{Origin: site.OriginOperator, EVSE: 0, Current: 20 * A})
	p.tick(time.Second)
	p.is(1, 10, site.Reason(site.OriginOperator))
	p.is(2, 10, site.Reason(site.OriginOperator))
	set(site.Limit{Origin: site.OriginOperator, EVSE: 0, Current: 10 * A}) // one minimum short
	p.tick(time.Second)
	p.is(1, 10, site.Reason(site.OriginOperator))
	p.is(2, 0, site.Reason(site.OriginOperator))
	if err := p.m.SetLimit(site.Limit{Origin: site.OriginOCPP, EVSE: 9, Current: A}); err == nil {
		t.Error("a limit on an unknown EVSE was accepted")
	}
}

// TestFallbackOnLinkLoss: the fallback applies only after the link has been down for
// FallbackAfter, is lifted when it returns, applies from the start when the link never came
// up, and never raises a lower limit.
func TestFallbackOnLinkLoss(t *testing.T) {
	cfg := site.Config{EVSEs: twoEVSEs(), FallbackAfter: 30 * time.Second, Fallback: amps(6.1)}
	p := newPlant(t, cfg)
	p.plug(1, true)
	p.tick(time.Second)
	p.is(1, 32, site.ReasonEVSEMax) // never up, but not yet 30 s
	p.tick(30 * time.Second)
	p.is(1, 6.1, site.Reason(site.OriginFallback))
	p.m.SetLink(true, p.now)
	p.tick(time.Second)
	p.is(1, 32, site.ReasonEVSEMax)
	p.m.SetLink(false, p.now)
	p.tick(29 * time.Second)
	p.is(1, 32, site.ReasonEVSEMax)
	p.tick(time.Second)
	p.is(1, 6.1, site.Reason(site.OriginFallback))
	if err := p.m.SetLimit(site.Limit{Origin: site.OriginOperator, EVSE: 1, Current: 0}); err != nil {
		t.Fatal(err)
	}
	p.tick(time.Second)
	p.is(1, 0, site.Reason(site.OriginOperator)) // a pause stays a pause
	p.m.SetLink(true, p.now)
	p.tick(time.Second)
	p.is(1, 0, site.Reason(site.OriginOperator))
}

// TestPara14aFallback: with the §14a minimum of 4.2 kW, a 6 A fallback on three phases
// (4.14 kW) is refused, 6.1 A accepted; a pause as fallback is refused; CurrentFor gives
// the least current for a power.
func TestPara14aFallback(t *testing.T) {
	cfg := func(f physic.ElectricCurrent) site.Config {
		return site.Config{EVSEs: twoEVSEs(), FallbackAfter: time.Minute, Fallback: f, FallbackMinPower: site.Para14aMinPower}
	}
	for _, tc := range []struct {
		fallback physic.ElectricCurrent
		ok       bool
	}{{6 * A, false}, {amps(6.1), true}, {0, false}, {16 * A, true}} {
		_, err := site.New(cfg(tc.fallback))
		if (err == nil) != tc.ok {
			t.Errorf("fallback %s: err %v, want ok %v", tc.fallback, err, tc.ok)
		}
	}
	for _, tc := range []struct {
		phases int
		want   float64
	}{{3, 6.1}, {1, 18.3}} {
		if got := asA(site.CurrentFor(site.Para14aMinPower, tc.phases, site.DefaultVoltage, site.DefaultStep)); abs(got-tc.want) > 1e-9 {
			t.Errorf("4.2 kW on %d phases: %.2f A, want %.1f A", tc.phases, got, tc.want)
		}
	}
}

// TestPVSurplusFollowsExport drives one PV-mode EVSE through a changing export profile
// (one-second ticks): it starts only after 60 s of surplus above 6 A × 3 × 230 V = 4140 W,
// then follows the surplus; dips shorter than 3 min hold it at 6 A without stopping; a
// longer dip stops it; an export that hovers around the threshold with 30 s periods never
// makes it flap.
func TestPVSurplusFollowsExport(t *testing.T) {
	evs := []site.EVSE{{ID: 1, Phases: 3, Max: 16 * A, Mode: site.ModePV}}
	p := newPlant(t, site.Config{EVSEs: evs})
	p.base = 1 // 690 W of house load
	p.plug(1, true)
	var starts, stops int
	was := false
	run := func(pvW float64, d time.Duration) {
		t.Helper()
		p.pvW = pvW
		for range int(d / time.Second) {
			p.tick(time.Second)
			on := p.byID[1].Current > 0
			if on && !was {
				starts++
			}
			if !on && was {
				stops++
			}
			was = on
		}
	}
	run(3000, 2*time.Minute) // 2310 W export: not enough
	if starts != 0 {
		t.Fatalf("started on %.0f W surplus", 3000-690.0)
	}
	p.is(1, 0, site.ReasonPVWait)
	run(6000, 59*time.Second) // 5310 W: enough, but not for a minute yet
	p.is(1, 0, site.ReasonPVWait)
	run(6000, 2*time.Second)
	if starts != 1 {
		t.Fatalf("%d starts after a minute of surplus, want 1", starts)
	}
	run(6000, 10*time.Second)
	p.is(1, 7.6, site.ReasonPV) // 5310 W / 690 W per A = 7.69 A → 7.6 A
	run(10000, 10*time.Second)
	p.is(1, 13.4, site.ReasonPV) // 9310 W → 13.49 A → 13.4 A
	run(20000, 10*time.Second)
	p.is(1, 16, site.ReasonEVSEMax)
	run(2000, 2*time.Minute+50*time.Second) // a cloud: 1310 W, under the 4140 W minimum
	p.is(1, 6, site.ReasonPVHold)
	run(8000, time.Minute) // the sun is back before 3 min
	p.is(1, 10.5, site.ReasonPV)
	if stops != 0 {
		t.Fatalf("stopped during a %s cloud", 2*time.Minute+50*time.Second)
	}
	run(2000, 3*time.Minute+time.Second) // a longer cloud: stops after 3 min
	if stops != 1 {
		t.Fatalf("%d stops after a cloud of 3 min, want 1", stops)
	}
	p.is(1, 0, site.ReasonPVWait)
	// Hovering: 30 s above, 30 s below the threshold, for 20 minutes: no start at all.
	for range 20 {
		run(5200, 30*time.Second) // 4510 W
		run(4500, 30*time.Second) // 3810 W
	}
	if starts != 1 || stops != 1 {
		t.Errorf("hovering export: %d starts, %d stops, want no more than the 1 and 1 before", starts, stops)
	}
}

// TestTwoPVEVSEsShareSurplus: two PV-mode EVSEs: the first gets the surplus; the second
// starts only once the surplus covers both minima, then they share it equally.
func TestTwoPVEVSEsShareSurplus(t *testing.T) {
	evs := twoEVSEs()
	evs[0].Mode, evs[1].Mode = site.ModePV, site.ModePV
	p := newPlant(t, site.Config{EVSEs: evs, PVStartDelay: 10 * time.Second})
	p.plug(1, true)
	p.tick(time.Second)
	p.plug(2, true)
	p.pvW = 6900 // 10 A on three phases
	for range 30 {
		p.tick(time.Second)
	}
	p.is(1, 10, site.ReasonPV)
	p.is(2, 0, site.ReasonPVWait)
	p.pvW = 13800 // 20 A
	for range 30 {
		p.tick(time.Second)
	}
	p.is(1, 10, site.ReasonPV)
	p.is(2, 10, site.ReasonPV)
}

// TestGridStale: without a fresh grid reading, grid-mode EVSEs are held at their minimum
// and PV ones pause.
func TestGridStale(t *testing.T) {
	evs := twoEVSEs()
	evs[1].Mode = site.ModePV
	m, err := site.New(site.Config{EVSEs: evs, SiteLimit: 32 * A})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint8{1, 2} {
		if err := m.SetVehicle(id, site.Vehicle{Connected: true, Requesting: true}); err != nil {
			t.Fatal(err)
		}
	}
	m.SetGrid(site.Grid{Time: t0, Lines: []float64{0, 0, 0}, PowerW: -9000})
	got := fmt.Sprint(m.Compute(t0.Add(11 * time.Second)))
	want := fmt.Sprint([]site.Allocation{{EVSE: 1, Current: 6 * A, Reason: site.ReasonGridStale}, {EVSE: 2, Current: 0, Reason: site.ReasonGridStale}})
	if got != want {
		t.Errorf("stale grid: %s, want %s", got, want)
	}
}

// TestStandbyOffer: a vehicle connected but not requesting is offered its minimum (so it
// can start), which the site budget accounts for.
func TestStandbyOffer(t *testing.T) {
	m, err := site.New(site.Config{EVSEs: twoEVSEs(), SiteLimit: 20 * A})
	if err != nil {
		t.Fatal(err)
	}
	_ = m.SetVehicle(1, site.Vehicle{Connected: true, Requesting: true})
	_ = m.SetVehicle(2, site.Vehicle{Connected: true})
	m.SetGrid(site.Grid{Time: t0, Lines: []float64{0, 0, 0}})
	got := fmt.Sprint(m.Compute(t0))
	want := fmt.Sprint([]site.Allocation{{EVSE: 1, Current: 14 * A, Reason: site.ReasonSite}, {EVSE: 2, Current: 6 * A, Reason: site.ReasonStandby}})
	if got != want {
		t.Errorf("%s, want %s", got, want)
	}
}

// TestConfigErrors: configurations New must refuse, each naming what is wrong.
func TestConfigErrors(t *testing.T) {
	for _, c := range []site.Config{
		{},
		{EVSEs: []site.EVSE{{ID: 0, Phases: 3, Max: 16 * A}}},
		{EVSEs: []site.EVSE{{ID: 1, Phases: 2, Max: 16 * A}}},
		{EVSEs: []site.EVSE{{ID: 1, Phases: 3, Max: 5 * A}}},
		{EVSEs: []site.EVSE{{ID: 1, Phases: 3, Max: 16 * A}, {ID: 1, Phases: 3, Max: 16 * A}}},
		{EVSEs: []site.EVSE{{ID: 1, Phases: 1, Line: 4, Max: 16 * A}}},
		{EVSEs: twoEVSEs(), SiteLimit: -A},
		{EVSEs: twoEVSEs(), Voltage: 12 * physic.Volt},
	} {
		if _, err := site.New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
