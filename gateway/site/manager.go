package site

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/meter"
)

// Grid is one reading of the grid meter: import positive, export negative.
type Grid struct {
	// Time is when the reading was taken.
	Time time.Time
	// Lines is the signed current of each measured line (1 or 3), A.
	Lines []float64
	// PowerW is the total active power, W.
	PowerW float64
}

// ErrNoGridValues means a grid meter reading lacks the values load management needs.
var ErrNoGridValues = errors.New("grid reading has no per-phase current or power")

// GridFromReading turns a meter reading into a Grid. Each line's signed current is its
// active power over its voltage, which keeps the sign of export; a model without per-phase
// power gives its (unsigned) currents, which over-states import and never under-states it.
func GridFromReading(r meter.Reading) (Grid, error) {
	if r.Status != "" && r.Status != meter.StatusOK {
		return Grid{}, fmt.Errorf("grid reading status %s", r.Status)
	}
	g := Grid{Time: r.Time, PowerW: r.PowerW}
	switch {
	case len(r.PhasePowerW) > 0 && len(r.VoltageV) == len(r.PhasePowerW):
		for i, p := range r.PhasePowerW {
			v := r.VoltageV[i]
			if v < 50 {
				return Grid{}, fmt.Errorf("grid line %d voltage %.1f V: no mains", i+1, v)
			}
			g.Lines = append(g.Lines, p/v)
		}
	case len(r.CurrentA) > 0:
		g.Lines = append(g.Lines, r.CurrentA...)
	default:
		return Grid{}, ErrNoGridValues
	}
	return g, nil
}

// evse is the manager's state of one EVSE.
type evse struct {
	EVSE
	mode    Mode
	vehicle Vehicle
	since   time.Time // when the vehicle was first seen connected; zero while none is
	limits  map[Origin]Limit

	sitePaused  bool      // paused by the minimum-current rule of the site limit
	resumeSince time.Time // since when the site budget would give it its minimum again

	pvOn    bool      // PV charging running
	pvSince time.Time // since when the start (off) or stop (on) condition has held
}

// Manager is the load-management policy: it keeps the inputs (vehicles, limits, the grid
// reading, the operator link) and computes every EVSE's allowed current on each tick. It is
// safe for concurrent use; it does no I/O (Loop does).
type Manager struct {
	mu    sync.Mutex
	cfg   Config
	evses []*evse
	site  map[Origin]Limit // limits on the sum of all EVSEs (Limit.EVSE 0)

	grid     Grid
	haveGrid bool

	base   []float64 // smoothed base load per line, A (rule 4 of doc.go)
	baseAt time.Time // grid reading the smoothing last took in

	linkUp    bool
	linkSince time.Time // when the link went down (zero: not known yet)
}

// New validates cfg and returns a manager with no vehicle connected, the operator link
// down since the first Compute, and no limits but the EVSEs' own maxima.
func New(cfg Config) (*Manager, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("load management configuration: %w", err)
	}
	m := &Manager{cfg: cfg, site: map[Origin]Limit{}}
	for _, e := range cfg.EVSEs {
		m.evses = append(m.evses, &evse{EVSE: e, mode: e.Mode, limits: map[Origin]Limit{}})
	}
	return m, nil
}

// Config returns the configuration with its defaults filled in.
func (m *Manager) Config() Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.cfg
	c.EVSEs = slices.Clone(c.EVSEs)
	return c
}

// ErrUnknownEVSE means an EVSE ID that is not configured.
var ErrUnknownEVSE = errors.New("unknown EVSE")

func (m *Manager) find(id uint8) (*evse, error) {
	for _, e := range m.evses {
		if e.ID == id {
			return e, nil
		}
	}
	return nil, fmt.Errorf("evse %d: %w", id, ErrUnknownEVSE)
}

// SetLimit puts a limit in force, replacing the one of the same origin and EVSE.
func (m *Manager) SetLimit(l Limit) error {
	if l.Current < 0 {
		return fmt.Errorf("limit %s from %s: negative", l.Current, l.Origin)
	}
	if l.Origin == "" {
		return errors.New("limit without origin")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if l.EVSE == 0 {
		m.site[l.Origin] = l
		return nil
	}
	e, err := m.find(l.EVSE)
	if err != nil {
		return err
	}
	e.limits[l.Origin] = l
	return nil
}

// ClearLimit removes the limit of origin on evse (0: the box-wide one), if any.
func (m *Manager) ClearLimit(origin Origin, id uint8) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == 0 {
		delete(m.site, origin)
		return nil
	}
	e, err := m.find(id)
	if err != nil {
		return err
	}
	delete(e.limits, origin)
	return nil
}

