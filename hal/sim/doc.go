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
// Reader is a simulated ISO/IEC 14443 card reader (hal.CardReader): Present brings a card into
// the field (delivered once while it stays there), Remove takes it out, Fail reports a failed
// read (collision, CRC error), and a full queue refuses cards as a real reader drops them.
//
// Reader.Serve drives the reader from text lines, so another process can hold cards in front
// of it (the appliance serves a FIFO, access.rfid.sim_fifo; black-box tests and the demo write
// to it). One command per line, case-insensitive, UIDs in hex:
//
//	present <UID>    bring the card into the field (e.g. "present 04A1B2C3")
//	remove           take the card out of the field
//	tap <UID>        present, then remove: one tap
//	fail collision   report two cards at once (hal.ErrCardCollision)
//	fail read        report a failed read (hal.ErrCardRead)
//
// Blank lines and lines starting with '#' are ignored; a bad line is reported to the caller's
// callback and skipped.
package sim
