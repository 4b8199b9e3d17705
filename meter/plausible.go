package meter

import (
	"fmt"
	"math"
	"time"
)

// Plausibility limits. A charger meter outside these is broken, misconfigured or lying.
const (
	maxVoltage   = 500.0   // V, line to neutral
	maxCurrent   = 1000.0  // A per phase (DC chargers with CTs included)
	maxPower     = 1.5e6   // W total
	minFrequency = 40.0    // Hz; 0 is accepted only when no voltage is present
	maxFrequency = 70.0    // Hz
	maxEnergyMWh = 1e15    // 1 TWh: no counter in a charger gets there
	frozenWindow = 3.0     // frozen when P·t exceeds this many counter steps with no change
	minFrozenMWh = 100_000 // and at least 100 Wh should have been counted
	// ResetConfirmations is how many polls in a row must show counters below the baseline (and
	// consistent among themselves) before that is a counter reset rather than a glitch.
	ResetConfirmations = 3
)

// plausibility remembers what earlier readings established: the serial, the highest
// energy seen, and when the counter last moved.
type plausibility struct {
	serial          string
	haveBase        bool
	imp, exp        int64
	lastTime        time.Time
	expectedSinceMv float64 // mWh the power readings say should have been counted since the counter last moved
	backCount       int     // consecutive polls below the baseline
	backImp         int64   // the last of them
	backExp         int64
}

// check applies range checks, monotonic energy, frozen-counter and serial-change detection
// to r. It updates the baseline only when r passes.
func (p *plausibility) check(r *Reading, m *Model) error {
	for i, v := range r.VoltageV {
		if math.IsNaN(v) || v < 0 || v > maxVoltage {
			return &ImplausibleError{Quantity: VoltageL1 + Quantity(i), Reason: fmt.Sprintf("%.1f V outside 0..%.0f", v, maxVoltage)}
		}
	}
	for i, v := range r.CurrentA {
		if math.IsNaN(v) || math.Abs(v) > maxCurrent {
			return &ImplausibleError{Quantity: CurrentL1 + Quantity(i), Reason: fmt.Sprintf("%.1f A outside ±%.0f", v, maxCurrent)}
		}
	}
	if math.IsNaN(r.PowerW) || math.Abs(r.PowerW) > maxPower {
		return &ImplausibleError{Quantity: PowerTotal, Reason: fmt.Sprintf("%.0f W outside ±%.0f", r.PowerW, maxPower)}
	}
	live := len(r.VoltageV) > 0 && r.VoltageV[0] > 50
	if r.FrequencyHz != 0 || live {
		if r.FrequencyHz < minFrequency || r.FrequencyHz > maxFrequency {
			return &ImplausibleError{Quantity: Frequency, Reason: fmt.Sprintf("%.2f Hz outside %.0f..%.0f", r.FrequencyHz, minFrequency, maxFrequency)}
		}
	}
	if r.ImportMWh > maxEnergyMWh || r.ExportMWh > maxEnergyMWh {
		return &ImplausibleError{Quantity: EnergyImport, Reason: "counter beyond 1 TWh"}
	}
	if p.haveBase && r.Serial != p.serial && r.Serial != "" && p.serial != "" {
		err := &ReplacementError{OldSerial: p.serial, NewSerial: r.Serial}
		*p = plausibility{serial: r.Serial, haveBase: true, imp: r.ImportMWh, exp: r.ExportMWh, lastTime: r.Time}
		return err
	}
	if p.haveBase {
		if r.ImportMWh < p.imp || r.ExportMWh < p.exp {
			return p.backwards(r)
		}
		p.backCount = 0
		// Frozen: power says energy flowed but the counter has not moved for several steps.
		dt := r.Time.Sub(p.lastTime).Hours()
		if r.ImportMWh == p.imp && r.PowerW > 0 && dt > 0 {
			p.expectedSinceMv += r.PowerW * dt * 1000
			limit := math.Max(frozenWindow*float64(energyStep(m, r.ImportMWh)), minFrozenMWh)
			if p.expectedSinceMv > limit {
				p.lastTime = r.Time
				return &ImplausibleError{Quantity: EnergyImport, Reason: fmt.Sprintf("counter frozen at %d mWh while %.0f W flow (%.0f mWh expected)", r.ImportMWh, r.PowerW, p.expectedSinceMv)}
			}
		} else if r.ImportMWh != p.imp {
			p.expectedSinceMv = 0
		}
	}
	p.serial, p.haveBase = r.Serial, true
	p.imp, p.exp, p.lastTime = r.ImportMWh, r.ExportMWh, r.Time
	return nil
}

// backwards handles counters below the baseline: implausible at first, a counter reset once
// ResetConfirmations consecutive polls agree (each at or above the one before).
func (p *plausibility) backwards(r *Reading) error {
	if p.backCount > 0 && r.ImportMWh >= p.backImp && r.ExportMWh >= p.backExp {
		p.backCount++
	} else {
		p.backCount = 1
	}
	p.backImp, p.backExp = r.ImportMWh, r.ExportMWh
	if p.backCount >= ResetConfirmations {
		err := &CounterResetError{OldImportMWh: p.imp, NewImportMWh: r.ImportMWh, OldExportMWh: p.exp, NewExportMWh: r.ExportMWh}
		*p = plausibility{serial: r.Serial, haveBase: true, imp: r.ImportMWh, exp: r.ExportMWh, lastTime: r.Time}
		return err
	}
	q, old, now := EnergyImport, p.imp, r.ImportMWh
	if r.ImportMWh >= p.imp {
		q, old, now = EnergyExport, p.exp, r.ExportMWh
	}
	return &ImplausibleError{Quantity: q, Reason: fmt.Sprintf("counter went backwards from %d to %d mWh", old, now)}
}

// energyStep is the counter resolution at the given value: fixed for integer formats, one
// float32 ulp of the kWh value for Eastron and SunSpec float models.
func energyStep(m *Model, mwh int64) int64 {
	if m.EnergyStepMWh > 0 {
		return m.EnergyStepMWh
	}
	if f, ok := m.field(EnergyImport); ok && f.Kind == Float32 {
		v := float32(float64(mwh) / math.Pow10(f.Exp))
		ulp := float64(math.Nextafter32(v, float32(math.Inf(1)))-v) * math.Pow10(f.Exp)
		return int64(math.Ceil(ulp))
	}
	return 1000 // 1 Wh: Iskra and SunSpec integer meters at exponent 0
}