// Limits returns the limits in force at now, box-wide ones first, then by EVSE and origin.
func (m *Manager) Limits(now time.Time) []Limit {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Limit
	add := func(ls map[Origin]Limit) {
		for _, o := range sortedOrigins(ls) {
			if l := ls[o]; inForce(l, now) {
				out = append(out, l)
			}
		}
	}
	add(m.site)
	for _, e := range m.evses {
		add(e.limits)
	}
	return out
}

// SetMode changes an EVSE's charging mode.
func (m *Manager) SetMode(id uint8, mode Mode) error {
	if mode > ModePV {
		return fmt.Errorf("evse %d: unknown mode %d", id, mode)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.find(id)
	if err != nil {
		return err
	}
	if e.mode != mode {
		e.mode, e.pvOn, e.pvSince = mode, false, time.Time{}
	}
	return nil
}

// SetVehicle reports the vehicle at an EVSE (after every poll of its meter and pilot).
func (m *Manager) SetVehicle(id uint8, v Vehicle) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.find(id)
	if err != nil {
		return err
	}
	if !v.Connected {
		v = Vehicle{}
	}
	e.vehicle = v
	return nil
}

// SetGrid reports a good grid meter reading.
func (m *Manager) SetGrid(g Grid) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.grid, m.haveGrid = g, true
}

// SetLink reports the operator link's state at now (call it on every change).
func (m *Manager) SetLink(up bool, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if up == m.linkUp && !m.linkSince.IsZero() {
		return
	}
	m.linkUp, m.linkSince = up, now
}

func inForce(l Limit, now time.Time) bool {
	return l.Expires.IsZero() || now.Before(l.Expires)
}

func sortedOrigins(ls map[Origin]Limit) []Origin {
	os := make([]Origin, 0, len(ls))
	for o := range ls {
		os = append(os, o)
	}
	slices.Sort(os)
	return os
}

// fallbackActive reports whether the link-loss fallback applies at now.
func (m *Manager) fallbackActive(now time.Time) bool {
	if m.cfg.FallbackAfter <= 0 || m.linkUp {
		return false
	}
	if m.linkSince.IsZero() {
		m.linkSince = now // down since the manager started ticking
	}
	return now.Sub(m.linkSince) >= m.cfg.FallbackAfter
}

func (m *Manager) floor(i physic.ElectricCurrent) physic.ElectricCurrent {
	if i <= 0 {
		return 0
	}
	return i - i%m.cfg.Step
}

// unlimited stands for "no site budget".
const unlimited = physic.ElectricCurrent(math.MaxInt64)

// demand is one EVSE in the site allocation.
type demand struct {
	e         *evse
	cap       physic.ElectricCurrent
	capReason Reason
	out       *Allocation
}

// Compute runs the policy of doc.go at now and returns every EVSE's allowed current, in
// configuration order. Expired limits are dropped.
func (m *Manager) Compute(now time.Time) []Allocation {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Allocation, len(m.evses))
	gridOK := m.haveGrid && now.Sub(m.grid.Time) <= m.cfg.GridTimeout
	fallback := m.fallbackActive(now)

	// 1. Each EVSE's own ceiling: its maximum and the lowest limit in force.
	var ds []*demand
	var pv []*demand
	for i, e := range m.evses {
		out[i] = Allocation{EVSE: e.ID, Reason: ReasonNoVehicle}
		for o, l := range e.limits {
			if !inForce(l, now) {
				delete(e.limits, o)
			}
		}
		if !e.vehicle.Connected {
			e.since, e.sitePaused, e.resumeSince, e.pvOn, e.pvSince = time.Time{}, false, time.Time{}, false, time.Time{}
			continue
		}
		if e.since.IsZero() {
			e.since = now
		}
		d := &demand{e: e, cap: e.Max, capReason: ReasonEVSEMax, out: &out[i]}
		for _, o := range sortedOrigins(e.limits) {
			if l := e.limits[o]; l.Current < d.cap {
				d.cap, d.capReason = l.Current, Reason(o)
			}
		}
		if fallback && m.cfg.Fallback < d.cap {
			d.cap, d.capReason = m.cfg.Fallback, Reason(OriginFallback)
		}
		if !e.vehicle.Requesting && e.Min < d.cap {
			d.cap, d.capReason = e.Min, ReasonStandby
		}
		d.cap = m.floor(d.cap)
		if d.cap < e.Min {
			out[i].Reason = d.capReason // a pause, or a limit below the minimum
			continue
		}
		if e.mode == ModePV {
			pv = append(pv, d)
			continue
		}
		ds = append(ds, d)
	}

	// 2. PV surplus: which PV EVSEs run, and their share of the surplus.
	ds = append(ds, m.surplus(now, gridOK, pv)...)

	// 3. The site budget, shared fairly.
	m.share(now, gridOK, ds)
	return out
}

