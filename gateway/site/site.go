package site

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/physic"
)

// Mode is how an EVSE may draw energy.
type Mode uint8

const (
	// ModeGrid charges at whatever the limits allow, from the grid if need be (the default).
	ModeGrid Mode = iota
	// ModePV charges only from the surplus exported at the grid meter, with the hysteresis
	// of doc.go ("PV surplus").
	ModePV
)

// String returns "grid" or "pv".
func (m Mode) String() string {
	if m == ModePV {
		return "pv"
	}
	return "grid"
}

// ParseMode parses "grid" or "pv".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "grid", "":
		return ModeGrid, nil
	case "pv":
		return ModePV, nil
	}
	return ModeGrid, fmt.Errorf("mode %q is not grid or pv", s)
}

// EVSE is one charging point as configured.
type EVSE struct {
	// ID names the EVSE, 1..255 (the number ledger entries carry).
	ID uint8
	// Phases is 1 or 3.
	Phases int
	// Line is the grid line (1..3) a single-phase EVSE is wired to; default 1. Ignored for
	// three phases.
	Line int
	// Min is the least current the EVSE offers while it offers any (default 6 A, the IEC
	// 61851-1 minimum of the control pilot); less than Min is a pause (0 A).
	Min physic.ElectricCurrent
	// Max is the most current the EVSE may offer: its rating, cable and circuit breaker.
	Max physic.ElectricCurrent
	// Mode is the EVSE's charging mode at start (SetMode changes it).
	Mode Mode
}

// Config is the load manager's configuration. Zero fields take the defaults named below.
type Config struct {
	// EVSEs are the box's charging points, in the order status shows them.
	EVSEs []EVSE
	// SiteLimit is the most current per phase the grid connection may carry, measured at
	// the grid meter (import; export is not limited). 0: no site limit.
	SiteLimit physic.ElectricCurrent
	// Voltage is the nominal line-to-neutral voltage used to turn power into current
	// (default 230 V).
	Voltage physic.ElectricPotential
	// Step is the resolution of allowed currents: every value is rounded down to a multiple
	// of it (default 0.1 A, the resolution of a Heidelberg Energy Control register and finer
	// than the pilot's 0.6 A per 1 % duty).
	Step physic.ElectricCurrent
	// FallbackAfter is how long the operator link may be lost before Fallback applies to
	// every EVSE; 0 disables the fallback.
	FallbackAfter time.Duration
	// Fallback is the limit of every EVSE while the operator link has been lost for longer
	// than FallbackAfter (OCPP's TxDefaultProfile role); 0 pauses.
	Fallback physic.ElectricCurrent
	// FallbackMinPower, when set, is the least power Fallback must allow an EVSE: §14a EnWG
	// lets the grid operator dim a controllable device to no less than 4.2 kW
	// (Para14aMinPower). New rejects a Fallback below it.
	FallbackMinPower physic.Power
	// GridTimeout is how old the last good grid reading may be before the site limit is
	// treated as unknown and every EVSE is held at its minimum (default 10 s).
	GridTimeout time.Duration
	// BaseSmoothing is the time constant with which the estimate of the rest of the site's
	// load (grid less EVSEs) follows a fall; a rise is taken at once (default 5 s; negative:
	// no smoothing).
	BaseSmoothing time.Duration
	// ResumeDelay is how long the site budget must give an EVSE paused by the
	// minimum-current rule its minimum again before it resumes (default 1 min).
	ResumeDelay time.Duration
	// PVStartDelay is how long the surplus must allow an EVSE's minimum before PV charging
	// starts (default 1 min, evcc's enable delay).
	PVStartDelay time.Duration
	// PVStopDelay is how long the surplus may stay below the minimum before PV charging
	// stops (default 3 min, evcc's disable delay).
	PVStopDelay time.Duration
}

// Defaults of Config and EVSE.
const (
	DefaultMin           = 6 * physic.Ampere
	DefaultVoltage       = 230 * physic.Volt
	DefaultStep          = 100 * physic.MilliAmpere
	DefaultGridTimeout   = 10 * time.Second
	DefaultResumeDelay   = time.Minute
	DefaultBaseSmoothing = 5 * time.Second
	DefaultPVStartDelay  = time.Minute
	DefaultPVStopDelay   = 3 * time.Minute
)

