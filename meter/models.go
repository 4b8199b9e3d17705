package meter

// Model is one meter model's register map: data, read by one decoder. Every table cites
// its source; addresses are 0-based wire addresses. See the project's reference notes on meters for
// the full tables these rows were taken from.
type Model struct {
	Name   string // model name used in Config.Model and reported in Reading.Model
	Vendor string // for OCMF and humans
	Phases int    // 1 or 3
	Fields []Field
	Blocks []Block // read plan; in the simulator also the registers that exist

	MaxRegs  int  // most registers one request may ask for
	EvenOnly bool // Eastron: requests must ask for an even count (single registers excepted)

	// Identity: the register holding the model code and the codes that mean this model.
	// Codes are matched for integer code fields, Prefixes for ASCII ones.
	CodeField Field
	Codes     []uint16
	Prefixes  []string
	// EnergyStepMWh is the resolution of the energy counters (0 = float32, varies).
	EnergyStepMWh int64
	// RatedPowerW is the most power the model measures, direct connected: phases × 230 V ×
	// the datasheet's maximum current (Imax). It bounds how fast a counter may rise (see
	// doc.go, "Plausibility"); Config.MaxPowerW overrides it (CT-connected variants). The
	// Imax figures are the vendors' published datasheet values, not yet in the project's
	// reference notes (unverified); each errs high, which only loosens the bound.
	RatedPowerW float64

	DefaultBaud int
	DefaultUnit uint8
}

// Fixed-point exponents from the datasheets, expressed to the quantity's unit.
const (
	kWh        = 6 // kWh → mWh
	tenthKWh   = 5 // ×0.1 kWh → mWh
	hundredKWh = 4 // ×0.01 kWh → mWh
	wh         = 3 // Wh → mWh
)

// eastron3ph is the SDM630 v2 / SDM72D-M-V2 input register layout: float32 ABCD.
// Source: Eastron "SDM630 Modbus protocol v2.0" (sdm_modbus documents/), mbmd meters/rs485/sdm.go.
func eastron3ph() []Field {
	return []Field{
		{Q: VoltageL1, Table: Input, Addr: 0x0000, Kind: Float32},
		{Q: VoltageL2, Table: Input, Addr: 0x0002, Kind: Float32},
		{Q: VoltageL3, Table: Input, Addr: 0x0004, Kind: Float32},
		{Q: CurrentL1, Table: Input, Addr: 0x0006, Kind: Float32},
		{Q: CurrentL2, Table: Input, Addr: 0x0008, Kind: Float32},
		{Q: CurrentL3, Table: Input, Addr: 0x000A, Kind: Float32},
		{Q: PowerL1, Table: Input, Addr: 0x000C, Kind: Float32},
		{Q: PowerL2, Table: Input, Addr: 0x000E, Kind: Float32},
		{Q: PowerL3, Table: Input, Addr: 0x0010, Kind: Float32},
		{Q: PowerTotal, Table: Input, Addr: 0x0034, Kind: Float32},
		{Q: Frequency, Table: Input, Addr: 0x0046, Kind: Float32},
		{Q: EnergyImport, Table: Input, Addr: 0x0048, Kind: Float32, Exp: kWh},
		{Q: EnergyExport, Table: Input, Addr: 0x004A, Kind: Float32, Exp: kWh},
		{Q: Serial, Table: Holding, Addr: 0xFC00, Kind: Uint32},
		{Q: Firmware, Table: Holding, Addr: 0xFC03, Kind: Uint16},
	}
}

