package site

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/meter"
)

// GridMeter reads the meter at the grid connection point; *meter.Meter satisfies it. Read
// fails (wrapped) when the meter cannot be read or its reading is implausible.
type GridMeter interface {
	Read(ctx context.Context) (meter.Reading, error)
}

// Setter applies an EVSE's allowed current; hal.CurrentControl (the control pilot, an EVSE
// controller over Modbus) satisfies it. SetCurrent(ctx, 0) pauses; it fails (wrapped) when
// the backend cannot be reached or refuses the value, and the loop tries again next tick.
type Setter interface {
	SetCurrent(ctx context.Context, current physic.ElectricCurrent) error
}

// LoopConfig configures a Loop. Zero fields take the defaults named.
type LoopConfig struct {
	// Interval is the control tick (default 1 s).
	Interval time.Duration
	// EventInterval is the least time between two reported changes of one EVSE that
	// neither pause nor resume it (default 30 s; see doc.go "Events").
	EventInterval time.Duration
	// ReadTimeout bounds one grid meter read (default: Interval).
	ReadTimeout time.Duration
	// OnChange receives every reported change, from the loop's goroutine; nil: none.
	OnChange func(Change)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives read and apply failures (nil: discard).
	Logger *slog.Logger
}

// Defaults of LoopConfig.
const (
	DefaultInterval      = time.Second
	DefaultEventInterval = 30 * time.Second
)

// Loop is the control loop: on each tick it reads the grid meter, runs the manager's
// policy, applies changed currents through the setters and reports the changes.
type Loop struct {
	m       *Manager
	grid    GridMeter
	setters map[uint8]Setter
	cfg     LoopConfig
	log     *slog.Logger

	mu   sync.Mutex
	last []Allocation // the latest tick's allocation, for status

	applied map[uint8]physic.ElectricCurrent // last current each setter accepted
	known   map[uint8]bool                   // applied holds a value the setter accepted
	events  map[uint8]*reporter
}

// NewLoop returns a loop over m. grid may be nil when no site limit is configured and no
// EVSE is in PV mode (it is then never read); setters needs one per configured EVSE.
func NewLoop(m *Manager, grid GridMeter, setters map[uint8]Setter, cfg LoopConfig) (*Loop, error) {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.EventInterval == 0 {
		cfg.EventInterval = DefaultEventInterval
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = cfg.Interval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval < 0 || cfg.EventInterval < 0 || cfg.ReadTimeout < 0 {
		return nil, errors.New("control loop: negative duration")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mc := m.Config()
	if grid == nil && mc.SiteLimit > 0 {
		return nil, errors.New("control loop: a site limit needs a grid meter")
	}
	l := &Loop{m: m, grid: grid, setters: map[uint8]Setter{}, cfg: cfg, log: log,
		applied: map[uint8]physic.ElectricCurrent{}, known: map[uint8]bool{}, events: map[uint8]*reporter{}}
	for _, e := range mc.EVSEs {
		s, ok := setters[e.ID]
		if !ok || s == nil {
			return nil, fmt.Errorf("control loop: evse %d has no current control", e.ID)
		}
		l.setters[e.ID] = s
		l.events[e.ID] = &reporter{every: cfg.EventInterval}
	}
	if len(setters) != len(l.setters) {
		return nil, errors.New("control loop: a current control for an EVSE that is not configured")
	}
	return l, nil
}

// Run ticks every Interval until ctx ends, then pauses every EVSE (with a fresh context of
// one Interval, so the relay side sees a definite 0 A) and returns ctx's error.
func (l *Loop) Run(ctx context.Context) error {
	t := time.NewTicker(l.cfg.Interval)
	defer t.Stop()
	for {
		l.Step(ctx)
		select {
		case <-ctx.Done():
			l.pauseAll()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (l *Loop) pauseAll() {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Interval)
	defer cancel()
	for id, s := range l.setters {
		if err := s.SetCurrent(ctx, 0); err != nil {
			l.log.Warn("pause at stop", "evse", id, "err", err)
		}
	}
}

// Step runs one control tick: reads the grid meter (when there is one), computes, applies
// what changed (and what failed last time) and reports changes. It returns the allocation.
// Run calls it; call it directly only when not running Run (tests, a caller's own clock).
func (l *Loop) Step(ctx context.Context) []Allocation {
	if l.grid != nil {
		rctx, cancel := context.WithTimeout(ctx, l.cfg.ReadTimeout)
		r, err := l.grid.Read(rctx)
		cancel()
		if err == nil {
			var g Grid
			if g, err = GridFromReading(r); err == nil {
				if g.Time.IsZero() {
					g.Time = l.cfg.Now()
				}
				l.m.SetGrid(g)
			}
		}
		if err != nil && ctx.Err() == nil {
			l.log.Warn("read grid meter", "err", err)
		}
	}
	now := l.cfg.Now()
	alloc := l.m.Compute(now)
	l.mu.Lock()
	l.last = slices.Clone(alloc)
	l.mu.Unlock()
	for _, a := range alloc {
		if !l.known[a.EVSE] || l.applied[a.EVSE] != a.Current {
			if err := l.setters[a.EVSE].SetCurrent(ctx, a.Current); err != nil {
				l.known[a.EVSE] = false
				if ctx.Err() == nil {
					l.log.Warn("set current", "evse", a.EVSE, "current", a.Current, "err", err)
				}
			} else {
				l.applied[a.EVSE], l.known[a.EVSE] = a.Current, true
			}
		}
		if c, ok := l.events[a.EVSE].observe(now, a); ok && l.cfg.OnChange != nil {
			c.EVSE = a.EVSE
			l.cfg.OnChange(c)
		}
	}
	return alloc
}

// Last returns the latest tick's allocation (nil before the first tick), for status pages
// and metrics; safe to call while Run runs.
func (l *Loop) Last() []Allocation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.last)
}

// reporter rate-limits one EVSE's change events (doc.go "Events").
type reporter struct {
	every   time.Duration
	started bool
	last    Allocation // last reported
	lastAt  time.Time
	pending int // changes seen since the last report
}

// observe takes the allocation of a tick and says whether (and what) to report now.
func (r *reporter) observe(now time.Time, a Allocation) (Change, bool) {
	if !r.started {
		r.started = true
		r.last, r.lastAt = a, now
		return Change{Time: now, To: a.Current, Reason: a.Reason}, true
	}
	if a.Current == r.last.Current && a.Reason == r.last.Reason {
		// Back where the last report left it: nothing to say.
		r.pending = 0
		return Change{}, false
	}
	r.pending++
	edge := (a.Current == 0) != (r.last.Current == 0) // pause or resume
	if !edge && now.Sub(r.lastAt) < r.every {
		return Change{}, false
	}
	c := Change{Time: now, From: r.last.Current, To: a.Current, Reason: a.Reason, Coalesced: r.pending}
	r.last, r.lastAt, r.pending = a, now, 0
	return c, true
}
