package site_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/gateway/site"
	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/meter"
	"github.com/chargegate/chargegate/meter/sim"
)

// hal.CurrentControl (the control pilot, an EVSE controller over Modbus) is what the
// gateway hands the loop as a Setter.
var _ site.Setter = hal.CurrentControl(nil)

// *meter.Meter is what the gateway hands the loop as the grid meter.
var _ site.GridMeter = (*meter.Meter)(nil)

// rig is a site on metersim over real Modbus TCP, on a manual clock: unit 1 is the grid
// meter, units 2 and 3 the EVSEs' meters. Each EVSE meter's load follows the setpoint the
// loop applies (metersim's setpoint-following load, ramping like a vehicle at RampWPerS);
// the grid meter's load is the house: a base current plus whatever the EVSE meters carry
// now, so the grid meter reads what a meter at the connection point would.
type rig struct {
	tb    testing.TB
	ctx   context.Context
	clk   *sim.ManualClock
	sim   *sim.Sim
	grid  *meter.Meter
	evses map[uint8]*meter.Meter // by EVSE ID
	units map[uint8]uint8        // EVSE ID → unit
	m     *site.Manager
	loop  *site.Loop
	base  float64 // A per line
	pvW   float64 // PV production behind the grid meter, W over three lines
	plugs map[uint8]bool
	tick  time.Duration // control interval (default 1 s)
	// lag makes the grid meter a whole tick behind the EVSE meters: its load is updated
	// after the loop's read, not before (a gateway whose grid poll and EVSE polls drift a
	// full interval apart).
	lag bool
	// probe, when set, is called every 10 ms of simulated time within a tick, for the
	// settling benchmark.
	probe func()

	mu     sync.Mutex
	events []site.Change
}

const rampWPerS = 2000 // an EV takes a few seconds to follow a new offer

// setter is the EVSE side of the rig: a controller taking its setpoint, whose vehicle (the
// metersim load behind the EVSE's meter) follows it.
type setter struct {
	r    *rig
	unit uint8
}

func (s setter) SetCurrent(_ context.Context, c physic.ElectricCurrent) error {
	m, _ := s.r.sim.Meter(0, s.unit)
	a := float64(c) / float64(physic.Ampere)
	m.SetSetpoint(s.r.clk.Now(), &a)
	return nil
}

func newRig(tb testing.TB, cfg site.Config, lc site.LoopConfig) *rig {
	tb.Helper()
	clk := sim.NewManualClock(t0)
	s, err := sim.New(sim.Options{Model: "sdm630", Meters: 3, Clock: clk, Serial: "1000"})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Buses()[0].ServeTCP(ctx, ln) }()
	tb.Cleanup(func() { cancel(); <-served })
	bus, err := meter.OpenBus(ctx, "tcp://"+ln.Addr().String(), 0, time.Second, 0, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { bus.Close() })
	open := func(unit uint8) *meter.Meter {
		m, err := meter.OpenOnBus(ctx, bus, meter.Config{Unit: unit, Model: "sdm630", Now: clk.Now})
		if err != nil {
			tb.Fatalf("open unit %d: %v", unit, err)
		}
		return m
	}
	r := &rig{tb: tb, ctx: ctx, clk: clk, sim: s, grid: open(1), evses: map[uint8]*meter.Meter{},
		units: map[uint8]uint8{}, plugs: map[uint8]bool{}}
	g, _ := s.Meter(0, 1)
	g.SetProfile(clk.Now(), sim.Profile{MaxW: 200000, Phases: 3, RampWPerS: 1e9})
	g.SetLoad(clk.Now(), true, 0)
	setters := map[uint8]site.Setter{}
	for i, e := range cfg.EVSEs {
		unit := uint8(2 + i)
		r.units[e.ID], r.evses[e.ID] = unit, open(unit)
		em, _ := s.Meter(0, unit)
		em.SetProfile(clk.Now(), sim.Profile{MaxW: 22080, Phases: 3, RampWPerS: rampWPerS})
		setters[e.ID] = setter{r: r, unit: unit}
	}
	if r.m, err = site.New(cfg); err != nil {
		tb.Fatal(err)
	}
	lc.Now = clk.Now
	also := lc.OnChange
	lc.OnChange = func(c site.Change) {
		r.mu.Lock()
		r.events = append(r.events, c)
		r.mu.Unlock()
		if also != nil {
			also(c)
		}
	}
	r.tick = lc.Interval
	if r.tick == 0 {
		r.tick = time.Second
	}
	if r.loop, err = site.NewLoop(r.m, r.grid, setters, lc); err != nil {
		tb.Fatal(err)
	}
	r.house()
	return r
}