// Para14aMinPower is the least power a grid operator may dim a controllable consumer
// device to under §14a EnWG (BNetzA BK6-22-300): 4.2 kW.
const Para14aMinPower = 4200 * physic.Watt

// withDefaults fills in defaults and validates.
func (c Config) withDefaults() (Config, error) {
	if c.Voltage == 0 {
		c.Voltage = DefaultVoltage
	}
	if c.Step == 0 {
		c.Step = DefaultStep
	}
	if c.GridTimeout == 0 {
		c.GridTimeout = DefaultGridTimeout
	}
	if c.BaseSmoothing == 0 {
		c.BaseSmoothing = DefaultBaseSmoothing
	}
	if c.ResumeDelay == 0 {
		c.ResumeDelay = DefaultResumeDelay
	}
	if c.PVStartDelay == 0 {
		c.PVStartDelay = DefaultPVStartDelay
	}
	if c.PVStopDelay == 0 {
		c.PVStopDelay = DefaultPVStopDelay
	}
	switch {
	case len(c.EVSEs) == 0:
		return c, errors.New("no EVSE configured")
	case c.Voltage < 100*physic.Volt || c.Voltage > 300*physic.Volt:
		return c, fmt.Errorf("voltage %s: not a line-to-neutral mains voltage (100..300 V)", c.Voltage)
	case c.Step < 0 || c.Step > physic.Ampere:
		return c, fmt.Errorf("step %s: want 0..1 A", c.Step)
	case c.SiteLimit < 0:
		return c, fmt.Errorf("site limit %s is negative", c.SiteLimit)
	case c.FallbackAfter < 0 || c.Fallback < 0:
		return c, errors.New("fallback: negative")
	case c.GridTimeout < 0 || c.ResumeDelay < 0 || c.PVStartDelay < 0 || c.PVStopDelay < 0:
		return c, errors.New("negative duration")
	}
	evses := make([]EVSE, len(c.EVSEs))
	seen := map[uint8]bool{}
	for i, e := range c.EVSEs {
		if e.ID == 0 {
			return c, fmt.Errorf("evse %d: id 0 (ids are 1..255)", i+1)
		}
		if seen[e.ID] {
			return c, fmt.Errorf("evse %d: id used twice", e.ID)
		}
		seen[e.ID] = true
		if e.Phases != 1 && e.Phases != 3 {
			return c, fmt.Errorf("evse %d: phases %d, want 1 or 3", e.ID, e.Phases)
		}
		if e.Line == 0 {
			e.Line = 1
		}
		if e.Line < 1 || e.Line > 3 {
			return c, fmt.Errorf("evse %d: line %d, want 1..3", e.ID, e.Line)
		}
		if e.Min == 0 {
			e.Min = DefaultMin
		}
		if e.Min < 0 || e.Max < e.Min {
			return c, fmt.Errorf("evse %d: min %s, max %s: want 0 < min <= max", e.ID, e.Min, e.Max)
		}
		if e.Mode > ModePV {
			return c, fmt.Errorf("evse %d: unknown mode %d", e.ID, e.Mode)
		}
		if c.FallbackAfter > 0 && c.FallbackMinPower > 0 && c.Fallback > 0 {
			if p := power(c.Fallback, e.Phases, c.Voltage); p < c.FallbackMinPower {
				return c, fmt.Errorf("evse %d: fallback %s allows %s, less than the %s required", e.ID, c.Fallback, p, c.FallbackMinPower)
			}
		}
		evses[i] = e
	}
	if c.FallbackAfter > 0 && c.FallbackMinPower > 0 && c.Fallback == 0 {
		return c, fmt.Errorf("fallback 0 A pauses, less than the %s required", c.FallbackMinPower)
	}
	c.EVSEs = evses
	return c, nil
}

// power is current × voltage × phases.
func power(i physic.ElectricCurrent, phases int, v physic.ElectricPotential) physic.Power {
	return physic.Power(float64(i) / float64(physic.Ampere) * float64(v) / float64(physic.Volt) * float64(phases) * float64(physic.Watt))
}

