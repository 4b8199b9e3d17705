// Package hal is the box's hardware layer: the contactor relay with mirror-contact feedback, safety inputs, the status LED and the watchdog.
//
// # Shape
//
// The relay, input and LED logic is written once, in this package, on top
// of periph.io's role interfaces (gpio.PinIO). Backends only supply lines
// by name through the Pins interface: hal/periph returns the host's GPIO
// character-device lines (never sysfs), hal/sim a simulated board that
// behaves like the hardware, and the unit tests periph's gpiotest pins.
//
//	board, err := hal.Open(cfg, pins, logger) // relay driven open at once
//	go board.Run(ctx)                         // watches the inputs; relay open when it returns
//	err = board.CloseRelay(ctx)               // ErrLatched, ErrFailedToClose, ErrNotRunning ...
//	err = board.OpenRelay(ctx)                // always drives open; ErrWelded latches
//	for e := range board.Events() { ... }     // EStop, RCDTrip, Lid, Welded, FailedToClose, FaultCleared, Relay
//	board.Halt()                              // from any goroutine, any number of times
//	defer board.HaltOnPanic()                 // in each goroutine: a panic opens the relay first
//
// # Pins and polarity
//
// Every pin is named in Config with its polarity. "Active" means: coil
// energised (relay), main contacts closed (feedback), button pressed
// (estop), RCD tripped (rcd), lid open (lid), LED lit (led). ActiveLow
// says the line reads or drives Low for active. Inputs are configured for
// both edges with the bias left as the hardware has it (PullNoChange):
// the pull resistors belong on the board, where they act before Linux has
// booted and after it has died.
//
// # Configuration
//
// The gateway's YAML configuration carries a hal: section decoded into
// Config (durations in Go syntax; omitted pins are not wired):
//
//	hal:
//	  relay:    {name: GPIO17}                   # coil driver, active-high
//	  feedback: {name: GPIO27}                   # mirror contact: High = main contacts closed
//	  feedback_timeout: 200ms
//	  estop:    {name: GPIO22}                   # High = pressed (NC button, pull-up)
//	  rcd:      {name: GPIO23}
//	  lid:      {name: GPIO24, active_low: true} # Low = open
//	  led:      {name: GPIO5}
//	  debounce: 20ms
//
// Validate names the offending field in each error ("hal.relay.name:
// empty"); Open validates too.
//
// # Several charging points
//
// A box with several EVSEs opens one Board per EVSE, each with its own
// relay and feedback and the box's e-stop and RCD, over ShareInputs: a
// line is claimed from the kernel once and every Board watches a view of
// it, woken by one goroutine that fans the line's edges out. An e-stop
// therefore opens every contactor, each Board latching and reporting it
// on its own Events channel, and ClearFault on each refuses while it is
// pressed. The lid and the LED belong to one Board (EVSE 1's), so a lid
// opening is reported once.
//
// # Relay and feedback
//
// After every command the mirror contact must agree within FeedbackTimeout
// (default 200 ms), counted from the command, or from the first edge of a
// spontaneous disagreement; "agree" means settled, debounce included.
// Disagreement is a typed fault:
//
//   - commanded closed, reads open: ErrFailedToClose. The coil is driven
//     open again (so a contactor that drops out cannot re-close by itself
//     when its coil supply returns); the fault does not latch.
//   - commanded open, reads closed: ErrWelded. It latches: CloseRelay fails
//     with ErrLatched until ClearFault, which refuses while the contact
//     still reads closed. The gateway raises an alarm.
//
// Repeating a command does not restart a running deadline, so calling
// OpenRelay often cannot postpone weld detection. CloseRelay is refused
// unless Run is watching the inputs (ErrNotRunning): the relay may only
// close while something is looking.
//
// # Safety inputs
//
// An emergency stop or RCD trip opens the relay inside hal, on the first
// edge that reads active, before debouncing — opening is always the safe
// direction — and latches ErrEStop or ErrRCDTrip until ClearFault, which
// re-reads the inputs and refuses while the cause persists
// (ErrFaultPersists). A safety input found active at Open, at the start of
// Run, or on CloseRelay's fresh read latches the same way. Releases and
// the lid switch are debounced: a level counts once the line has been
// quiet for Debounce (default 20 ms). Each input is watched by a goroutine
// blocked in WaitForEdge; each wait is bounded (500 ms) so that an edge the
// kernel lost is caught by re-reading the level, and Run can stop.
//
// A latched fault shows the LEDFault pattern whatever SetLED selected.
//
// # What the hardware must guarantee
//
// Software on a Linux board is not a safety function. As EVerest puts it
// for its isolation monitor, the error relays "should be wired directly to
// the DC output relay of the charger to enable a low-level emergency
// shutdown functionality which works independently of EVerest", and
// "safety certification should not rely on the Linux system"
// (EVerest/everest-core docs/source/explanation/hardware-drivers.rst; its
// evse_board_support interface likewise makes the board support package,
// not the charging logic, the owner of "relais must never be switched on").
// chargegate follows the same split:
//
//   - Coil drop-out on death. The coil driver (transistor or relay module)
//     must have a pull-down (or pull-up for an active-low driver) on its
//     input so the coil is de-energised whenever the GPIO is not driven:
//     during boot, after the process exits or crashes, when the SoC
//     resets, when the 3.3 V rail fails. Prefer an active-high driver:
//     the Linux GPIO character device configures a line as output at
//     level 0 before hal writes the inactive level, which for an
//     active-low driver is a glitch of a few microseconds towards
//     energised. No software can cover a dead board; the pull resistor
//     does.
//   - Hard real-time trips. The emergency stop and the RCD must break the
//     coil circuit (or the contactor's supply) directly, through a safety
//     relay or safety controller, and be wired to GPIO only so that hal
//     knows about it. hal opens the relay within microseconds of seeing
//     the edge (see the benchmark in hal/sim), but Linux gives no
//     guarantee of when it sees it.
//   - Fail-safe switch wiring. Use normally-closed contacts for the
//     emergency stop and the RCD auxiliary contact, wired so that a broken
//     wire reads active (pressed/tripped): the fault then stops charging
//     instead of hiding.
//   - Feedback from a mirror contact. The feedback input must come from a
//     mirror contact (IEC 60947-4-1 Annex F: a normally-closed auxiliary
//     contact mechanically linked so it cannot be closed while a main
//     contact is closed), not from the coil drive, or a weld is
//     invisible. Wire it so that a broken wire reads "main contacts
//     closed": hal then reports a weld and refuses sessions, the safe
//     reading. EVerest's BSPs for chargebyte boards model the same choice
//     as a feedback type none / nc / no.
//   - Independent reset. A hardware watchdog (/dev/watchdog, see Watchdog)
//     resets the board when the whole system hangs; with the coil pull-down
//     above, a reset opens the contactor.
//
// # Watchdog
//
// Watchdog speaks systemd's sd_notify protocol (READY=1, WATCHDOG=1,
// STOPPING=1, STATUS=...) over $NOTIFY_SOCKET and can also feed a kernel
// watchdog device. It is fed only when the control loop called Progress
// since the previous feed, never by a free-running timer, so a hung loop
// leads to a restart. A clean exit disarms the device with the magic
// close ("V").
//
// # Card reader (RFID)
//
// CardReader delivers the UIDs of ISO/IEC 14443 Type A cards (MIFARE Classic, DESFire, NTAG;
// 4, 7 or 10 bytes) as Card values; Card.IDToken spells a UID as upper-case hex, the usual OCPP
// idTag form, and the gateway hands it to gateway/access like any other id_token. The UID
// identifies a card but does not authenticate it (UIDs can be cloned): the allow-list trusts
// the card only as far as the operator trusts the holder. hal/sim's Reader is what tests and the
// demo drive (through a FIFO of commands, hal/sim doc.go); hal/mfrc522 reads an NXP MFRC522 on
// SPI through periph.io/x/devices/v3/mfrc522. The gateway selects one with access.rfid.reader
// (mfrc522 or sim; images/chargegate.yaml).
//
// An NXP MFRC522 board (the common "RC522" module, 3.3 V only) on a Raspberry Pi's SPI0
// (datasheet MFRC522 rev. 3.9 §8.1.2 SPI; Pi header pin numbers):
//
//	MFRC522   Pi header            note
//	SDA/NSS   pin 24 GPIO8  CE0    chip select (spidev0.0)
//	SCK       pin 23 GPIO11 SCLK   periph's driver runs it at 10 MHz (the chip's maximum)
//	MOSI      pin 19 GPIO10 MOSI
//	MISO      pin 21 GPIO9  MISO
//	IRQ       pin 31 GPIO6         required: periph's driver waits on its falling edge
//	GND       pin 20
//	RST       pin 22 GPIO25        NRSTPD: Low powers the chip down, High to run
//	3.3V      pin 17               never 5 V: the MFRC522's pads are not 5 V tolerant
//
//	access:
//	  rfid: {reader: mfrc522, spi: /dev/spidev0.0, reset_pin: GPIO25, irq_pin: GPIO6}
//
// Enable SPI with dtparam=spi=on (images/config.txt sets it), SPI mode 0. GPIO6 and GPIO25 are
// free in the example configuration above (GPIO24 is its lid input). Keep the antenna at least
// 2 cm from metal (the front panel behind the reader must be plastic) and the SPI wires under
// 20 cm; a ferrite on the module's 3.3 V helps near the contactor coil.
//
// # Current control
//
// CurrentControl (current.go) is a charging point's current setpoint with
// two backends, both run against one contract suite (current_test.go):
//
//   - hal/pilot: the IEC 61851-1 control pilot, driven by chargegate
//     itself: a 1 kHz ±12 V PWM whose duty cycle offers the current, the
//     CP state (A–F) read from the line, and the contactor allowed only in
//     C/D. hal/periph supplies the PWM pin (BCM283x PWM1, GPIO13) and the
//     measurement (ADS1115 on I²C behind two peak detectors); hal/sim a
//     vehicle on a simulated line.
//   - hal/heidelberg: a Heidelberg Energy Control wallbox that runs the
//     pilot and its contactor itself and takes its current limit over
//     Modbus (RTU on RS-485, or TCP through a gateway); hal/sim serves a
//     simulated box over Modbus TCP.
//
// SetCurrent(ctx, 0) pauses, 6 A up to the backend's maximum offers, other
// values fail with ErrCurrentRange; State reports the CP state, setpoint,
// offer, whether the contactor may be (or is) closed, and the standing
// fault.
//
// Control-pilot wiring on a Raspberry Pi (reference front end; the full
// circuit, component values and their reasons are in
// images/pilot-wiring.md):
//
//	Pi header              to
//	pin 33 GPIO13 (PWM1)   CP driver input: op-amp/comparator on ±12 V,
//	                       output through R1 = 1 kΩ to the CP contact
//	                       (IEC 61851-1 Annex A), TVS to PE
//	pin 3  GPIO2 SDA       ADS1115 SDA   (I²C, 0x48: ADDR to GND;
//	pin 5  GPIO3 SCL       ADS1115 SCL    dtparam=i2c_arm=on)
//	pin 1  3.3 V, pin 9 GND ADS1115 VDD, GND
//	                       ADS1115 AIN0: positive peak of CP, ×1/4 (+12 V → 3 V)
//	                       ADS1115 AIN1: negative peak of CP, ×−1/4 (−12 V → 3 V)
//
// The duty cycle is written to the BCM283x PWM block through /dev/mem
// (root, Raspberry Pi 1–4 only); GPIO13 is shared with the analogue audio,
// which images/config.txt switches off. The Energy Control sits on an
// RS-485 line of its own unless the meters use its line settings (19200
// baud 8E1 by default; a bus has one speed and parity).
//
// # Installer check
//
// Check (and "chargegate hal check") reads every input with the relay
// open, cycles the relay while timing the mirror contact, drives the LED,
// and prints one PASS/FAIL line per pin. CheckRunning does the same on a
// board a running gateway holds (its web UI's wiring check): the caller
// keeps its sessions off the relay meanwhile, and the LED stays its own.
package hal