// plug connects or disconnects the vehicle at an EVSE (its load and what the gateway knows).
func (r *rig) plug(id uint8, on bool) {
	r.plugs[id] = on
	m, _ := r.sim.Meter(0, r.units[id])
	m.SetLoad(r.clk.Now(), on, 0)
}

// house sets the grid meter's load to the base plus what the EVSEs carry now, less the PV
// production: import, or export when the PV makes more. The grid meter's load follows at
// once (it ramps at 1 GW/s), from the next instant on.
func (r *rig) house() {
	now := r.clk.Now()
	net := r.gridMax()
	g, _ := r.sim.Meter(0, 1)
	if export := net < 0; export != g.State(now).Profile.Export {
		g.SetProfile(now, sim.Profile{MaxW: 200000, Phases: 3, RampWPerS: 1e9, Export: export})
	}
	a := max(net, -net)
	g.SetSetpoint(now, &a)
}

// skew is how much later than the EVSE meters the loop reads the grid meter: the gateway
// polls the EVSE meters on its own schedule, so the two never see the same instant; the
// house load the grid meter carries is updated at the poll.
const skew = 100 * time.Millisecond

// advance moves the clock by d, calling probe every 10 ms.
func (r *rig) advance(d time.Duration) {
	if r.probe == nil {
		r.clk.Advance(d)
		return
	}
	const res = 10 * time.Millisecond
	for ; d >= res; d -= res {
		r.clk.Advance(res)
		r.probe()
	}
	r.clk.Advance(d)
}

// step is one control tick, one interval later: the gateway's poll of the EVSE meters,
// then, skew later, the loop's tick (grid read over Modbus, compute, apply).
func (r *rig) step() []site.Allocation {
	r.tb.Helper()
	r.advance(r.tick - skew)
	for id, m := range r.evses {
		rd, err := m.Read(r.ctx)
		if err != nil {
			r.tb.Fatalf("read evse %d meter: %v", id, err)
		}
		var c float64
		for _, x := range rd.CurrentA {
			c = max(c, x)
		}
		v := site.Vehicle{Connected: r.plugs[id], Requesting: r.plugs[id], Current: amps(c)}
		if err := r.m.SetVehicle(id, v); err != nil {
			r.tb.Fatal(err)
		}
	}
	if r.lag {
		r.advance(skew)
		a := r.loop.Step(r.ctx)
		r.house()
		return a
	}
	r.house()
	r.advance(skew)
	return r.loop.Step(r.ctx)
}

// gridMax is the current per line at the connection point now, negative for export: the
// base plus what the EVSE meters carry less the PV (the physical truth the grid meter
// measures; the loop reads it over Modbus).
func (r *rig) gridMax() float64 {
	a := r.base - r.pvW/(3*230)
	for _, u := range r.units {
		m, _ := r.sim.Meter(0, u)
		a += m.State(r.clk.Now()).PowerW / (3 * 230)
	}
	return a
}

// settle counts ticks until the grid is at or under limit (+tol), at most n.
func (r *rig) settle(limit, tol float64, n int) int {
	for i := 1; i <= n; i++ {
		r.step()
		if r.gridMax() <= limit+tol {
			return i
		}
	}
	return -1
}

func (r *rig) takeEvents() []site.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}