// eastron1ph is the SDM120 / SDM230 layout. Source: Eastron "SDM120 Modbus protocol v2.5",
// "SDM230 Modbus protocol v1.1" (sdm_modbus documents/), mbmd sdm120.go / sdm230.go.
func eastron1ph() []Field {
	return []Field{
		{Q: VoltageL1, Table: Input, Addr: 0x0000, Kind: Float32},
		{Q: CurrentL1, Table: Input, Addr: 0x0006, Kind: Float32},
		{Q: PowerTotal, Table: Input, Addr: 0x000C, Kind: Float32},
		{Q: Frequency, Table: Input, Addr: 0x0046, Kind: Float32},
		{Q: EnergyImport, Table: Input, Addr: 0x0048, Kind: Float32, Exp: kWh},
		{Q: EnergyExport, Table: Input, Addr: 0x004A, Kind: Float32, Exp: kWh},
		{Q: Serial, Table: Holding, Addr: 0xFC00, Kind: Uint32},
		{Q: Firmware, Table: Holding, Addr: 0xFC03, Kind: Uint16},
	}
}

// gavazziPhases is the per-phase block shared by the Carlo Gavazzi EM340 and EM24 maps:
// INT32 low word first, V ×0.1, A ×0.001, W ×0.1. Sources: CG "EM300 and ET300 series
// Modbus serial protocol rev 2.6" and "EM24 PFA PFB X-CP V4R0" (dbus-cgwacs documents/).
func gavazziPhases() []Field {
	return []Field{
		{Q: VoltageL1, Table: Input, Addr: 0x0000, Kind: Int32CDAB, Exp: -1},
		{Q: VoltageL2, Table: Input, Addr: 0x0002, Kind: Int32CDAB, Exp: -1},
		{Q: VoltageL3, Table: Input, Addr: 0x0004, Kind: Int32CDAB, Exp: -1},
		{Q: CurrentL1, Table: Input, Addr: 0x000C, Kind: Int32CDAB, Exp: -3},
		{Q: CurrentL2, Table: Input, Addr: 0x000E, Kind: Int32CDAB, Exp: -3},
		{Q: CurrentL3, Table: Input, Addr: 0x0010, Kind: Int32CDAB, Exp: -3},
		{Q: PowerL1, Table: Input, Addr: 0x0012, Kind: Int32CDAB, Exp: -1},
		{Q: PowerL2, Table: Input, Addr: 0x0014, Kind: Int32CDAB, Exp: -1},
		{Q: PowerL3, Table: Input, Addr: 0x0016, Kind: Int32CDAB, Exp: -1},
		{Q: PowerTotal, Table: Input, Addr: 0x0028, Kind: Int32CDAB, Exp: -1},
	}
}

// Identity registers: Eastron's model code (holding 0xFC02) and Carlo Gavazzi's model ID
// (0x000B, one word at a time).
const eastronCodeAddr, gavazziCodeAddr = 0xFC02, 0x000B

func codeField(addr uint16) Field {
	return Field{Q: ModelCode, Table: Holding, Addr: addr, Kind: Uint16}
}

