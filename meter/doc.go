// Package meter reads certified energy meters over Modbus (TCP, RTU, RTU over TCP) using declarative register maps, one per meter model.
//
// # Using it
//
//	m, err := meter.Open(ctx, meter.Config{URL: "tcp://10.0.0.5:502", Model: "auto"})
//	r, err := m.Read(ctx) // one full poll, plausibility applied
//
// Open validates the Config (errors name the field), connects, and resolves Model "auto"
// by probing identity registers (see Detect). Several meters on one RS-485 line share a
// Bus: OpenBus once, then OpenOnBus per unit ID; requests are serialised.
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
// wrong unit, broken connection), *ExceptionError (Modbus exception with its code),
// ErrImplausible (*ImplausibleError says which check), *ReplacementError (serial changed:
// an event, not a reading), ErrUnknownModel and ErrConnect. Read always returns a Reading
// whose Status summarises the poll; a failed Reading carries no measurement values.
//
// # Plausibility
//
// Ranges for V (0..500), I (±1000 A), P (±1.5 MW) and Hz (40..70 when voltage is present);
// energy never decreases (the high-water mark is kept, so a counter that went backwards
// stays rejected until it passes it again); a counter that does not move while the power
// readings say at least three counter steps (and 100 Wh) should have been counted is
// frozen; a serial change is a meter replacement and resets the baseline.
//
// # Transports
//
//	tcp://host:port
//	rtu:///dev/ttyUSB0?baud=9600&parity=none&stop=1   (baud default: the model's, else 9600)
//	rtuovertcp://host:port
//
// github.com/simonvetter/modbus does the client side. Timeouts and framing errors are
// retried Config.Retries times with jittered exponential backoff, reconnecting first (a
// late reply or half a frame must not desynchronise the next request).
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
