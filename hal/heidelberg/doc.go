// Package heidelberg sets the charging current of a Heidelberg Energy Control wallbox (Amperfied) over Modbus: the EVSE-controller backend of hal.CurrentControl.
//
// The Energy Control runs the IEC 61851-1 control pilot and its contactor
// itself; the gateway only writes a current limit and reads the charging
// state. It is one of the few wallboxes whose register table is public,
// and the one evcc, Home Assistant's Modbus Manager and others drive.
//
// # Shape
//
//	c, err := heidelberg.Open(ctx, heidelberg.Config{
//		URL: "rtu:///dev/ttyUSB0", Unit: 1, // 19200 baud, 8E1 by default
//		Watchdog: 10 * time.Second, Failsafe: 6 * physic.Ampere,
//	}, logger)
//	err = c.SetCurrent(ctx, 16*physic.Ampere) // 0 pauses; min…max else hal.ErrCurrentRange
//	s, err := c.State(ctx)                     // hal.ControlState; call it more often than Watchdog
//
// Open disables the box's standby (a sleeping box does not answer on the
// bus), and with Watchdog set writes the fail-safe current and the
// watchdog timeout: if the gateway stops talking, the box itself falls
// back to Failsafe — the link-loss fallback OCPP's TxDefaultProfile and
// the §14a rule expect, enforced where it cannot be lost. Timeouts are
// retried (Config.Retries, backoff/v5 with jitter) on a reopened link;
// Modbus exceptions are returned at once, wrapped with what was being
// done; a silent box ends in ErrTimeout.
//
// # Register map
//
// As in the register table of 2021-02-22. Input registers (FC04):
//
//	reg  meaning                                   unit
//	4    register layout version                   —
//	5    charging state (below)                    —
//	6–8  RMS current L1, L2, L3                    0.1 A
//	9    PCB temperature                           0.1 °C, signed
//	10–12 RMS voltage L1, L2, L3                   V
//	13   external lock state                       —
//	14   power L1+L2+L3                            VA
//	15–16 energy since power-on (high word first)  VAh
//	17–18 energy since installation                VAh
//	100  maximum current (rotary switch)           A, 6–16
//	101  minimum current                           A
//
// Holding registers (FC03 to read, FC16 to write one register):
//
//	257  watchdog timeout; 0 switches it off        ms
//	258  standby function: 0 enabled, 4 disabled    —
//	259  remote lock: 0 locked, 1 unlocked          —
//	261  maximum current command: 0, or 60…160     0.1 A
//	262  fail-safe current after a watchdog timeout 0.1 A
//
// Charging state (register 5), as Decode maps it:
//
//	2 A1  no vehicle, box does not allow charging   → A
//	3 A2  no vehicle, box allows charging           → A, Offered = limit
//	4 B1  vehicle plugged, no request, not allowed  → B
//	5 B2  vehicle plugged, no request, allowed      → B, Offered = limit
//	6 C1  vehicle requests, box does not allow      → C
//	7 C2  vehicle requests, box allows: charging    → C, ContactorAllowed
//	8     derating (temperature), still charging    → C, ContactorAllowed
//	9 E   control-pilot error                       → E, Fault ErrPilotError
//	10 F  locked or not ready                       → F, Fault ErrLocked
//	11    error                                     → Fault ErrDeviceError
//
// Sources: Amperfied/Heidelberg, "EC_ModBus_register_table_20210222.pdf"
// (Energy Control Modbus register layout; linked from evcc's driver as
// https://wallbox.heidelberg.com/wp-content/uploads/2021/05/EC_ModBus_register_table_20210222.pdf,
// and from Home Assistant's Modbus Manager template as
// https://www.amperfied.de/wp-content/uploads/2023/03/EC_ModBus_register_table_20210222_LW.pdf);
// the register numbers, state values and units as implemented by evcc
// (github.com/evcc-io/evcc, charger/heidelberg-ec.go: writes with FC16,
// disables standby with 4) and Erich Styger's McuLib (McuHeidelberg.c:
// rotary-switch range 6–16 A in registers 100/101, limits in 0.1 A with 0
// or 60–160). The box speaks Modbus RTU on RS-485, 19200 baud, 8E1 by
// default; over TCP it needs an RTU-to-TCP gateway (or is the simulator,
// hal/sim.EnergyControl, which tests this package over real Modbus TCP).
//
// # Golden vectors
//
// Requests as unit ID + PDU in hex (the MBAP or RTU framing around them is
// the transport's), frozen by TestWireGolden for unit 1:
//
//	Open:   01 04 0004 0001               read layout version
//	        01 04 0064 0002               read current range (100–101)
//	        01 10 0102 0001 02 0004       standby off (258 = 4)
//	        01 10 0106 0001 02 003c       fail-safe 6.0 A (262 = 60), with Watchdog
//	        01 10 0101 0001 02 3a98       watchdog 15000 ms (257), with Watchdog
//	SetCurrent(16 A):
//	        01 10 0105 0001 02 00a0       261 = 160
//	State:  01 04 0005 0001               read charging state
//	        01 03 0105 0001               read the limit back
//
// What the replies mean is frozen by TestDecode: for example state 7 with
// limit 0x0041 is C, offered 6.5 A, contactor allowed.
package heidelberg
