package pilot

import (
	"fmt"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/hal"
)

// Frequency is the PWM frequency of the control pilot (IEC 61851-1 Annex
// A: 1 kHz).
const Frequency = 1 * physic.KiloHertz

// Duty cycles with a meaning of their own (IEC 61851-1 Table A.8).
const (
	// DutyDigital (5 %) asks for digital communication (ISO 15118 / DIN
	// 70121); the current is then negotiated there.
	DutyDigital = gpio.DutyMax / 20
	// DutyOff (0 %) is a steady −12 V: state F, EVSE not available.
	DutyOff gpio.Duty = 0
	// DutyNone (100 %) is a steady +12 V: no PWM, the EVSE offers nothing
	// (states A1, B1, C1, D1).
	DutyNone = gpio.DutyMax
)

// DutyForCurrent returns the duty cycle that offers current, the EVSE side
// of IEC 61851-1 Table A.8:
//
//	6 A ≤ I ≤ 51 A:   duty = I / 0.6 A  %   (10 % … 85 %)
//	51 A < I ≤ 80 A:  duty = I / 2.5 A + 64 %  (85 % … 96 %)
//
// The division rounds down, so the vehicle never reads more than current.
// The two formulas do not meet: 51 A is 85 % by the first, but 52 A is
// 84.8 % by the second, which a vehicle reads with the first as 50.88 A. So
// above 51 A up to 52.5 A (85 %) the vehicle reads at most 51 A, less than
// offered (the safe side); above 52.5 A it reads the offer again. A current of 0
// returns DutyNone; anything else outside 6–80 A fails with
// hal.ErrCurrentRange.
func DutyForCurrent(current physic.ElectricCurrent) (gpio.Duty, error) {
	const ma = physic.MilliAmpere
	switch {
	case current == 0:
		return DutyNone, nil
	case current < hal.MinCurrent || current > hal.MaxCurrent:
		return 0, fmt.Errorf("offer %s: %w (0 or %s…%s)", current, hal.ErrCurrentRange, hal.MinCurrent, hal.MaxCurrent)
	case current <= 51*physic.Ampere:
		// percent = mA / 600; Duty = percent × DutyMax / 100.
		return gpio.Duty(int64(current/ma) * int64(gpio.DutyMax) / 60000), nil
	default:
		// percent = mA / 2500 + 64.
		return gpio.Duty(int64(current/ma)*int64(gpio.DutyMax)/250000 + 64*int64(gpio.DutyMax)/100), nil
	}
}

// Offer is what a vehicle reads from a duty cycle (the EV side of IEC
// 61851-1 Table A.8).
type Offer uint8

// Meanings of a duty cycle.
const (
	// OfferNone: no PWM, or a duty outside every band: no charging allowed.
	OfferNone Offer = iota
	// OfferCurrent: the duty cycle gives a maximum current.
	OfferCurrent
	// OfferDigital: 3–7 %: digital communication required.
	OfferDigital
)

// CurrentForDuty returns what a vehicle reads from duty, per IEC 61851-1
// Table A.8 as the Fluke FEV300 manual (Table 4) tabulates it:
//
//	duty < 3 %            no charging (states E/F)
//	3 % ≤ duty ≤ 7 %      digital communication (5 % nominal)
//	7 % < duty < 8 %      no charging
//	8 % ≤ duty < 10 %     6 A
//	10 % ≤ duty ≤ 85 %    duty × 0.6 A
//	85 % < duty ≤ 96 %    (duty − 64) × 2.5 A
//	96 % < duty ≤ 97 %    80 A
//	duty > 97 %           no charging (100 %: x1 states)
//
// The gateway uses it to report what it offers in the vehicle's terms and
// the simulated vehicle to decide what it may draw.
func CurrentForDuty(d gpio.Duty) (physic.ElectricCurrent, Offer) {
	// Work in ten-thousandths of a percent, rounded, to keep the band edges
	// exact at the Duty's resolution.
	p := (int64(d)*1_000_000 + int64(gpio.DutyMax)/2) / int64(gpio.DutyMax) // 1 % = 10_000
	const pct = 10_000
	switch {
	case p < 3*pct:
		return 0, OfferNone
	case p <= 7*pct:
		return 0, OfferDigital
	case p < 8*pct:
		return 0, OfferNone
	case p < 10*pct:
		return hal.MinCurrent, OfferCurrent
	case p <= 85*pct:
		// I = duty% × 0.6 A = p × 0.6 / 10_000 A = p × 60 µA.
		return physic.ElectricCurrent(p) * 60 * physic.MicroAmpere, OfferCurrent
	case p <= 96*pct:
		// I = (duty% − 64) × 2.5 A = (p − 640_000) × 250 µA.
		return physic.ElectricCurrent(p-64*pct) * 250 * physic.MicroAmpere, OfferCurrent
	case p <= 97*pct:
		return hal.MaxCurrent, OfferCurrent
	}
	return 0, OfferNone
}
