package meter

import (
	"errors"
	"math"
	"testing"
)

// Register images below are written from the datasheets' encodings by hand (hex worked
// out per format), not produced by the simulator.

func img(t Table, addr uint16, regs ...uint16) Image {
	im := Image{}
	im.Set(t, addr, regs)
	return im
}

func merge(ims ...Image) Image {
	out := Image{}
	for _, im := range ims {
		out.blocks = append(out.blocks, im.blocks...)
	}
	return out
}

func ascii(s string, words int) []uint16 { return encodeASCII(s, words) }

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }

// sdmDatasheetImage is an SDM630 register image: input registers 0x0000–0x004B and the
// identity block at holding 0xFC00.
func sdmDatasheetImage() ([]uint16, Image) {
	sdmInput := make([]uint16, 0x4C)
	put := func(regs []uint16, addr int, hi, lo uint16) { regs[addr], regs[addr+1] = hi, lo }
	put(sdmInput, 0x00, 0x4366, 0x199A) // 230.1 V
	put(sdmInput, 0x02, 0x4365, 0xCCCD) // 229.8 V
	put(sdmInput, 0x04, 0x4367, 0x0000) // 231.0 V
	put(sdmInput, 0x06, 0x4180, 0x0000) // 16.0 A
	put(sdmInput, 0x08, 0x4178, 0x0000) // 15.5 A
	put(sdmInput, 0x0C, 0x4566, 0x0000) // 3680 W
	put(sdmInput, 0x0E, 0x455E, 0xD000) // 3565 W
	put(sdmInput, 0x34, 0x45E2, 0x6800) // 7245 W
	put(sdmInput, 0x46, 0x4248, 0x147B) // 50.02 Hz
	put(sdmInput, 0x48, 0x4640, 0xE6B6) // 12345.677734375 kWh (float32 of 12345.678)
	put(sdmInput, 0x4A, 0x3FC0, 0x0000) // 1.5 kWh
	return sdmInput, img(Holding, 0xFC00, 0x0131, 0x2D00, 0x0070, 0x0103)
}

