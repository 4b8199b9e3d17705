package pilot

import (
	"context"
	"slices"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/hal"
)

// Levels is one measurement of the CP line, as seen from the EVSE side of
// its 1 kΩ source resistor: the high level (the top of the PWM, or the
// steady level without PWM) and the low level (the bottom of the PWM; equal
// to High without PWM).
type Levels struct {
	High, Low physic.ElectricPotential
}

// Sampler measures the CP line. hal/periph reads it from an ADS1115 behind
// two peak detectors, hal/sim from a simulated vehicle. Sample fails when
// the converter cannot be read (an I²C error, say); the Pilot counts
// consecutive failures and opens the contactor when it can no longer see
// the vehicle.
type Sampler interface {
	Sample(ctx context.Context) (Levels, error)
}

// invalid is what classify returns for a level no state allows (the
// chargebyte driver calls it PilotFault).
const invalid = hal.CPState(0xff)

// band is one voltage band of classify: levels from lo up to the next band
// map to state, unless the previous state is in keep: then to kept
// (hysteresis).
type band struct {
	lo    physic.ElectricPotential
	state hal.CPState
	keep  []hal.CPState
	kept  hal.CPState
}

const mV = physic.MilliVolt

// bands are IEC 61851-1 Table A.4 ("system states detected by the charging
// station": A 11–13 V, B 8–10 V, C 5–7 V, D 2–4 V, E −1…2 V, F −13…−11 V),
// with the gaps between them used as hysteresis: a level in a gap keeps the
// state on the side it came from. The numbers follow chargebyte's EVerest
// driver (github.com/chargebyte/everest-chargebyte, CPUtils.cpp
// voltage_to_state), which cites the same table. Ordered from the top; the
// first band whose lo the level reaches wins.
var bands = []band{
	{lo: 13000*mV + 1, state: invalid},
	{lo: 11000 * mV, state: hal.CPStateA},
	{lo: 10000 * mV, state: hal.CPStateB, keep: []hal.CPState{hal.CPStateA}, kept: hal.CPStateA},
	{lo: 8000 * mV, state: hal.CPStateB},
	{lo: 7000 * mV, state: hal.CPStateC, keep: []hal.CPState{hal.CPStateA, hal.CPStateB}, kept: hal.CPStateB},
	{lo: 5000 * mV, state: hal.CPStateC},
	{lo: 4000 * mV, state: hal.CPStateD, keep: []hal.CPState{hal.CPStateA, hal.CPStateB, hal.CPStateC}, kept: hal.CPStateC},
	{lo: 2000 * mV, state: hal.CPStateD},
	{lo: -1000 * mV, state: hal.CPStateE},
	{lo: -2000 * mV, state: invalid, keep: []hal.CPState{hal.CPStateA, hal.CPStateB, hal.CPStateC, hal.CPStateD, hal.CPStateE}, kept: hal.CPStateE},
	{lo: -10000 * mV, state: invalid},
	{lo: -11000 * mV, state: invalid, keep: []hal.CPState{hal.CPStateF}, kept: hal.CPStateF},
	{lo: -13000 * mV, state: hal.CPStateF},
}

// classify maps the high level to a state, given the previous one; invalid
// for a level outside every band.
func classify(v physic.ElectricPotential, prev hal.CPState) hal.CPState {
	for _, b := range bands {
		if v < b.lo {
			continue
		}
		if slices.Contains(b.keep, prev) {
			return b.kept
		}
		return b.state
	}
	return invalid // below −13 V
}

// Thresholds of the checks that need the low level (PWM running), after
// chargebyte's check_for_cp_errors: a vehicle without its diode lets the
// negative half through, so the two levels become mirror images.
const (
	// mirrorTolerance: |High + Low| at most this means the levels mirror
	// each other: no diode.
	mirrorTolerance = 1200 * mV
	// diodeMinHigh: a high level above this with mirrored levels is a
	// missing diode; below it the line reads as state E anyway.
	diodeMinHigh = 2000 * mV
	// lowMax: with PWM running the low level must reach −11 V (state F's
	// band of Table A.4) — the vehicle's diode blocks the negative half.
	lowMax = -11000 * mV
	// lowMin is the bottom of that band.
	lowMin = -13000 * mV
)
