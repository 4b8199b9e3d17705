// Package sim is a simulated board whose pins behave like the real hardware, including its failures.
//
// Board implements hal.Pins with these lines, all active-high (DefaultConfig
// returns the matching hal.Config):
//
//	RELAY     output  contactor coil (High: energised)
//	RELAY_FB  input   mirror contact (High: main contacts closed)
//	ESTOP     input   emergency stop (High: pressed)
//	RCD       input   residual-current device (High: tripped)
//	LID       input   lid/tamper switch (High: open)
//	LED       output  status LED (High: lit)
//
// The contactor's main contacts follow the coil after Options.ContactDelay
// (default 20 ms); every mechanical change — contacts, switches — chatters
// (default 3 back-and-forth transitions 1 ms apart) before settling, so
// debouncing is exercised. Weld makes closed contacts stay closed whatever
// the coil does; StickOpen makes open contacts refuse to close. PressEStop,
// TripRCD and OpenLid work the switches. OnContacts reports each move of the
// main contacts (the demo connects the meter simulator's load to it, so
// energy flows only while the simulated relay is closed); OnCoil reports
// each change of the coil, synchronously inside the RELAY line's Out.
//
// Lines follow periph's gpio contract where hal relies on it: WaitForEdge
// honours the edges selected by In, reports edges that happened since the
// previous call at once (coalesced, as the contract allows), waits forever
// for a negative timeout, and is interrupted by Halt. Input lines refuse Out:
// the board's circuitry drives them.
//
// # Vehicle, control pilot, EVSE controller
//
// Vehicle is an electric vehicle behind a charging cable, as IEC 61851-1
// sees it: Plug (state B: diode and R2 2.74 kΩ), Request (the vehicle
// closes S2 — R3 1.3 kΩ, state C, or 270 Ω with Ventilation, state D —
// once at least 6 A are offered, and opens it when the offer is withdrawn,
// after VehicleOptions.React), Unplug (at once). Failures: RemoveDiode,
// Short (state E), and a Stubborn vehicle that keeps requesting after the
// offer is gone. Drawing is the current it takes while it requests. A
// Vehicle is also an http.Handler (loopback only): GET reports its state,
// POST {"plugged":true,"request":true} drives it — for the demo and
// black-box tests.
//
// ControlPilot is the CP line between hal/pilot and a Vehicle: its PWM pin
// (gpio.PinOut "CP_PWM", refusing any frequency but 1 kHz) and its
// measurement (pilot.Sampler): the levels the vehicle's resistors and diode
// make of the ±12 V square wave behind R1 = 1 kΩ, as two peak detectors
// hold them, with optional seeded noise. FailSamples makes the ADC fail,
// FailPWM the output. OnDuty reports each new duty cycle (the demo turns it
// into meter/sim's setpoint, so the simulated meter's load follows the
// offer).
//
// EnergyControl is a Heidelberg Energy Control wallbox with a Vehicle,
// served over Modbus TCP for hal/heidelberg: the register map of that
// package, the current limit offered to the vehicle while the box is
// unlocked, charging states A1 … C2, E, F and 11, the watchdog falling back
// to the fail-safe current, Modbus exceptions for unknown registers (02)
// and out-of-range values (03); Silence drops requests, DeviceError puts
// the box into its error state. OnOffer reports each change of the offer.
//
// Reader is a simulated ISO/IEC 14443 card reader (hal.CardReader): Present brings a card into
// the field (delivered once while it stays there), Remove takes it out, Fail reports a failed
// read (collision, CRC error), and a full queue refuses cards as a real reader drops them.
package sim