func TestDecodeModels(t *testing.T) {
	sdmInput, sdmID := sdmDatasheetImage()
	put := func(regs []uint16, addr int, hi, lo uint16) { regs[addr], regs[addr+1] = hi, lo }
	sdm1 := make([]uint16, 14)
	put(sdm1, 0x00, 0x4366, 0x199A)
	put(sdm1, 0x06, 0x4180, 0x0000)
	put(sdm1, 0x0C, 0x4566, 0x0000)

	cg := make([]uint16, 0x36)
	put(cg, 0x00, 0x08FD, 0x0000) // 230.1 V, low word first
	put(cg, 0x0C, 0x3E80, 0x0000) // 16.000 A
	put(cg, 0x12, 0x8FC0, 0x0000) // 3680.0 W
	put(cg, 0x28, 0x1B02, 0x0001) // 7245.0 W (72450 = 0x00011B02)
	cg[0x33] = 500                // 50.0 Hz
	put(cg, 0x34, 0xE240, 0x0001) // 12345.6 kWh (123456)

	em24 := make([]uint16, 0x40)
	put(em24, 0x00, 0x08FD, 0x0000)
	put(em24, 0x0C, 0x3E80, 0x0000)
	put(em24, 0x12, 0x8FC0, 0x0000)
	put(em24, 0x28, 0x1B02, 0x0001)
	em24[0x37] = 500
	put(em24, 0x3E, 0xE240, 0x0001)
	em24[0x3C], em24[0x3D] = 0x1111, 0x0000 // partial counter nearby must not be used

	abb := make([]uint16, 0x2D)
	put(abb, 0x00, 0x0000, 0x08FD) // 230.1 V
	put(abb, 0x02, 0x0000, 0x08FA) // 229.8 V
	put(abb, 0x04, 0x0000, 0x0906) // 231.0 V
	put(abb, 0x0C, 0x0000, 0x0640) // 16.00 A
	put(abb, 0x14, 0x000B, 0x0E14) // 7245.00 W
	put(abb, 0x16, 0x0005, 0x9D80) // 3680.00 W
	abb[0x2C] = 5002               // 50.02 Hz

	iskra := merge(
		img(Input, 1, ascii("WM3M4C", 8)...),
		img(Input, 9, ascii("12345678", 4)...),
		img(Input, 105, 0xFE00, 0x1389, 0xFE00, 0x59E4, 0xFE00, 0x59E4, 0xFE00, 0x59E4), // 50.01 Hz, 230.12 V ×3
		img(Input, 126, 0xFD00, 0x3E80, 0, 0, 0, 0),                                     // 16.000 A
		img(Input, 140, 0xFF01, 0x1B02, 0x00FF, 0xFC18, 0, 0, 0, 0),                     // 7245.0 W total, −1000 W L1 (T6)
		img(Input, 414, 1, 0, 0, 0, 0x0012, 0xD687, 0x0000, 0x05DC),                     // exp 1: 1234567 ×10 Wh; exp 0: 1500 Wh
	)

	// SunSpec 203 at base 40000: common model at 40002, meter model at 40070, data at 40072.
	ss := make([]uint16, 107)
	ss[0], ss[1] = 203, 105
	d := 2
	ss[d+0], ss[d+1] = 1600, 1600
	ss[d+2], ss[d+3] = 0x8000, 0x8000 // phases B, C not implemented
	ss[d+4] = 0xFFFE                  // A_SF −2
	ss[d+6], ss[d+7], ss[d+8] = 2301, 0x8000, 0x8000
	ss[d+13] = 0xFFFF // V_SF −1
	ss[d+14], ss[d+15] = 5002, 0xFFFE
	ss[d+16], ss[d+17], ss[d+18], ss[d+19], ss[d+20] = 7245, 3680, 0x8000, 0x8000, 0
	ss[d+36], ss[d+37] = 0, 1500        // TotWhExp
	ss[d+44], ss[d+45] = 0x00BC, 0x614E // TotWhImp 12345678 Wh
	ss[d+52] = 0
	sunspec, err := SunSpecMeterModel(40002, 40070, 203)
	if err != nil {
		t.Fatal(err)
	}
	ssImg := merge(img(Holding, 40070, ss...), img(Holding, 40044, ascii("1.2.3", 8)...), img(Holding, 40052, ascii("SN-42", 16)...))

	mustModel := func(name string) *Model {
		m, ok := LookupModel(name)
		if !ok {
			t.Fatalf("no model %s", name)
		}
		return m
	}
	tests := []struct {
		model *Model
		im    Image
		want  Reading
	}{
		{mustModel("sdm630"), merge(img(Input, 0, sdmInput...), sdmID), Reading{
			Model: "sdm630", Serial: "20000000", Firmware: "0103", ImportMWh: 12345677734, ExportMWh: 1500000, PowerW: 7245,
			PhasePowerW: []float64{3680, 3565, 0}, VoltageV: []float64{230.1, 229.8, 231}, CurrentA: []float64{16, 15.5, 0}, FrequencyHz: 50.02,
		}},
		{mustModel("sdm72-v1"), merge(img(Input, 0x34, 0x45E2, 0x6800), img(Input, 0x48, 0x4640, 0xE6B6, 0x3FC0, 0), sdmID), Reading{
			Model: "sdm72-v1", Serial: "20000000", Firmware: "0103", ImportMWh: 12345677734, ExportMWh: 1500000, PowerW: 7245,
		}},
		{mustModel("sdm120"), merge(img(Input, 0, sdm1...), img(Input, 0x46, 0x4248, 0x147B, 0x4640, 0xE6B6, 0x3FC0, 0), sdmID), Reading{
			Model: "sdm120", Serial: "20000000", Firmware: "0103", ImportMWh: 12345677734, ExportMWh: 1500000, PowerW: 3680,
			PhasePowerW: []float64{3680}, VoltageV: []float64{230.1}, CurrentA: []float64{16}, FrequencyHz: 50.02,
		}},
		{mustModel("em340"), merge(img(Input, 0, cg...), img(Input, 0x4E, 0x000F, 0), img(Holding, 0x5000, ascii("BX1234567890AB", 7)...)), Reading{
			Model: "em340", Serial: "BX1234567890AB", ImportMWh: 12345600000, ExportMWh: 1500000, PowerW: 7245,
			PhasePowerW: []float64{3680, 0, 0}, VoltageV: []float64{230.1, 0, 0}, CurrentA: []float64{16, 0, 0}, FrequencyHz: 50,
		}},
		{mustModel("em24"), img(Input, 0, em24...), Reading{ // export register absent (exception 02 variant): optional
			Model: "em24", ImportMWh: 12345600000, PowerW: 7245,
			PhasePowerW: []float64{3680, 0, 0}, VoltageV: []float64{230.1, 0, 0}, CurrentA: []float64{16, 0, 0}, FrequencyHz: 50,
		}},
		{mustModel("abb-b23"), merge(img(Holding, 0x5B00, abb...),
			img(Holding, 0x5000, 0, 0, 0x0012, 0xD687, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF), // export all ones: steel variant
			img(Holding, 0x8900, 0x00BC, 0x614E), img(Holding, 0x8908, ascii("1.04", 8)...)), Reading{
			Model: "abb-b23", Serial: "12345678", Firmware: "1.04", ImportMWh: 12345670000, PowerW: 7245,
			PhasePowerW: []float64{3680, 0, 0}, VoltageV: []float64{230.1, 229.8, 231}, CurrentA: []float64{16, 0, 0}, FrequencyHz: 50.02,
		}},
		{mustModel("wm3m4"), iskra, Reading{
			Model: "wm3m4", Serial: "12345678", ImportMWh: 12345670000, ExportMWh: 1500000, PowerW: 7245,
			PhasePowerW: []float64{-1000, 0, 0}, VoltageV: []float64{230.12, 230.12, 230.12}, CurrentA: []float64{16, 0, 0}, FrequencyHz: 50.01,
		}},
		{sunspec, ssImg, Reading{
			Model: "sunspec", Serial: "SN-42", Firmware: "1.2.3", ImportMWh: 12345678000, ExportMWh: 1500000, PowerW: 7245,
			PhasePowerW: []float64{3680, 0, 0}, VoltageV: []float64{230.1, 0, 0}, CurrentA: []float64{16, 0, 0}, FrequencyHz: 50.02,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.model.Name, func(t *testing.T) {
			got, err := decode(tt.model, tt.im)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			w := tt.want
			if got.Model != w.Model || got.Serial != w.Serial || got.Firmware != w.Firmware {
				t.Errorf("identity = %q %q %q, want %q %q %q", got.Model, got.Serial, got.Firmware, w.Model, w.Serial, w.Firmware)
			}
			if got.ImportMWh != w.ImportMWh || got.ExportMWh != w.ExportMWh {
				t.Errorf("energy = %d/%d mWh, want %d/%d", got.ImportMWh, got.ExportMWh, w.ImportMWh, w.ExportMWh)
			}
			if !approx(got.PowerW, w.PowerW) || !approx(got.FrequencyHz, w.FrequencyHz) {
				t.Errorf("power %v Hz %v, want %v %v", got.PowerW, got.FrequencyHz, w.PowerW, w.FrequencyHz)
			}
			for _, c := range []struct {
				name      string
				got, want []float64
			}{{"phase power", got.PhasePowerW, w.PhasePowerW}, {"voltage", got.VoltageV, w.VoltageV}, {"current", got.CurrentA, w.CurrentA}} {
				if len(c.got) != len(c.want) {
					t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
					continue
				}
				for i := range c.got {
					if !approx(float64(float32(c.got[i])), float64(float32(c.want[i]))) {
						t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
						break
					}
				}
			}
		})
	}
}

func TestDecodeInvalidMarkers(t *testing.T) {
	sdm, _ := LookupModel("sdm630")
	em, _ := LookupModel("em340")
	abb, _ := LookupModel("abb-b23")
	full := func(n int, v uint16) []uint16 {
		out := make([]uint16, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	tests := []struct {
		name string
		m    *Model
		im   Image
	}{
		{"sdm630 NaN import", sdm, merge(img(Input, 0, make([]uint16, 0x48)...), img(Input, 0x48, 0x7FC0, 0, 0, 0))},
		{"sdm630 all ones", sdm, img(Input, 0, full(0x4C, 0xFFFF)...)},
		{"em340 all ones", em, merge(img(Input, 0, full(0x36, 0xFFFF)...), img(Input, 0x4E, 0xFFFF, 0xFFFF))},
		{"abb import all ones", abb, merge(img(Holding, 0x5B00, make([]uint16, 0x2D)...), img(Holding, 0x5000, full(8, 0xFFFF)...))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(tt.m, tt.im)
			if !errors.Is(err, ErrImplausible) {
				t.Fatalf("decode = %v, want ErrImplausible", err)
			}
		})
	}
}

func TestEnergyMWhExact(t *testing.T) {
	tests := []struct {
		v    raw
		exp  int
		want int64
	}{
		{raw{i: 123456}, 5, 12_345_600_000},
		{raw{i: 1}, 4, 10_000},
		{raw{i: 1234567}, 4, 12_345_670_000},
		{raw{i: 15}, -1, 2}, // 1.5 mWh rounds half up
		{raw{f: 0.001, isFloat: true}, 6, 1000},
	}
	for _, tt := range tests {
		got, err := energyMWh(tt.v, tt.exp)
		if err != nil || got != tt.want {
			t.Errorf("energyMWh(%+v, %d) = %d, %v; want %d", tt.v, tt.exp, got, err, tt.want)
		}
	}
	if _, err := energyMWh(raw{i: math.MaxInt64 / 10}, 5); err == nil {
		t.Error("overflow not reported")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(uint8(0), []byte{0x43, 0x66, 0x19, 0x9A, 0xFF, 0xFF})
	f.Add(uint8(6), []byte{0xFE, 0x00, 0x59, 0xE4})
	f.Add(uint8(7), []byte{0x00, 0xFF, 0xFC, 0x18, 0x00, 0x01, 0x00, 0x00})
	models := Models()
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		m := models[int(which)%len(models)]
		im := Image{}
		// Fill every block of the plan from the fuzz bytes (cycled).
		i := 0
		for _, b := range m.Blocks {
			regs := make([]uint16, b.Count)
			for j := range regs {
				if len(data) >= 2 {
					regs[j] = uint16(data[i%len(data)])<<8 | uint16(data[(i+1)%len(data)])
					i += 2
				}
			}
			im.Set(b.Table, b.Addr, regs)
		}
		r, err := decode(m, im)
		if err != nil {
			return
		}
		if r.ImportMWh < 0 || r.ExportMWh < 0 {
			t.Fatalf("negative energy decoded without error: %+v", r)
		}
	})
}
