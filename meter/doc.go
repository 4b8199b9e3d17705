// Package meter reads certified energy meters over Modbus (TCP, RTU, RTU over TCP) using declarative register maps, one per meter model.
//
// # Using it
//
//	m, err := meter.New(meter.Config{URL: "tcp://10.0.0.5:502", Model: "auto"})
//	err = m.Seed(meter.Baseline{Serial: "…", ImportMWh: …, At: …}) // optional: last recorded registers
//	r, err := m.Read(ctx) // one full poll, plausibility applied
//
// New validates the Config (errors name the field) and does no I/O. The Meter owns its
// connection, as database/sql's DB does: the first Read connects and resolves Model "auto"
// by probing identity registers (see Detect); a transport error (timeout, broken or
// truncated frame, refused connection) drops the link and a later Read connects again.
// After a failed connection attempt the next one waits, with exponential backoff and
// jitter (cenkalti/backoff/v5: 1 s doubling up to Config.ReconnectMax, default 30 s, each
// wait drawn ±50 % around that); a Read before then fails at once with ErrConnect, without
// I/O, and does not push the next attempt further out. The plausibility
// baseline (below) lives in the Meter and survives every reconnect. Open is New followed
// by connecting, for callers that want to fail when the meter is absent. Several meters on
// one RS-485 line share a Bus: OpenBus once, then OpenOnBus per unit ID; requests are
// serialised.
//
// # Identity and poll cost
//
// A poll reads the model's measurement blocks (one request for an SDM630: 76 input
// registers). The identity blocks (serial, firmware) are read as well only when due: on
// the first poll of every connection (a reconnect included, so whoever answers on a new
// link says who it is), on the poll after any failed or implausible poll, and every
// Config.IdentityInterval (default 10 min). Between identity reads Reading.Serial and
// Firmware repeat what was read last. A replaced meter is therefore named at the latest
// on the poll after its first implausible value (new counters are lower), on its first
// poll over a new connection, or after IdentityInterval.
//
// # Plausibility
//
// Every rule below rejects the reading with an *ImplausibleError (errors.Is ErrImplausible;
// its Rule names the rule, SeenMWh/BaseMWh/BoundMWh/Elapsed say what was seen and what
// was allowed). A rejected reading carries no values, does not move the baseline, and so
// nothing may be billed from it. Times are differences of Config.Now (time.Now: monotonic).
//
//   - range: V outside 0..500 V, |I| > 1000 A, |P| > 1.5 MW, f outside 40..70 Hz (when
//     voltage is present or f ≠ 0).
//   - marker: a register held its format's "not available" marker (NaN, all ones, SunSpec
//     0x8000 scale factors, a negative counter), or a counter beyond 1 TWh (too_large).
//   - all_ones: every measurement register of the poll read 0xFFFF.
//   - all_zero: every measurement register read 0x0000, for models that measure voltage
//     or frequency (a meter is powered by the mains it measures), and for the others once
//     a baseline above zero exists.
//   - rise: a counter may rise at most by MaxPowerW × 1.25 (PowerMargin) × the elapsed
//     time since the last accepted reading, plus two steps of the counter's resolution
//     (riseQuantumSteps: 1 Wh for integer Wh counters, one float32 ulp of the kWh value
//     for Eastron). MaxPowerW is Config.MaxPowerW, else the model's RatedPowerW (phases ×
//     230 V × Imax: SDM630 69 kW, SDM120 10.35 kW, ABB B23 / EM340 / EM24 44.85 kW, ...),
//     else 350 kW. A jump of 1,000 kWh needs 11.6 h at 69 kW × 1.25 to become plausible.
//     Because the bound grows with the time since the last accepted reading, a counter
//     that rose faster (catching up after a stall) is accepted once the bound overtakes it.
//     Meter.CapPower tightens MaxPowerW at runtime to what a charging point may draw now
//     (its allowed current × phases × voltage, set by the gateway's load management): the
//     smaller figure applies, so energy rising faster than the EVSE was allowed is caught
//     even far below the meter's rating.
//   - fall: import or export below the baseline. A fall is a counter reset
//     (*CounterResetError, an event, not a reading) only once lower counters have been
//     seen for Config.ResetConfirm (default 60 s; 10 s..1 h), every reading in between
//     consistent with the one before (not lower, rising at most by the rise bound) and
//     none of them all_zero, all_ones, out of range or undecodable; any other reading
//     starts the count again. Then the Meter adopts the new counters as its baseline and
//     the caller records the event and latches an alarm. A fall seen on the first poll
//     after a reconnect is just a fall: a new connection never sets a new baseline.
//   - frozen: while |P| ≥ 100 W in the counter's direction (import for P > 0, export for
//     P < 0), the power readings are integrated (P × the time between polls); a counter
//     that has not moved while that integral exceeds max(3 counter steps, 100 Wh) is
//     frozen (at 11 kW: after about 33 s), and stays implausible until it moves.
//   - a serial number different from the baseline's, read from the identity registers,
//     is a replacement (*ReplacementError, an event, not a reading): the Meter adopts the
//     new meter's counters as a fresh baseline.
//
// The baseline is the serial and the last accepted counters with their time. The gateway
// seeds it at start (Seed) from the registers its chain recorded last, so a counter that
// went backwards, or a meter replaced, while the program was down is caught on the first
// poll; a Baseline without a time bounds no rise on that first poll (only falls are caught).
//
// # Models
//
// Register maps are data (models.go, sunspec.go), each row citing its source; one decoder
// reads them all:
//
//	sdm630    Eastron SDM630 v2 / SDM630MCT-V2   FC04 float32 ABCD, kWh; even counts, ≤ 80 registers
//	sdm72     Eastron SDM72D-M-V2                same layout; blocks of ≤ 10 registers (some units)
//	sdm72-v1  Eastron SDM72D-M v1                power and energy only (no V, I)
//	sdm120    Eastron SDM120                     single phase, 2400 baud default
//	sdm230    Eastron SDM230                     single phase, ≤ 60 registers; model code unknown: not auto-detected
//	abb-b23   ABB B23/B24                        FC03, uint64 ×0.01 kWh; all ones = invalid (steel: no export)
//	em340     Carlo Gavazzi EM340/ET340          INT32 low word first, ×0.1 kWh; FC03 = FC04
//	em24      Carlo Gavazzi EM24 (RS-485)        import 0x003E (not partial 0x0042); ≤ 11 registers
//	wm3m4     Iskra WM3M4/WM3M4C                 Iskra T5/T6; energy int32 × 10^exp Wh; signs OCMF (Signer)
//	sunspec   any SunSpec meter 201–204, 211–214 "SunS" at 40000, 0 or 50000; the model chain is walked
//
// Energy is an int64 in milliwatt-hours, converted exactly from each native encoding:
// integer counters by powers of ten, float32 kWh rounded to the nearest mWh (a float32 kWh
// value is a multiple of 2^-14 mWh or coarser, so nothing the meter resolved is lost).
// A register holding its format's "not available" marker (NaN, all ones, SunSpec 0x8000
// scale factors, ...) is an error matching ErrImplausible, never a number; only fields a
// variant may lack (ABB steel export, EM24 export) are optional and then read as zero.
//
// # Errors and status
//
// Callers branch with errors.Is / errors.As on ErrTimeout, ErrFrame (CRC, short frame,
// wrong unit, broken connection), ErrConnect (no connection, or the next attempt is not due
// yet), *ExceptionError (Modbus exception with its code), ErrImplausible (*ImplausibleError
// says which rule), *ReplacementError (serial changed) and *CounterResetError (counter
// reset confirmed): the last two are events, not readings, and the next Read succeeds;
// ErrUnknownModel. Read always returns a Reading whose Status summarises the poll; a failed
// Reading carries no measurement values.
//
// # Transports
//
//	tcp://host:port
//	rtu:///dev/ttyUSB0?baud=9600&parity=none&stop=1   (baud default: the model's, else 9600)
//	rtuovertcp://host:port
//
// tcp:// uses this package's own Modbus TCP client (mbap.go: MBAP framing, one request in
// flight, one buffer), which polls as fast as a plain libmodbus client; see
// BenchmarkPollSDM630TCP and BenchmarkLibmodbusSDM630TCP. rtu:// and rtuovertcp:// use
// github.com/simonvetter/modbus. Timeouts and framing errors are retried Config.Retries
// times with backoff/v5's jittered exponential backoff (50 ms doubling, ±50 %), reconnecting
// first (a late reply or half a frame must not desynchronise the next request).
//
// # Signing meter (OCMF over Modbus)
//
// The Iskra WM3M4C signs readings itself. *Meter implements Signer; BeginTransaction writes
// clock and OCMF metadata and the begin command, EndTransaction the end command, then reads
// the payload and DER signature and returns "OCMF|<payload>|{"SA":"ECDSA-secp256r1-SHA256","SD":"<HEX>"}".
// PublicKey returns DER SubjectPublicKeyInfo. The register layout (IskraReg* constants) is
// that of the Iskra WM3M4 manual v1.14 §6.5 as driven by EVerest's RsIskraMeter; the
// record is also attached, once, to the next Reading (SignedRecord).
package meter