// surplus applies the PV rule of doc.go to the PV-mode EVSEs and returns those that may
// draw, their ceilings lowered to their share of the surplus.
func (m *Manager) surplus(now time.Time, gridOK bool, pv []*demand) []*demand {
	if len(pv) == 0 {
		return nil
	}
	if !gridOK {
		for _, d := range pv {
			d.e.pvOn, d.e.pvSince = false, time.Time{}
			d.out.Reason = ReasonGridStale
		}
		return nil
	}
	// Surplus: the export plus what the PV EVSEs draw now (their own draw is surplus they use).
	s := -m.grid.PowerW
	for _, d := range pv {
		s += watts(power(d.e.vehicle.Current, d.e.Phases, m.cfg.Voltage))
	}
	// Running ones first, then the waiting ones, each by arrival.
	slices.SortStableFunc(pv, func(a, b *demand) int {
		if a.e.pvOn != b.e.pvOn {
			if a.e.pvOn {
				return -1
			}
			return 1
		}
		return a.e.since.Compare(b.e.since)
	})
	left := s
	ok := make([]bool, len(pv))
	running := 0
	for i, d := range pv {
		minW := watts(power(d.e.Min, d.e.Phases, m.cfg.Voltage))
		if left >= minW {
			ok[i], left = true, left-minW
			if d.e.pvOn {
				running++
			}
		}
	}
	var run []*demand
	for i, d := range pv {
		e := d.e
		switch {
		case !e.pvOn && ok[i]:
			if e.pvSince.IsZero() {
				e.pvSince = now
			}
			if now.Sub(e.pvSince) < m.cfg.PVStartDelay {
				d.out.Reason = ReasonPVWait
				continue
			}
			e.pvOn, e.pvSince = true, time.Time{}
			running++ // it shares from the next tick; this one it starts at its minimum
			d.cap, d.capReason = e.Min, ReasonPV
			run = append(run, d)
		case !e.pvOn:
			e.pvSince = time.Time{}
			d.out.Reason = ReasonPVWait
		case ok[i]:
			e.pvSince = time.Time{}
			share := s / float64(running)
			if c := m.floor(CurrentFor(physic.Power(share*float64(physic.Watt)), e.Phases, m.cfg.Voltage, 0)); c < d.cap {
				d.cap, d.capReason = max(c, e.Min), ReasonPV
			}
			run = append(run, d)
		default: // running, surplus below its minimum
			if e.pvSince.IsZero() {
				e.pvSince = now
			}
			if now.Sub(e.pvSince) >= m.cfg.PVStopDelay {
				e.pvOn, e.pvSince = false, time.Time{}
				d.out.Reason = ReasonPVWait
				continue
			}
			d.cap, d.capReason = e.Min, ReasonPVHold
			run = append(run, d)
		}
	}
	return run
}

func watts(p physic.Power) float64 { return float64(p) / float64(physic.Watt) }

// budget is the current per phase the EVSEs may draw together, and what bounds it.
func (m *Manager) budget(now time.Time) (physic.ElectricCurrent, Reason) {
	b, why := unlimited, ReasonSite
	if m.cfg.SiteLimit > 0 {
		// Per line: the limit minus what the rest of the site draws (the grid reading less
		// the EVSEs' own measured draw on that line).
		m.smoothBase()
		minHead := math.Inf(1)
		for _, base := range m.base {
			minHead = math.Min(minHead, float64(m.cfg.SiteLimit)/float64(physic.Ampere)-base)
		}
		if !math.IsInf(minHead, 1) {
			b = physic.ElectricCurrent(math.Max(0, minHead) * float64(physic.Ampere))
		}
	}
	for _, o := range sortedOrigins(m.site) {
		l := m.site[o]
		if !inForce(l, now) {
			delete(m.site, o)
			continue
		}
		if l.Current < b {
			b, why = l.Current, Reason(o)
		}
	}
	return b, why
}

