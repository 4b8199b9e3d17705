// Package sim is a Modbus energy-meter simulator that serves any model of package meter, with load physics and injectable faults.
//
// # Buses and transports
//
// A Sim holds N meters of one model on buses of up to 247 unit IDs. Each Bus is served
// with ServeTCP (Modbus TCP, MBAP), ServeRTUOverTCP (RTU frames over TCP) or ServeSerial
// (RTU on a tty, e.g. one end of a socat pty pair). The RTU side is our own framer
// (package meter/rtu): requests are framed by the t3.5 silence of the line speed, frames
// with a bad CRC are ignored, and replies are delayed by the request's and reply's wire
// time so a master on a pty sees real line timing.
//
// # Physics
//
// Mains voltage (230 V ± noise, small drop under load) and frequency (50 Hz ± 0.02) are
// always present. While the load is connected its power ramps (default 2 kW/s) to MaxW
// (default 11 kW) over 1 or 3 phases; otherwise current and power are 0. With a setpoint
// (POST /v1/setpoint, Meter.SetSetpoint: the current an EVSE allows, as the pilot's duty
// cycle or an EVSE controller's limit) the power instead ramps at ramp_w_per_s, up or down,
// towards min(max_w, amps × voltage_v × phases) and follows every change; at 0 A it ramps
// down to nothing. Without one (the default) nothing changes. Energy is the
// exact integral of power in float64 Wh, quantised to the model's own encoding when its
// registers are read: float32 kWh (Eastron, SunSpec float), whole 0.1 kWh (Carlo
// Gavazzi), 0.01 kWh (ABB), Wh (Iskra, SunSpec acc32). A Clock (ScaledClock for --speed,
// ManualClock for tests) drives simulated time.
//
// # Model quirks
//
// Per-model maximum registers per read (exception 03 above it), Eastron's even-count rule
// (single registers allowed), exception 02 for registers the model lacks, FC03/FC04
// aliasing on Carlo Gavazzi, the SunSpec chain at 40000 (model 1, then 203 or 213), and the
// Iskra WM3M4C OCMF registers, signing with the simulator's own P-256 key.
//
// # HTTP control interface (loopback only, no authentication)
//
//	POST   /v1/load          {"bus":0,"unit":1,"connected":true,"lease_ms":3000}  → 204
//	       The load stays connected only while the lease is renewed (lease_ms 0 = no lease),
//	       like a contactor whose coil drops when its controller dies. unit 0 = every meter.
//	POST   /v1/profile       {"unit":1,"max_w":7400,"phases":1,"ramp_w_per_s":1000,"voltage_v":230,"frequency_hz":50,"export":false} → 204
//	POST   /v1/setpoint      {"bus":0,"unit":1,"amps":16} → 204; {"amps":null} removes it
//	GET    /v1/meters        [State, ...]
//	GET    /v1/meters/{unit}?bus=0
//	       {"bus":0,"unit":1,"model":"sdm630","serial":"...","connected":true,"power_w":11000,
//	        "energy_import_wh":..., "energy_export_wh":..., "energy_import_mwh":..., "energy_export_mwh":...,
//	        "profile":{...},"setpoint_a":16,"faults":[...]}   (setpoint_a only while set)
//	POST   /v1/fault         a Fault as JSON, e.g. {"kind":"exception","code":4,"unit":1,"count":3} → 201 {"id":N}
//	GET    /v1/faults        the faults in force
//	DELETE /v1/fault/{id}    → 204;  DELETE /v1/faults removes all
//	GET    /v1/stats         {"requests":N,"meters":N,"buses":N,"model":"..."}
//
// # Faults
//
// Kinds: noreply, late (delay_ms, default 2 s), exception (code 01/02/03/04/06/...), badcrc
// (RTU: CRC corrupted; TCP: byte count corrupted), truncate (half a reply; TCP then drops
// the connection), drop (no reply; TCP closes the connection instead), wrongunit, frozen
// (every register stops changing, the power readings included), absent (every register
// 0xFFFF), backwards (import − amount_wh, default 1 kWh), rollover (import counter wraps
// to 0), replace (new serial, counters reset). A fault applies to one unit or all (unit 0)
// of bus "bus", from after_ms for for_ms (0 = until cleared), to count requests (0 = all),
// with probability (0 = always; drawn from the seeded generator, so runs repeat). With
// "drop": true every TCP connection of the bus is closed when the fault is injected, so the
// client meets it on a new connection. Command-line form (metersim --fault, ParseFault):
//
//	KIND[,unit=N][,bus=N][,code=N][,delay=D][,after=D][,for=D][,count=N][,prob=P][,amount=WH][,drop=true]
//	e.g.  exception,code=4,count=3   late,delay=1500ms,after=10s,for=5s   noreply,prob=0.05
//
// # Lie modes (a hostile meter for black-box tests)
//
// These faults make the meter answer well-formed Modbus with values a real meter would
// never report; a test switches them at runtime through POST /v1/fault and clears them with
// DELETE /v1/fault/{id}. Each matches one rule of package meter's plausibility (see its
// doc.go):
//
//	{"kind":"zeros"}                                 every register 0x0000, serial included  → rule all_zero
//	{"kind":"absent"}                                every register 0xFFFF                   → rule all_ones
//	{"kind":"jump","amount_wh":1000000}              import counter + 1,000 kWh (once)       → rule rise
//	{"kind":"backwards","amount_wh":2000,"drop":true} connections dropped, then import
//	                                                 − 2 kWh (once): case 1 of issue 12      → rule fall (a reset only
//	                                                                                           after ResetConfirm)
//	{"kind":"stuck"}                                 energy registers stop, power stays live → rule frozen
//	{"kind":"frozen"}                                everything stops (a hung meter CPU)     → rule frozen
//	{"kind":"truncate"} / {"kind":"drop"}            half a reply / none, connection closed  → ErrFrame, reconnect
//	{"kind":"replace","drop":true}                   new serial, counters 0                  → *ReplacementError
//
// Event kinds (jump, backwards, rollover, replace) change the meter's state once, at its
// next request; the change stays after the fault is cleared, as it would in a real meter.
// Value kinds (zeros, absent, stuck, frozen) last while the fault is in force.
package sim
