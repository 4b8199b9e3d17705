package sim

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Clock tells simulated time. The simulator integrates energy over it, so a clock that runs
// faster than the wall makes tests fast, and a manual clock makes them deterministic.
type Clock interface {
	Now() time.Time
}

// ScaledClock runs speed times faster than the wall clock, starting now.
func ScaledClock(speed float64) Clock {
	if speed <= 0 {
		speed = 1
	}
	now := time.Now()
	return &scaledClock{start: now, speed: speed}
}

type scaledClock struct {
	start time.Time
	speed float64
}

func (c *scaledClock) Now() time.Time {
	el := time.Since(c.start) // monotonic
	return c.start.Add(time.Duration(float64(el) * c.speed))
}

// ManualClock only moves when told to: for deterministic tests.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock starts a manual clock at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Profile is the load behind a meter: what flows while the load is connected.
type Profile struct {
	MaxW        float64 `json:"max_w"`        // power the load ramps up to (default 11000)
	Phases      int     `json:"phases"`       // 1 or 3 (default: the meter's phases)
	RampWPerS   float64 `json:"ramp_w_per_s"` // ramp after connecting (default 2000 W/s, EV-like)
	VoltageV    float64 `json:"voltage_v"`    // nominal line-to-neutral voltage (default 230)
	FrequencyHz float64 `json:"frequency_hz"` // nominal mains frequency (default 50)
	Export      bool    `json:"export"`       // the load feeds energy back (V2G): counts as export
}

func (p Profile) withDefaults(meterPhases int) Profile {
	if p.MaxW == 0 {
		p.MaxW = 11000
	}
	if p.Phases == 0 || p.Phases > meterPhases {
		p.Phases = meterPhases
	}
	if p.RampWPerS == 0 {
		p.RampWPerS = 2000
	}
	if p.VoltageV == 0 {
		p.VoltageV = 230
	}
	if p.FrequencyHz == 0 {
		p.FrequencyHz = 50
	}
	return p
}

// load is the physical state behind one meter: connection, ramp and the energy integral.
// Energy is integrated exactly in float64 watt-hours; each model quantises it to its own
// register encoding when the registers are read (float32 kWh, 0.1 kWh, 0.01 kWh, ...).
//
// Without a setpoint (the default) the power ramps from 0 at connection to MaxW. With a
// setpoint (SetSetpoint: the current an EVSE allows) the power follows a target instead:
// min(MaxW, amps × voltage × phases), ramping from where it is towards it at RampWPerS in
// either direction, from p0 at t0 (the last change of target or connection).
type load struct {
	profile     Profile
	connected   bool
	connectedAt time.Time
	leaseUntil  time.Time // zero: no lease
	importWh    float64
	exportWh    float64
	last        time.Time

	setpointA *float64 // nil: no setpoint, ramp to MaxW
	p0        float64  // follower: power at t0
	t0        time.Time
}

// following reports whether the load follows a setpoint.
func (l *load) following() bool { return l.setpointA != nil }

// target is the follower's target power.
func (l *load) target() float64 {
	return math.Min(l.profile.MaxW, math.Max(0, *l.setpointA)*l.profile.VoltageV*float64(l.profile.Phases))
}

// power is the load's power at t (>= 0; its sign is applied by the caller).
func (l *load) power(t time.Time) float64 {
	if !l.connected {
		return 0
	}
	if l.following() {
		return l.follow(t.Sub(l.t0).Seconds())
	}
	return math.Min(l.profile.MaxW, l.profile.RampWPerS*t.Sub(l.connectedAt).Seconds())
}

// follow is the follower's power x seconds after t0.
func (l *load) follow(x float64) float64 {
	x = math.Max(x, 0)
	tg, r := l.target(), l.profile.RampWPerS
	if tg >= l.p0 {
		return math.Min(tg, l.p0+r*x)
	}
	return math.Max(tg, l.p0-r*x)
}

// retarget restarts the follower's ramp from the power at now (call after advance).
func (l *load) retarget(now time.Time) {
	l.p0, l.t0 = l.power(now), now
}

// advance integrates energy from l.last to now, dropping the load when its lease ran out.
func (l *load) advance(now time.Time) {
	if !now.After(l.last) {
		return
	}
	end := now
	expired := false
	if l.connected && !l.leaseUntil.IsZero() && l.leaseUntil.Before(now) {
		end, expired = l.leaseUntil, true
	}
	if l.connected && end.After(l.last) {
		wh := l.integral(l.last, end) / 3600
		if l.profile.Export {
			l.exportWh += wh
		} else {
			l.importWh += wh
		}
	}
	if expired {
		l.connected = false
	}
	l.last = now
}

// integral is the energy over [a, b] in watt-seconds: ∫ min(P, r·(t−c)) dt without a
// setpoint, the follower's ramp-then-flat otherwise.
func (l *load) integral(a, b time.Time) float64 {
	if l.following() {
		x0, x1 := math.Max(a.Sub(l.t0).Seconds(), 0), math.Max(b.Sub(l.t0).Seconds(), 0)
		pa, tg, r := l.follow(x0), l.target(), l.profile.RampWPerS
		ramp := math.Min(x1-x0, math.Abs(tg-pa)/r) // seconds still ramping
		sign := 1.0
		if tg < pa {
			sign = -1
		}
		return pa*ramp + sign*r/2*ramp*ramp + tg*(x1-x0-ramp)
	}
	r, pmax := l.profile.RampWPerS, l.profile.MaxW
	x0, x1 := a.Sub(l.connectedAt).Seconds(), b.Sub(l.connectedAt).Seconds()
	x0, x1 = math.Max(x0, 0), math.Max(x1, 0)
	k := pmax / r // ramp ends
	e := 0.0
	if lo, hi := x0, math.Min(x1, k); hi > lo {
		e += r / 2 * (hi*hi - lo*lo)
	}
	if lo := math.Max(x0, k); x1 > lo {
		e += pmax * (x1 - lo)
	}
	return e
}

// connect sets the load state; lease > 0 keeps it connected only until now+lease unless
// renewed (the contactor drops when the controller stops renewing).
func (l *load) connect(now time.Time, on bool, lease time.Duration) {
	l.advance(now)
	if on && !l.connected {
		l.connectedAt = now
		l.p0, l.t0 = 0, now // the follower starts from nothing, too
	}
	l.connected = on
	l.leaseUntil = time.Time{}
	if on && lease > 0 {
		l.leaseUntil = now.Add(lease)
	}
}

// sample is one instant's measurements.
type sample struct {
	voltage, current, power [3]float64
	total, freq             float64
}

// sampleAt computes the measurements at now with a little seeded noise: mains voltage and
// frequency are always present; current and power follow the load on its phases only.
func (l *load) sampleAt(now time.Time, phases int, rng *rand.Rand) sample {
	var s sample
	p := l.power(now)
	if l.profile.Export {
		p = -p
	}
	per := p / float64(l.profile.Phases)
	for i := range phases {
		ph := 0.0
		if i < l.profile.Phases {
			ph = per
		}
		v := l.profile.VoltageV + (rng.Float64()-0.5)*0.6
		i0 := ph / v
		v -= 0.05 * math.Abs(i0) // a little drop under load
		s.voltage[i] = v
		s.current[i] = math.Abs(ph / v)
		s.power[i] = ph
		s.total += ph
	}
	s.freq = l.profile.FrequencyHz + (rng.Float64()-0.5)*0.04
	return s
}
