package meter

import (
	"context"
	"errors"
	"fmt"
)

// SunSpec meters (models 201–204 integer + scale factor, 211–214 float32): the map is not
// fixed, it is found by walking the device's model chain. Source: sunspec/models
// json/model_1.json, model_201..204.json, model_211..214.json. Everything is FC03, ABCD.

const sunsHi, sunsLo = 0x5375, 0x6E53 // "SunS"

// sunspecPoint is a point of a SunSpec meter model: offset in the model's data (after ID
// and L), its scale-factor offset (integer variant), and whether it may be not implemented.
type sunspecPoint struct {
	q       Quantity
	off, sf uint16
	opt     bool
}

// sunspecIntPoints: models 201–204 (integer + scale factor).
func sunspecIntPoints() []sunspecPoint {
	return []sunspecPoint{
		{CurrentL1, 1, 4, false}, {CurrentL2, 2, 4, true}, {CurrentL3, 3, 4, true},
		{VoltageL1, 6, 13, false}, {VoltageL2, 7, 13, true}, {VoltageL3, 8, 13, true},
		{Frequency, 14, 15, false},
		{PowerTotal, 16, 20, false}, {PowerL1, 17, 20, false}, {PowerL2, 18, 20, true}, {PowerL3, 19, 20, true},
		{EnergyExport, 36, 52, false}, {EnergyImport, 44, 52, false},
	}
}

// sunspecFloatPoints: models 211–214, every point a float32 (no scale factors).
func sunspecFloatPoints() []sunspecPoint {
	return []sunspecPoint{
		{CurrentL1, 2, 0, false}, {CurrentL2, 4, 0, true}, {CurrentL3, 6, 0, true},
		{VoltageL1, 10, 0, false}, {VoltageL2, 12, 0, true}, {VoltageL3, 14, 0, true},
		{Frequency, 24, 0, false},
		{PowerTotal, 26, 0, false}, {PowerL1, 28, 0, false}, {PowerL2, 30, 0, true}, {PowerL3, 32, 0, true},
		{EnergyExport, 58, 0, false}, {EnergyImport, 66, 0, false},
	}
}

// SunSpecMeterModel builds the register map of a SunSpec meter whose common model (1)
// starts at common and whose meter model id (201–204, 211–214) starts at meter (the
// address of its ID register). Exported for the simulator, which lays out the same chain.
func SunSpecMeterModel(common, meter, id uint16) (*Model, error) {
	m := &Model{Name: "sunspec", Vendor: "SunSpec", Phases: 3, MaxRegs: 125}
	if id == 201 || id == 211 {
		m.Phases = 1
	}
	data := meter + 2
	switch {
	case id >= 201 && id <= 204:
		for _, p := range sunspecIntPoints() {
			kind := Int16
			exp := 0
			if p.q == EnergyImport || p.q == EnergyExport {
				kind, exp = Acc32, wh
			}
			m.Fields = append(m.Fields, Field{Q: p.q, Table: Holding, Addr: data + p.off, Kind: kind, Exp: exp, ExpFrom: data + p.sf, Optional: p.opt})
		}
		for _, sf := range []uint16{4, 13, 15, 20, 52} {
			m.Fields = append(m.Fields, Field{Q: Scale, Table: Holding, Addr: data + sf, Kind: Int16})
		}
		m.Blocks = append(m.Blocks, Block{Holding, meter, 2 + 105})
	case id >= 211 && id <= 214:
		for _, p := range sunspecFloatPoints() {
			exp := 0
			if p.q == EnergyImport || p.q == EnergyExport {
				exp = wh
			}
			m.Fields = append(m.Fields, Field{Q: p.q, Table: Holding, Addr: data + p.off, Kind: Float32, Exp: exp, Optional: p.opt})
		}
		m.Blocks = append(m.Blocks, Block{Holding, meter, 2 + 124})
	default:
		return nil, fmt.Errorf("sunspec model %d is not a meter model: %w", id, ErrUnknownModel)
	}
	// Common model 1: Vr (firmware) at data+40 (8 regs), SN at data+48 (16 regs).
	m.Fields = append(m.Fields,
		Field{Q: Firmware, Table: Holding, Addr: common + 2 + 40, Kind: ASCII, Words: 8},
		Field{Q: Serial, Table: Holding, Addr: common + 2 + 48, Kind: ASCII, Words: 16},
	)
	m.Blocks = append([]Block{{Holding, common + 2 + 40, 24}}, m.Blocks...)
	m.CodeField = Field{Q: ModelCode, Table: Holding, Addr: meter, Kind: Uint16}
	m.Codes = []uint16{id}
	return m, nil
}

// sunspecModel finds the marker, walks the chain and builds the meter's map.
func sunspecModel(ctx context.Context, bus *Bus, unit uint8) (*Model, error) {
	var firstErr error
	// The "SunS" marker may start at 40000, 0 or 50000: probe in that order.
	for _, base := range [...]uint16{40000, 0, 50000} {
		regs, err := bus.ReadRegisters(ctx, unit, Holding, base, 2)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			if errors.Is(err, ErrTimeout) || ctx.Err() != nil {
				return nil, fmt.Errorf("sunspec probe: %w", err)
			}
			continue
		}
		if regs[0] != sunsHi || regs[1] != sunsLo {
			continue
		}
		addr := base + 2
		common := uint16(0)
		for hops := 0; hops < 32; hops++ {
			hdr, err := bus.ReadRegisters(ctx, unit, Holding, addr, 2)
			if err != nil {
				return nil, fmt.Errorf("sunspec chain at %d: %w", addr, err)
			}
			id, l := hdr[0], hdr[1]
			switch {
			case id == 0xFFFF:
				return nil, fmt.Errorf("sunspec chain at base %d has no meter model: %w", base, ErrUnknownModel)
			case id == 1:
				common = addr
			case (id >= 201 && id <= 204) || (id >= 211 && id <= 214):
				if common == 0 {
					return nil, fmt.Errorf("sunspec meter model %d before common model: %w", id, ErrUnknownModel)
				}
				return SunSpecMeterModel(common, addr, id)
			}
			next := uint32(addr) + 2 + uint32(l)
			if next > 0xFFFF {
				break
			}
			addr = uint16(next)
		}
		return nil, fmt.Errorf("sunspec chain at base %d too long or broken: %w", base, ErrUnknownModel)
	}
	if firstErr == nil {
		firstErr = errors.New("no SunS marker at 40000, 0 or 50000")
	}
	return nil, fmt.Errorf("sunspec: %w: %w", ErrUnknownModel, firstErr)
}
