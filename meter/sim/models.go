package sim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/chargegate/chargegate/meter"
)

// simModel is what the simulator needs beyond the client's register map: fixed registers
// (SunSpec chain headers), which ranges exist, aliasing of FC03/FC04, writable registers.
type simModel struct {
	*meter.Model
	static   map[meter.Table]map[uint16]uint16
	readable []meter.Block
	aliased  bool // Carlo Gavazzi: FC03 and FC04 return the same data
	writable []meter.Block
	scales   map[uint16]int // exponent stored in each Scale register
}

// ModelNames lists the models the simulator serves.
func ModelNames() []string {
	var names []string
	for _, m := range meter.Models() {
		names = append(names, m.Name)
	}
	return append(names, "sunspec", "sunspec-float")
}

func lookupModel(name string) (*simModel, error) {
	switch name {
	case "sunspec", "sunspec-float":
		return sunspecSim(name == "sunspec-float")
	}
	m, ok := meter.LookupModel(name)
	if !ok {
		return nil, fmt.Errorf("model %q: %w (simulator serves %s)", name, meter.ErrUnknownModel, strings.Join(ModelNames(), ", "))
	}
	sm := &simModel{Model: m, readable: slices.Clone(m.Blocks), scales: map[uint16]int{}}
	// The identity register is readable as well.
	cf := m.CodeField
	n := uint16(cf.Kind.Words())
	if cf.Kind == meter.ASCII {
		n = uint16(cf.Words)
	}
	sm.readable = append(sm.readable, meter.Block{Table: cf.Table, Addr: cf.Addr, Count: n})
	switch m.Name {
	case "em340", "em24":
		sm.aliased = true
	case "wm3m4":
		// OCMF registers of the WM3M4C (see meter.IskraReg*).
		sm.writable = []meter.Block{
			{Table: meter.Holding, Addr: meter.IskraRegState, Count: 72},
			{Table: meter.Holding, Addr: meter.IskraRegMeta, Count: 512},
		}
		sm.readable = append(sm.readable,
			meter.Block{Table: meter.Holding, Addr: meter.IskraRegState, Count: 72},
			meter.Block{Table: meter.Holding, Addr: meter.IskraRegMeta, Count: 512},
			meter.Block{Table: meter.Holding, Addr: meter.IskraRegPayload, Count: 512},
			meter.Block{Table: meter.Holding, Addr: meter.IskraRegPublicKey, Count: 32},
			meter.Block{Table: meter.Holding, Addr: meter.IskraRegSignature, Count: 64},
		)
	}
	return sm.fillScales(), nil
}

// sunspecSim lays out a SunSpec device at base 40000: "SunS", common model 1 (L = 66),
// meter model 203 (int + SF, L = 105) or 213 (float, L = 124), end marker.
func sunspecSim(float bool) (*simModel, error) {
	const base, common = 40000, 40002
	meterAt := uint16(common + 2 + 66)
	id, l := uint16(203), uint16(105)
	if float {
		id, l = 213, 124
	}
	m, err := meter.SunSpecMeterModel(common, meterAt, id)
	if err != nil {
		return nil, err
	}
	if float {
		m.Name = "sunspec-float"
	}
	end := meterAt + 2 + l
	st := map[uint16]uint16{base: 0x5375, base + 1: 0x6E53, common: 1, common + 1: 66, meterAt: id, meterAt + 1: l, end: 0xFFFF, end + 1: 0}
	put := func(addr uint16, s string, words int) {
		for i, w := range meter.EncodeField(meter.Field{Kind: meter.ASCII, Words: words}, 0, 0, s) {
			st[addr+uint16(i)] = w
		}
	}
	put(common+2, "chargegate", 16)  // Mn
	put(common+2+16, "metersim", 16) // Md
	st[common+2+64] = 1              // DA
	sm := &simModel{
		Model:  m,
		static: map[meter.Table]map[uint16]uint16{meter.Holding: st},
		readable: []meter.Block{
			{Table: meter.Holding, Addr: base, Count: end + 2 - base},
		},
		scales: map[uint16]int{},
	}
	return sm.fillScales(), nil
}

// fillScales picks the exponent the simulated meter stores in each scale register: enough
// resolution for each quantity while staying inside int16 (SunSpec), and exponent 0 (Wh)
// for Iskra and SunSpec energy.
func (sm *simModel) fillScales() *simModel {
	for _, f := range sm.Fields {
		if f.ExpFrom == 0 {
			continue
		}
		e := 0
		switch f.Q {
		case meter.CurrentL1, meter.CurrentL2, meter.CurrentL3, meter.Frequency:
			e = -2
		case meter.VoltageL1, meter.VoltageL2, meter.VoltageL3:
			e = -1
		}
		if _, ok := sm.scales[f.ExpFrom]; !ok {
			sm.scales[f.ExpFrom] = e
		}
	}
	return sm
}
