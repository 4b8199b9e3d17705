package hal

import (
	"context"
	"errors"

	"periph.io/x/conn/v3/physic"
)

// CPState is a control-pilot state of IEC 61851-1 (Annex A, Table A.3): what
// the vehicle signals on the CP line, as either backend of CurrentControl
// reads it (the pilot in hal/pilot from the CP voltage, an EVSE controller
// from its status register).
type CPState uint8

// Control-pilot states. The nominal high level of each (with the EVSE's
// 1 kΩ source and the vehicle's diode) is in brackets.
const (
	// CPUnknown: not measured yet, or the measurement failed.
	CPUnknown CPState = iota
	// CPStateA: no vehicle connected (+12 V).
	CPStateA
	// CPStateB: vehicle connected, not requesting energy (+9 V: R2 2.74 kΩ).
	CPStateB
	// CPStateC: vehicle requests energy (+6 V: R2 ∥ R3 1.3 kΩ).
	CPStateC
	// CPStateD: vehicle requests energy with ventilation (+3 V: R2 ∥ R3 270 Ω).
	CPStateD
	// CPStateE: CP shorted to PE, or the EVSE has no supply (0 V).
	CPStateE
	// CPStateF: EVSE not available (−12 V).
	CPStateF
)

// String returns the state's letter ("A" … "F") or "unknown".
func (s CPState) String() string {
	if s >= CPStateA && s <= CPStateF {
		return string(rune('A' + s - CPStateA))
	}
	return "unknown"
}

// Connected reports whether a vehicle is plugged in (B, C or D).
func (s CPState) Connected() bool { return s >= CPStateB && s <= CPStateD }

// Requesting reports whether the vehicle asks for energy (C or D): the only
// states in which the contactor may be closed.
func (s CPState) Requesting() bool { return s == CPStateC || s == CPStateD }

// ParseCPState parses a state letter ("A" … "F", either case).
func ParseCPState(s string) (CPState, error) {
	if len(s) == 1 {
		c := s[0] | 0x20 // lower case
		if c >= 'a' && c <= 'f' {
			return CPStateA + CPState(c-'a'), nil
		}
	}
	return CPUnknown, errors.New("control-pilot state " + `"` + s + `"` + " is not one of A, B, C, D, E, F")
}

// MinCurrent is the lowest current IEC 61851-1 lets an EVSE offer with a
// PWM signal (10 % duty, Table A.8); below it the only offer is none.
const MinCurrent = 6 * physic.Ampere

// MaxCurrent is the highest current the PWM can express (96 % duty).
const MaxCurrent = 80 * physic.Ampere

// ErrCurrentRange means a setpoint is neither 0 nor within the backend's
// range (6–80 A for the pilot; the device's own range for an EVSE
// controller). The load manager decides what to do with less than the
// minimum — pause (0 A) or round up — not the backend.
var ErrCurrentRange = errors.New("current setpoint out of range")

// ControlState is a current-control backend's view of its charging point.
type ControlState struct {
	// CP is the vehicle's control-pilot state.
	CP CPState
	// Setpoint is the last current set with SetCurrent (0: paused).
	Setpoint physic.ElectricCurrent
	// Offered is the current offered to the vehicle now: the pilot's PWM or
	// the controller's current limit. 0 while paused, faulted or not ready.
	Offered physic.ElectricCurrent
	// ContactorAllowed says that power may flow: the vehicle requests
	// (C, or D where ventilation is provided), a current is offered and no
	// fault stands. For the pilot it is the permission the gateway needs to
	// close the contactor; an EVSE controller switches its own contactor and
	// reports here whether it does.
	ContactorAllowed bool
	// Fault is the standing fault, nil when there is none; errors.Is
	// tells its kind (each backend documents its sentinels).
	Fault error
}

// CurrentControl is a per-EVSE current setpoint: the IEC 61851-1 control
// pilot (hal/pilot) or an EVSE controller taking its setpoint over Modbus
// (hal/heidelberg). The gateway's load management sets the current and
// reads the state; both backends satisfy the same contract:
//
//   - SetCurrent(ctx, 0) pauses: no current is offered and the contactor is
//     (or will be, once the vehicle stops drawing) open; the vehicle stays
//     connected. A value between 0 and the minimum, or above the maximum,
//     fails with ErrCurrentRange and changes nothing. Transport failures
//     are wrapped with what was being done.
//   - State returns the latest known state; a backend that has to ask a
//     device does so within ctx, and fails (wrapped) when it cannot.
type CurrentControl interface {
	SetCurrent(ctx context.Context, current physic.ElectricCurrent) error
	State(ctx context.Context) (ControlState, error)
}