// smoothBase takes the latest grid reading into the base-load estimate: per line, the grid
// current less the EVSEs' own measured current on it. A rise is taken at once; a fall only
// with the time constant BaseSmoothing. The grid meter and the EVSE meters are not read at
// the same instant, so while vehicles ramp the difference errs by what they ramped in
// between; taking the high side of that error keeps the loop from chasing it (an
// oscillation of several amperes with a one-second skew and vehicles ramping at 3 A/s).
// OpenEVSE's current shaper smooths its live power the same way: rises at once, falls
// filtered (src/current_shaper.cpp).
func (m *Manager) smoothBase() {
	if m.grid.Time.Equal(m.baseAt) && len(m.base) == len(m.grid.Lines) {
		return
	}
	dt := m.grid.Time.Sub(m.baseAt).Seconds()
	fresh := len(m.base) != len(m.grid.Lines) || m.baseAt.IsZero()
	if fresh {
		m.base = make([]float64, len(m.grid.Lines))
	}
	for line, g := range m.grid.Lines {
		base := g
		for _, e := range m.evses {
			if e.Phases == 3 || e.Line == line+1 {
				base -= float64(e.vehicle.Current) / float64(physic.Ampere)
			}
		}
		switch {
		case fresh || base >= m.base[line]-0.01 || m.cfg.BaseSmoothing <= 0:
			// (within 10 mA: taken as it is, so the estimate arrives rather than approaching)
			m.base[line] = base
		case dt > 0:
			m.base[line] += (base - m.base[line]) * (1 - math.Exp(-dt/m.cfg.BaseSmoothing.Seconds()))
		}
	}
	m.baseAt = m.grid.Time
}

// share gives each demand its allowed current: the site budget shared equally (max-min
// fair, each within [Min, cap]), with the minimum-current rule of doc.go.
func (m *Manager) share(now time.Time, gridOK bool, ds []*demand) {
	if len(ds) == 0 {
		return
	}
	if m.cfg.SiteLimit > 0 && !gridOK {
		for _, d := range ds {
			d.out.Current, d.out.Reason = d.cap, d.capReason
			if d.e.Min < d.cap {
				d.out.Current, d.out.Reason = d.e.Min, ReasonGridStale
			}
		}
		return
	}
	b, why := m.budget(now)
	// Priority for the minimum-current rule: requesting before standby, then first come.
	slices.SortStableFunc(ds, func(a, c *demand) int {
		if a.e.vehicle.Requesting != c.e.vehicle.Requesting {
			if a.e.vehicle.Requesting {
				return -1
			}
			return 1
		}
		return a.e.since.Compare(c.e.since)
	})
	pausedWhy := ReasonSiteMin
	if why != ReasonSite {
		pausedWhy = why
	}
	var active, paused []*demand
	for _, d := range ds {
		if d.e.sitePaused {
			paused = append(paused, d)
		} else {
			active = append(active, d)
		}
	}
	sumMin := func(ds []*demand) (s physic.ElectricCurrent) {
		for _, d := range ds {
			s += d.e.Min
		}
		return s
	}
	for len(active) > 0 && sumMin(active) > b {
		d := active[len(active)-1]
		active = active[:len(active)-1]
		d.e.sitePaused, d.e.resumeSince = true, time.Time{}
		paused = append([]*demand{d}, paused...)
	}
	// Paused ones resume once the budget has given them their minimum for ResumeDelay.
	var still []*demand
	spare := b - sumMin(active)
	for _, d := range paused {
		if spare >= d.e.Min {
			if d.e.resumeSince.IsZero() {
				d.e.resumeSince = now
			}
			if now.Sub(d.e.resumeSince) >= m.cfg.ResumeDelay {
				d.e.sitePaused, d.e.resumeSince = false, time.Time{}
				spare -= d.e.Min
				active = append(active, d)
				continue
			}
		} else {
			d.e.resumeSince = time.Time{}
		}
		still = append(still, d)
	}
	for _, d := range still {
		d.out.Current, d.out.Reason = 0, pausedWhy
	}
	if len(active) == 0 {
		return
	}
	if b == unlimited {
		for _, d := range active {
			d.out.Current, d.out.Reason = d.cap, d.capReason
		}
		return
	}
	// Water level: the largest multiple of Step at which Σ clamp(level, Min, cap) ≤ b.
	fill := func(level physic.ElectricCurrent) (s physic.ElectricCurrent) {
		for _, d := range active {
			s += min(max(level, d.e.Min), d.cap)
		}
		return s
	}
	var top physic.ElectricCurrent
	for _, d := range active {
		top = max(top, d.cap)
	}
	lo, hi := int64(0), int64(top/m.cfg.Step)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fill(physic.ElectricCurrent(mid)*m.cfg.Step) <= b {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	level := physic.ElectricCurrent(lo) * m.cfg.Step
	for _, d := range active {
		c := min(max(level, d.e.Min), d.cap)
		d.out.Current, d.out.Reason = c, why
		if c == d.cap && level >= d.cap {
			d.out.Reason = d.capReason
		}
	}
}