// Models returns the built-in register maps, freshly allocated (callers may keep them).
// SunSpec meters are not listed: their map is built by walking the device's model chain
// (see sunspec.go).
func Models() []*Model {
	sdm72v1 := []Field{ // SDM72D-M v1: only power and energy. Source: mbmd sdm72.go, Tinkerforge sdm72dm_defs.cpp.
		{Q: PowerTotal, Table: Input, Addr: 0x0034, Kind: Float32},
		{Q: EnergyImport, Table: Input, Addr: 0x0048, Kind: Float32, Exp: kWh},
		{Q: EnergyExport, Table: Input, Addr: 0x004A, Kind: Float32, Exp: kWh},
		{Q: Serial, Table: Holding, Addr: 0xFC00, Kind: Uint32},
		{Q: Firmware, Table: Holding, Addr: 0xFC03, Kind: Uint16},
	}
	eastronID := Block{Holding, 0xFC00, 4}
	return []*Model{
		{
			Name: "sdm630", Vendor: "Eastron", Phases: 3, Fields: eastron3ph(),
			Blocks:  []Block{{Input, 0x0000, 0x4C}, eastronID},
			MaxRegs: 80, EvenOnly: true, CodeField: codeField(eastronCodeAddr), Codes: []uint16{0x0070, 0x0079},
			RatedPowerW: 3 * 230 * 100, // SDM630 v2: Imax 100 A
			DefaultBaud: 9600, DefaultUnit: 1,
		},
		{
			// SDM72D-M-V2: SDM630 layout for 0x0000–0x004B. Source: mbmd sdm72v2.go, Tinkerforge sdm72dmv2_defs.cpp.
			// openWB reports some SDM72 answer only 10 registers per read: the plan keeps blocks at 10.
			Name: "sdm72", Vendor: "Eastron", Phases: 3, Fields: eastron3ph(),
			Blocks: []Block{
				{Input, 0x0000, 10}, {Input, 0x000A, 8}, {Input, 0x0034, 2}, {Input, 0x0046, 6}, eastronID,
			},
			MaxRegs: 80, EvenOnly: true, CodeField: codeField(eastronCodeAddr), Codes: []uint16{0x0089},
			RatedPowerW: 3 * 230 * 100, // SDM72D-M-V2: Imax 100 A
			DefaultBaud: 9600, DefaultUnit: 1,
		},
		{
			// Eastron documents code 0x0084; Tinkerforge reads 0x0200 on every unit it has.
			Name: "sdm72-v1", Vendor: "Eastron", Phases: 3, Fields: sdm72v1,
			Blocks:  []Block{{Input, 0x0034, 2}, {Input, 0x0048, 4}, eastronID},
			MaxRegs: 80, EvenOnly: true, CodeField: codeField(eastronCodeAddr), Codes: []uint16{0x0084, 0x0200},
			RatedPowerW: 3 * 230 * 100, // SDM72D-M: Imax 100 A
			DefaultBaud: 9600, DefaultUnit: 1,
		},
		{
			Name: "sdm120", Vendor: "Eastron", Phases: 1, Fields: eastron1ph(),
			Blocks:  []Block{{Input, 0x0000, 14}, {Input, 0x0046, 6}, eastronID},
			MaxRegs: 80, EvenOnly: true, CodeField: codeField(eastronCodeAddr), Codes: []uint16{0x0020},
			RatedPowerW: 230 * 45, // SDM120: Imax 45 A
			DefaultBaud: 2400, DefaultUnit: 1,
		},
		{
			// SDM230: at most 30 values (60 registers) per request. Its model code is not in
			// our sources, so "auto" cannot name it (Codes empty).
			Name: "sdm230", Vendor: "Eastron", Phases: 1, Fields: eastron1ph(),
			Blocks:  []Block{{Input, 0x0000, 14}, {Input, 0x0046, 6}, eastronID},
			MaxRegs: 60, EvenOnly: true, CodeField: codeField(eastronCodeAddr),
			RatedPowerW: 230 * 100, // SDM230: Imax 100 A
			DefaultBaud: 2400, DefaultUnit: 1,
		},
		{
			// ABB B23/B24 "EQ" map, holding registers only. Source: ABB 2CMC485003M0201 via
			// openWB b23.py, mbmd abb.go, victron dbus-modbus-client abb.py. Steel variants
			// have no export and read all ones there: Optional.
			Name: "abb-b23", Vendor: "ABB", Phases: 3,
			Fields: []Field{
				{Q: VoltageL1, Table: Holding, Addr: 0x5B00, Kind: Uint32, Exp: -1},
				{Q: VoltageL2, Table: Holding, Addr: 0x5B02, Kind: Uint32, Exp: -1},
				{Q: VoltageL3, Table: Holding, Addr: 0x5B04, Kind: Uint32, Exp: -1},
				{Q: CurrentL1, Table: Holding, Addr: 0x5B0C, Kind: Uint32, Exp: -2},
				{Q: CurrentL2, Table: Holding, Addr: 0x5B0E, Kind: Uint32, Exp: -2},
				{Q: CurrentL3, Table: Holding, Addr: 0x5B10, Kind: Uint32, Exp: -2},
				{Q: PowerTotal, Table: Holding, Addr: 0x5B14, Kind: Int32, Exp: -2},
				{Q: PowerL1, Table: Holding, Addr: 0x5B16, Kind: Int32, Exp: -2},
				{Q: PowerL2, Table: Holding, Addr: 0x5B18, Kind: Int32, Exp: -2},
				{Q: PowerL3, Table: Holding, Addr: 0x5B1A, Kind: Int32, Exp: -2},
				{Q: Frequency, Table: Holding, Addr: 0x5B2C, Kind: Uint16, Exp: -2},
				{Q: EnergyImport, Table: Holding, Addr: 0x5000, Kind: Uint64, Exp: hundredKWh},
				{Q: EnergyExport, Table: Holding, Addr: 0x5004, Kind: Uint64, Exp: hundredKWh, Optional: true},
				{Q: Serial, Table: Holding, Addr: 0x8900, Kind: Uint32},
				{Q: Firmware, Table: Holding, Addr: 0x8908, Kind: ASCII, Words: 8},
			},
			Blocks: []Block{
				{Holding, 0x5000, 8}, {Holding, 0x5B00, 0x2D}, {Holding, 0x8900, 2}, {Holding, 0x8908, 8}, {Holding, 0x8960, 6},
			},
			// Type designation "B23 " / "B24 " (Victron probe); B21 is single phase and not listed.
			MaxRegs: 125, CodeField: Field{Q: ModelCode, Table: Holding, Addr: 0x8960, Kind: ASCII, Words: 2},
			Prefixes:      []string{"B23", "B24"},
			EnergyStepMWh: 10_000, RatedPowerW: 3 * 230 * 65, // B23/B24: Imax 65 A
			DefaultBaud: 9600, DefaultUnit: 1,
		},
		{
			// Carlo Gavazzi EM340/ET340: INT32 low word first, FC03 = FC04. Source: CG "EM300 and
			// ET300 series Modbus serial protocol rev 2.6" (dbus-cgwacs documents/), mbmd carlogavazzi-ex3x0.go.
			Name: "em340", Vendor: "Carlo Gavazzi", Phases: 3,
			Fields: append(gavazziPhases(),
				Field{Q: Frequency, Table: Input, Addr: 0x0033, Kind: Int16, Exp: -1},
				Field{Q: EnergyImport, Table: Input, Addr: 0x0034, Kind: Int32CDAB, Exp: tenthKWh},
				Field{Q: EnergyExport, Table: Input, Addr: 0x004E, Kind: Int32CDAB, Exp: tenthKWh},
				Field{Q: Serial, Table: Holding, Addr: 0x5000, Kind: ASCII, Words: 7},
			),
			Blocks:  []Block{{Input, 0x0000, 0x36}, {Input, 0x004E, 2}, {Holding, 0x5000, 7}},
			MaxRegs: 125, CodeField: codeField(gavazziCodeAddr), Codes: []uint16{341, 345, 346},
			EnergyStepMWh: 100_000, RatedPowerW: 3 * 230 * 65, // EM340: Imax 65 A
			DefaultBaud: 9600, DefaultUnit: 1,
		},
		{
			// Carlo Gavazzi EM24-DIN RS-485 (protocol V4R0): at most 11 registers per request.
			// Import total is 0x003E, not the partial counter 0x0042 (mbmd bug, evcc PR #17173).
			// Some variants answer exception 02 at 0x005C (evcc issue #31143): export Optional.
			Name: "em24", Vendor: "Carlo Gavazzi", Phases: 3,
			Fields: append(gavazziPhases(),
				Field{Q: Frequency, Table: Input, Addr: 0x0037, Kind: Int16, Exp: -1},
				Field{Q: EnergyImport, Table: Input, Addr: 0x003E, Kind: Int32CDAB, Exp: tenthKWh},
				Field{Q: EnergyExport, Table: Input, Addr: 0x005C, Kind: Int32CDAB, Exp: tenthKWh, Optional: true},
				Field{Q: Serial, Table: Holding, Addr: 0x1300, Kind: ASCII, Words: 7, Optional: true},
			),
			Blocks: []Block{
				{Input, 0x0000, 6}, {Input, 0x000C, 11}, {Input, 0x0017, 1}, {Input, 0x0028, 2},
				{Input, 0x0037, 1}, {Input, 0x003E, 2}, {Input, 0x005C, 2}, {Holding, 0x1300, 7},
			},
			MaxRegs: 11, CodeField: codeField(gavazziCodeAddr), Codes: []uint16{71, 72, 73},
			EnergyStepMWh: 100_000, RatedPowerW: 3 * 230 * 65, // EM24-DIN AV9: Imax 65 A
			DefaultBaud: 9600, DefaultUnit: 1,
		},
		{
			// Iskra WM3M4/WM3M4C: Iskra T5/T6 formats in input registers; energy int32 × 10^exp Wh
			// with the exponent at 414/415. Source: Tinkerforge bricklib2 warp/meter_wm3m4c_def.inc,
			// EVerest RsIskraMeter main.rs (Iskra user manual K_WM3M4 v1.14).
			Name: "wm3m4", Vendor: "Iskra", Phases: 3,
			Fields: []Field{
				{Q: Frequency, Table: Input, Addr: 105, Kind: IskraT5},
				{Q: VoltageL1, Table: Input, Addr: 107, Kind: IskraT5},
				{Q: VoltageL2, Table: Input, Addr: 109, Kind: IskraT5},
				{Q: VoltageL3, Table: Input, Addr: 111, Kind: IskraT5},
				{Q: CurrentL1, Table: Input, Addr: 126, Kind: IskraT5},
				{Q: CurrentL2, Table: Input, Addr: 128, Kind: IskraT5},
				{Q: CurrentL3, Table: Input, Addr: 130, Kind: IskraT5},
				{Q: PowerTotal, Table: Input, Addr: 140, Kind: IskraT6},
				{Q: PowerL1, Table: Input, Addr: 142, Kind: IskraT6},
				{Q: PowerL2, Table: Input, Addr: 144, Kind: IskraT6},
				{Q: PowerL3, Table: Input, Addr: 146, Kind: IskraT6},
				{Q: Scale, Table: Input, Addr: 414, Kind: Int16},
				{Q: Scale, Table: Input, Addr: 415, Kind: Int16},
				{Q: EnergyImport, Table: Input, Addr: 418, Kind: Int32, Exp: wh, ExpFrom: 414},
				{Q: EnergyExport, Table: Input, Addr: 420, Kind: Int32, Exp: wh, ExpFrom: 415},
				{Q: Serial, Table: Input, Addr: 9, Kind: ASCII, Words: 4},
			},
			Blocks: []Block{
				{Input, 1, 12}, {Input, 105, 8}, {Input, 126, 6}, {Input, 140, 8}, {Input, 414, 8},
			},
			MaxRegs: 125, CodeField: Field{Q: ModelCode, Table: Input, Addr: 1, Kind: ASCII, Words: 8},
			Prefixes:    []string{"WM3M4"},
			RatedPowerW: 3 * 230 * 80, // WM3M4: Imax 80 A (unverified; generous)
			DefaultBaud: 115200, DefaultUnit: 33,
		},
	}
}

// ModelNames lists the names Config.Model accepts.
func ModelNames() []string {
	names := []string{"auto"}
	for _, m := range Models() {
		names = append(names, m.Name)
	}
	return append(names, "sunspec")
}

// LookupModel returns the built-in map of that name ("sunspec" is resolved on the device).
func LookupModel(name string) (*Model, bool) {
	for _, m := range Models() {
		if m.Name == name {
			return m, true
		}
	}
	return nil, false
}

// field returns the model's first field for q.
func (m *Model) field(q Quantity) (Field, bool) {
	for _, f := range m.Fields {
		if f.Q == q {
			return f, true
		}
	}
	return Field{}, false
}
