package meter

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Status summarises how a poll went.
type Status string

// Reading statuses. The first four are the contract of DESIGN.md; StatusError covers
// framing and connection failures, StatusReplaced a serial-number change.
const (
	StatusOK          Status = "ok"
	StatusTimeout     Status = "timeout"
	StatusException   Status = "exception"
	StatusImplausible Status = "implausible"
	StatusError       Status = "error"
	StatusReplaced    Status = "replaced"
)

// Reading is one poll of one meter. Energy totals are integers in milliwatt-hours,
// converted exactly from the meter's own encoding (float32 kWh values are rounded to the
// nearest mWh; every float32 of a kWh counter is an exact multiple of 1/16384 mWh or
// coarser, so rounding loses nothing the meter resolved above 1 mWh).
type Reading struct {
	Time                    time.Time // wall clock with monotonic reading, taken when the poll finished
	Model, Serial, Firmware string
	ImportMWh, ExportMWh    int64     // cumulative, milliwatt-hours
	PowerW                  float64   // total active power; negative = export
	PhasePowerW             []float64 // per phase (len 1 or 3), nil if absent
	VoltageV                []float64
	CurrentA                []float64
	FrequencyHz             float64
	Status                  Status
	SignedRecord            []byte // meter-signed OCMF record, byte for byte, when the model signs
}

// decode turns a register image into a Reading using the model's map. Identity fields are
// decoded too when present in the image.
func decode(m *Model, im Image) (Reading, error) {
	r := Reading{Model: m.Name}
	phases := m.Phases
	volt := make([]float64, phases)
	curr := make([]float64, phases)
	pow := make([]float64, phases)
	var haveV, haveI, haveP, haveTotal bool
	for _, f := range m.Fields {
		if f.Q == Scale || f.Q == ModelCode {
			continue
		}
		w, ok := im.words(f.Table, f.Addr, f.words())
		if !ok {
			if f.Optional || f.Q == Serial || f.Q == Firmware {
				continue
			}
			return r, fmt.Errorf("decode %s at 0x%04x: register not read", f.Q, f.Addr)
		}
		switch f.Q {
		case Serial, Firmware:
			s := identityString(f, w)
			if f.Q == Serial {
				r.Serial = s
			} else {
				r.Firmware = s
			}
			continue
		}
		exp := f.Exp
		if f.ExpFrom != 0 {
			e, ok := im.words(f.Table, f.ExpFrom, 1)
			if !ok {
				return r, fmt.Errorf("decode %s: scale register 0x%04x not read", f.Q, f.ExpFrom)
			}
			sf := int16(e[0])
			if sf == math.MinInt16 || sf < -10 || sf > 10 {
				if f.Optional {
					continue
				}
				return r, &ImplausibleError{Quantity: f.Q, Rule: RuleMarker, Reason: fmt.Sprintf("scale factor %d not available", sf)}
			}
			exp += int(sf)
		}
		v := decodeRaw(f.Kind, w)
		if v.invalid {
			if f.Optional {
				continue
			}
			return r, &ImplausibleError{Quantity: f.Q, Rule: RuleMarker, Reason: fmt.Sprintf("register 0x%04x holds the not-available marker %04x", f.Addr, w)}
		}
		switch f.Q {
		case EnergyImport, EnergyExport:
			e, err := energyMWh(v, exp)
			if err != nil {
				return r, &ImplausibleError{Quantity: f.Q, Rule: RuleMarker, Reason: err.Error()}
			}
			if f.Q == EnergyImport {
				r.ImportMWh = e
			} else {
				r.ExportMWh = e
			}
			continue
		}
		x := v.f
		if !v.isFloat {
			x = float64(v.i)
		} else if f.Kind == Float32 {
			// The shortest decimal that is this float32 (230.1, not 230.10000610351562).
			x, _ = strconv.ParseFloat(strconv.FormatFloat(x, 'g', -1, 32), 64)
		}
		if exp < 0 {
			x /= math.Pow10(-exp) // 2302 / 10 is 230.2; 2302 * 0.1 is not
		} else {
			x *= math.Pow10(exp)
		}
		switch f.Q {
		case VoltageL1, VoltageL2, VoltageL3:
			if i := int(f.Q - VoltageL1); i < phases {
				volt[i], haveV = x, true
			}
		case CurrentL1, CurrentL2, CurrentL3:
			if i := int(f.Q - CurrentL1); i < phases {
				curr[i], haveI = x, true
			}
		case PowerL1, PowerL2, PowerL3:
			if i := int(f.Q - PowerL1); i < phases {
				pow[i], haveP = x, true
			}
		case PowerTotal:
			r.PowerW, haveTotal = x, true
		case Frequency:
			r.FrequencyHz = x
		}
	}
	if haveV {
		r.VoltageV = volt
	}
	if haveI {
		r.CurrentA = curr
	}
	if haveP {
		r.PhasePowerW = pow
		if !haveTotal {
			for _, p := range pow {
				r.PowerW += p
			}
		}
	}
	if !haveP && haveTotal && phases == 1 {
		r.PhasePowerW = []float64{r.PowerW}
	}
	return r, nil
}

func identityString(f Field, w []uint16) string {
	if f.Kind == ASCII {
		return decodeASCII(w)
	}
	v := decodeRaw(f.Kind, w)
	if f.Kind == Uint16 && f.Q == Firmware {
		return fmt.Sprintf("%04X", w[0]) // Eastron: two bytes, hex
	}
	return strconv.FormatInt(v.i, 10)
}

// energyMWh converts a raw counter to mWh exactly: integers by powers of ten (rounding only
// when the exponent is negative), floats rounded to the nearest mWh.
func energyMWh(v raw, exp int) (int64, error) {
	if v.isFloat {
		x := v.f * math.Pow10(exp)
		if x < 0 || x >= 9e18 {
			return 0, fmt.Errorf("counter %g out of range", x)
		}
		return int64(math.Round(x)), nil
	}
	if v.i < 0 {
		return 0, fmt.Errorf("negative counter %d", v.i)
	}
	n := v.i
	if exp >= 0 {
		for range exp {
			if n > math.MaxInt64/10 {
				return 0, fmt.Errorf("counter %d ×10^%d overflows", v.i, exp)
			}
			n *= 10
		}
		return n, nil
	}
	d := int64(1)
	for range -exp {
		if d > math.MaxInt64/10 {
			return 0, nil
		}
		d *= 10
	}
	return (n + d/2) / d, nil
}

// String renders a reading on one line for humans.
func (r Reading) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s serial=%s import=%.3fkWh export=%.3fkWh power=%.1fW", r.Time.Format(time.RFC3339), r.Model, r.Serial,
		float64(r.ImportMWh)/1e6, float64(r.ExportMWh)/1e6, r.PowerW)
	if len(r.VoltageV) > 0 {
		fmt.Fprintf(&b, " V=%.1f", r.VoltageV)
	}
	if len(r.CurrentA) > 0 {
		fmt.Fprintf(&b, " A=%.2f", r.CurrentA)
	}
	if r.FrequencyHz != 0 {
		fmt.Fprintf(&b, " f=%.2fHz", r.FrequencyHz)
	}
	fmt.Fprintf(&b, " status=%s", r.Status)
	return b.String()
}