// CurrentFor is the least current per phase (rounded up to step) that lets phases lines at
// voltage v carry power p: for example 4.2 kW on three phases at 230 V needs 6.1 A, on one
// phase 18.3 A.
func CurrentFor(p physic.Power, phases int, v physic.ElectricPotential, step physic.ElectricCurrent) physic.ElectricCurrent {
	if phases <= 0 || v <= 0 {
		return 0
	}
	a := float64(p) / float64(physic.Watt) / (float64(v) / float64(physic.Volt)) / float64(phases)
	i := physic.ElectricCurrent(a * float64(physic.Ampere))
	if step > 0 && i%step != 0 {
		i += step - i%step
	}
	return i
}

// Origin says where a limit comes from.
type Origin string

// Limit origins. A positive limit is a setpoint ceiling; 0 pauses.
const (
	OriginConfig   Origin = "config"   // the configuration file
	OriginOperator Origin = "operator" // an operator command over MQTT
	OriginOCPP     Origin = "ocpp"     // an OCPP smart-charging profile
	OriginFallback Origin = "fallback" // the operator link is lost (Config.Fallback)
)

// Limit is a ceiling on the current of one EVSE or of the whole box from one source.
// Limits from different sources stack: the lowest in force wins.
type Limit struct {
	// Origin names the source; one limit per origin and EVSE is in force (setting another
	// replaces it).
	Origin Origin
	// EVSE is the EVSE the limit applies to; 0 limits the sum of all EVSEs (OCPP's charge
	// point maximum, an operator's box-wide limit).
	EVSE uint8
	// Current is the ceiling per phase; 0 pauses.
	Current physic.ElectricCurrent
	// Expires is when the limit stops applying; zero: never.
	Expires time.Time
}

// Reason says which limit bound an EVSE's allowed current.
type Reason string

// Reasons. The limit origins (OriginConfig, OriginOperator, OriginOCPP, OriginFallback)
// are reasons too, as Reason(origin): the limit of that origin bound the EVSE (a limit of 0,
// or one below the EVSE's minimum, pauses it), or, for a box-wide limit, the share.
const (
	ReasonNoVehicle Reason = "no_vehicle" // no vehicle connected: nothing is offered
	ReasonEVSEMax   Reason = "evse_max"   // the EVSE's own maximum
	ReasonStandby   Reason = "standby"    // vehicle connected, not requesting: offered its minimum so it can start
	ReasonSite      Reason = "site_limit" // the fair share of the site limit at the grid meter
	ReasonSiteMin   Reason = "site_min"   // paused: the site limit cannot give this EVSE its minimum
	ReasonGridStale Reason = "grid_stale" // the grid meter is not being read: held at the minimum
	ReasonPV        Reason = "pv_surplus" // the share of the PV surplus
	ReasonPVWait    Reason = "pv_wait"    // paused: not enough PV surplus (yet, or any more)
	ReasonPVHold    Reason = "pv_hold"    // surplus below the minimum, held at it until PVStopDelay
)

// Vehicle is what the gateway knows of the vehicle at one EVSE, reported with
// Manager.SetVehicle after every poll.
type Vehicle struct {
	// Connected: a vehicle is plugged in (control-pilot state B, C or D).
	Connected bool
	// Requesting: the vehicle asks for energy (state C or D).
	Requesting bool
	// Current is the highest phase current measured at the EVSE's meter.
	Current physic.ElectricCurrent
}

// Allocation is one EVSE's allowed current after a control tick.
type Allocation struct {
	EVSE    uint8
	Current physic.ElectricCurrent // per phase; 0 pauses
	Reason  Reason
}

// Change is a change of an EVSE's allowed current, reported to Loop's OnChange for the
// chain (rate-limited: see doc.go "Events").
type Change struct {
	Time     time.Time
	EVSE     uint8
	From, To physic.ElectricCurrent
	Reason   Reason
	// Coalesced counts the changes since the previous report that this one sums up.
	Coalesced int
}
