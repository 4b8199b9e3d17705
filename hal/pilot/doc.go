// Package pilot is the EVSE side of the IEC 61851-1 control pilot: the PWM that offers a current, the CP states read from the line, and when the contactor may close or must open.
//
// # Shape
//
//	p, err := pilot.New(cfg, pwmPin, sampler, relay, logger) // line at +12 V, nothing offered
//	go p.Run(ctx)                         // measures every 10 ms; line at −12 V (F) when it returns
//	err = p.SetCurrent(ctx, 16*physic.Ampere) // 0 pauses; 6–80 A, capped to cfg.Max
//	for e := range p.Events() { ... }     // CP state, offer, ContactorAllowed, faults, Opened
//	s, _ := p.State(ctx)                  // hal.ControlState
//
// Pilot implements hal.CurrentControl. pwmPin is any periph.io gpio.PinOut
// with hardware PWM (hal/periph.PWMPin on a Raspberry Pi, hal/sim's
// ControlPilot in tests); sampler measures the line (hal/periph's ADS1115
// front end, or the simulation); relay is hal.Board (or nil).
//
// # Duty cycle and current (IEC 61851-1 Table A.8)
//
// The EVSE offers a current by the duty cycle of a 1 kHz ±12 V square
// wave:
//
//	offer                 duty cycle
//	6 A … 51 A            I / 0.6 A %          (10 % … 85 %)
//	51 A … 80 A           I / 2.5 A + 64 %     (85 % … 96 %)
//	digital communication 5 %
//	nothing (x1 states)   100 % (a steady +12 V)
//	EVSE not available    0 % (a steady −12 V, state F)
//
// The vehicle reads it back with the bands of CurrentForDuty (< 3 % and
// > 97 % nothing, 3–7 % digital, 8–10 % 6 A, …). DutyForCurrent rounds
// down so a vehicle never reads more than the setpoint. Sources: IEC
// 61851-1:2017 Annex A; the vehicle-side table as printed in the Fluke
// FEV300 manual (Table 4, "Calculations of max. charging current on basis
// of duty cycle"), the EVSE-side formula as implemented by Tinkerforge's
// EVSE firmware (github.com/Tinkerforge/evse-v2-bricklet,
// software/src/iec61851.c, iec61851_get_duty_cycle_for_ma). Both are
// exercised in duty_test.go.
//
// # States from the line (IEC 61851-1 Table A.4)
//
// The vehicle loads the line through a diode and R2 = 2.74 kΩ (state B),
// with R3 = 1.3 kΩ (C: charging) or 270 Ω (D: charging, ventilation
// required) in parallel; with the EVSE's 1 kΩ source the high level is
// about 12, 9, 6 or 3 V (TI reference design JAJU858, Table 2-3). The
// measured high level maps to a state:
//
//	> 13 V          out of range (ErrPilotFault)
//	11 … 13 V       A   no vehicle
//	10 … 11 V       A if it was A, else B           (hysteresis)
//	 8 … 10 V       B   vehicle connected
//	 7 …  8 V       B if it was A or B, else C      (hysteresis)
//	 5 …  7 V       C   charging requested
//	 4 …  5 V       C if it was A, B or C, else D   (hysteresis)
//	 2 …  4 V       D   charging with ventilation
//	−1 …  2 V       E   CP shorted to PE (ErrShortCircuit)
//	−13 … −11 V     F   (while the EVSE drives the line: ErrPilotFault)
//
// The bands are Table A.4's; the gaps between them serve as hysteresis as
// in chargebyte's EVerest driver (github.com/chargebyte/everest-chargebyte,
// CPUtils.cpp voltage_to_state, "thresholds mostly based on IEC 61851-1
// Table A.4"), whose unit-test cases levels_internal_test.go repeats. A new
// state needs Config.Debounce equal measurements in a row (default 2, as
// chargebyte's check_for_cp_state_changes), except that leaving C or D is
// acted on at the first measurement: opening is the safe direction.
//
// With the PWM running and a vehicle connected, the low level must reach
// −11 V: the vehicle's diode blocks the negative half. If instead the low
// level mirrors the high level (|high + low| ≤ 1.2 V with high > 2 V, the
// check of chargebyte's check_for_cp_errors), the diode is missing:
// ErrDiodeFault. IEC 61851-1 requires the diode to be checked at least
// once before the contactor closes (Table A.4, footnote to C2/D2, as quoted
// in SmartEVSE-3.5 issue #133), so ContactorAllowed waits for one passed
// check after each plug-in.
//
// # The contactor
//
// ContactorAllowed is true only in C (or D with Config.Ventilation), with a
// current offered on the line, a passed diode check and no fault. The
// gateway closes the contactor when it turns true; the pilot opens it by
// itself, through the Contactor it was given:
//
//   - at once when the vehicle leaves C/D (C→B: it stops; C→A: unplugged
//     mid-session; C→E: short), when a fault appears, or when Run ends;
//   - after a pause (SetCurrent 0) the PWM stops (100 %) at once, and the
//     contactor opens when the vehicle answers with B — or after
//     Config.PauseGrace (default 3 s) if it keeps requesting, under load.
//
// The gateway ends the session when the state goes to A. IEC 61851-1:2017
// Table A.6 gives the EVSE 100 ms to switch off after the vehicle leaves
// state C (a figure widely quoted from the standard; no public copy of the
// table was found to cite here — check it against the standard). The pilot
// acts within one measurement period (10 ms) plus the sampler's conversion
// time: BenchmarkUnplugToCoilOpen measures unplug → coil de-energised on
// the simulated board (go test -run '^$' -bench BenchmarkUnplugToCoilOpen
// -benchtime 100x ./hal/pilot/ on the shared 2-core build machine, two
// runs: mean 7.4 ms, worst 10.1 and 27.1 ms); the ADC's conversion time
// (about 3 ms for both inputs, images/pilot-wiring.md) and the contactor's
// own opening time (its datasheet) come on top.
//
// Latched faults (diode, short, pilot) stand until the vehicle is
// unplugged (state A measured). ErrSampler (Config.SampleErrors failed
// measurements in a row), ErrOutput (the PWM refused) and ErrVentilation
// (state D without ventilation) clear with their cause. Every fault stops
// the PWM (a steady +12 V, so the line can still be read and the unplug
// seen) and opens the contactor. None of this replaces the hardware
// safety chain described in package hal.
package pilot
