package meter

import (
	"fmt"
	"math"
	"time"
)

// Plausibility limits. A charger meter outside these is broken, misconfigured or lying.
// doc.go ("Plausibility") states every rule with these numbers.
const (
	maxVoltage   = 500.0  // V, line to neutral
	maxCurrent   = 1000.0 // A per phase (DC chargers with CTs included)
	maxPower     = 1.5e6  // W total
	minFrequency = 40.0   // Hz; 0 is accepted only when no voltage is present
	maxFrequency = 70.0   // Hz
	maxEnergyMWh = 1e15   // 1 TWh: no counter in a charger gets there

	// PowerMargin multiplies the rated power in the rise bound: overvoltage (+10 %), meter
	// class tolerance and the time stamps' jitter fit well inside 25 %.
	PowerMargin = 1.25
	// riseQuantumSteps counter steps are added to every rise bound: a counter that ticks by
	// one step just after one poll and one just before the next rose by two steps in an
	// interval where less flowed.
	riseQuantumSteps = 2

	frozenMinPowerW = 100.0   // W: below this, power readings are noise and are not integrated
	frozenWindow    = 3.0     // frozen when ∫P·dt exceeds this many counter steps with no change
	minFrozenMWh    = 100_000 // and at least 100 Wh should have been counted
)

// Baseline is what plausibility compares a reading with: the meter's serial and the last
// accepted energy registers, and when they were read. Meter.Baseline returns it; Meter.Seed
// sets it from outside (the gateway seeds it at start from the last registers its chain
// recorded), so a counter that went backwards while the program was down is still caught.
type Baseline struct {
	Serial    string
	ImportMWh int64
	ExportMWh int64
	// At is when the registers were read. Within one process it carries the monotonic
	// clock; from outside (the chain) it is wall time, and a zero At means unknown: the
	// first reading after Seed is then not bounded from above (only falls are caught).
	At time.Time
}

// limits are the configured figures plausibility uses.
type limits struct {
	maxPowerW    float64       // rated maximum power of the meter (W)
	resetConfirm time.Duration // a fall must stay consistent this long to be a reset
}

// plausibility remembers what earlier readings established: the baseline (serial, last
// accepted counters and when), the frozen-counter integral and a pending counter reset.
// Only an accepted reading (or a confirmed reset or replacement) moves the baseline.
type plausibility struct {
	base     Baseline
	haveBase bool
	noBound  bool // seeded without a time: the next rise is not bounded

	// frozen: ∫P·dt (mWh) since the counter last moved, integrated from frozenAt.
	frozenAt       time.Time
	expectedImpMWh float64
	expectedExpMWh float64

	// A pending reset: lower counters seen since resetSince, the last of them resetLast.
	resetSince time.Time
	resetLast  Baseline
}

// seed sets the baseline from outside.
func (p *plausibility) seed(b Baseline) {
	*p = plausibility{base: b, haveBase: true, noBound: b.At.IsZero()}
}

// adopt makes r the new baseline (after a replacement or a confirmed reset).
func (p *plausibility) adopt(r *Reading) {
	*p = plausibility{haveBase: true, base: Baseline{Serial: r.Serial, ImportMWh: r.ImportMWh, ExportMWh: r.ExportMWh, At: r.Time}}
}

// rangeCheck applies the instantaneous range rules.
func rangeCheck(r *Reading) error {
	for i, v := range r.VoltageV {
		if math.IsNaN(v) || v < 0 || v > maxVoltage {
			return &ImplausibleError{Quantity: VoltageL1 + Quantity(i), Rule: RuleRange, Reason: fmt.Sprintf("%.1f V outside 0..%.0f", v, maxVoltage)}
		}
	}
	for i, v := range r.CurrentA {
		if math.IsNaN(v) || math.Abs(v) > maxCurrent {
			return &ImplausibleError{Quantity: CurrentL1 + Quantity(i), Rule: RuleRange, Reason: fmt.Sprintf("%.1f A outside ±%.0f", v, maxCurrent)}
		}
	}
	if math.IsNaN(r.PowerW) || math.Abs(r.PowerW) > maxPower {
		return &ImplausibleError{Quantity: PowerTotal, Rule: RuleRange, Reason: fmt.Sprintf("%.0f W outside ±%.0f", r.PowerW, maxPower)}
	}
	live := len(r.VoltageV) > 0 && r.VoltageV[0] > 50
	if r.FrequencyHz != 0 || live {
		if r.FrequencyHz < minFrequency || r.FrequencyHz > maxFrequency {
			return &ImplausibleError{Quantity: Frequency, Rule: RuleRange, Reason: fmt.Sprintf("%.2f Hz outside %.0f..%.0f", r.FrequencyHz, minFrequency, maxFrequency)}
		}
	}
	if r.ImportMWh > maxEnergyMWh || r.ExportMWh > maxEnergyMWh {
		return &ImplausibleError{Quantity: EnergyImport, Rule: RuleTooLarge, SeenMWh: max(r.ImportMWh, r.ExportMWh), Reason: "counter beyond 1 TWh"}
	}
	return nil
}

// check applies the energy rules to a decoded reading r. idRead says whether this poll read
// the identity registers (only then is r.Serial the meter's word, and a change a
// replacement). It moves the baseline only when r passes, or on a replacement or a
// confirmed reset (returned as *ReplacementError / *CounterResetError).
func (p *plausibility) check(r *Reading, m *Model, lim limits, idRead bool) error {
	if err := rangeCheck(r); err != nil {
		p.resetSince = time.Time{}
		return err
	}
	if !p.haveBase {
		p.adopt(r)
		return nil
	}
	if idRead && r.Serial != p.base.Serial && r.Serial != "" && p.base.Serial != "" {
		err := &ReplacementError{OldSerial: p.base.Serial, NewSerial: r.Serial}
		p.adopt(r)
		return err
	}
	if r.ImportMWh < p.base.ImportMWh || r.ExportMWh < p.base.ExportMWh {
		return p.fall(r, m, lim)
	}
	p.resetSince = time.Time{}
	elapsed := r.Time.Sub(p.base.At)
	if !p.noBound {
		for _, c := range [...]struct {
			q          Quantity
			seen, base int64
		}{{EnergyImport, r.ImportMWh, p.base.ImportMWh}, {EnergyExport, r.ExportMWh, p.base.ExportMWh}} {
			bound := c.base + riseBound(m, lim, elapsed, c.seen)
			if c.seen > bound {
				return &ImplausibleError{Quantity: c.q, Rule: RuleRise, SeenMWh: c.seen, BaseMWh: c.base, BoundMWh: bound, Elapsed: elapsed,
					Reason: fmt.Sprintf("counter rose from %d to %d mWh in %s; %.0f W × %.2f allows at most %d mWh",
						c.base, c.seen, elapsed.Round(time.Millisecond), lim.maxPowerW, PowerMargin, bound)}
			}
		}
	}
	if err := p.frozen(r, m); err != nil {
		return err
	}
	p.base = Baseline{Serial: p.base.Serial, ImportMWh: r.ImportMWh, ExportMWh: r.ExportMWh, At: r.Time}
	if idRead && r.Serial != "" {
		p.base.Serial = r.Serial
	}
	p.noBound = false
	return nil
}

// riseBound is how far a counter may rise in elapsed: rated power × margin × time, plus
// riseQuantumSteps steps of the counter's resolution at value mwh.
func riseBound(m *Model, lim limits, elapsed time.Duration, mwh int64) int64 {
	q := riseQuantumSteps * energyStep(m, mwh)
	if elapsed <= 0 {
		return q
	}
	b := lim.maxPowerW * PowerMargin * elapsed.Hours() * 1000
	if b > maxEnergyMWh {
		return maxEnergyMWh
	}
	return int64(math.Ceil(b)) + q
}

// frozen integrates the power readings while the counter stands still and reports a counter
// that stood still while at least max(3 steps, 100 Wh) should have been counted.
func (p *plausibility) frozen(r *Reading, m *Model) error {
	if r.ImportMWh != p.base.ImportMWh {
		p.expectedImpMWh = 0
	}
	if r.ExportMWh != p.base.ExportMWh {
		p.expectedExpMWh = 0
	}
	from := p.frozenAt
	if from.IsZero() || from.Before(p.base.At) {
		from = p.base.At
	}
	p.frozenAt = r.Time
	dt := r.Time.Sub(from).Hours()
	if dt <= 0 || from.IsZero() {
		return nil
	}
	for _, c := range [...]struct {
		q        Quantity
		seen     int64
		power    float64
		expected *float64
	}{{EnergyImport, r.ImportMWh, r.PowerW, &p.expectedImpMWh}, {EnergyExport, r.ExportMWh, -r.PowerW, &p.expectedExpMWh}} {
		if c.seen != p.baseOf(c.q) || c.power < frozenMinPowerW {
			continue
		}
		*c.expected += c.power * dt * 1000
		limit := math.Max(frozenWindow*float64(energyStep(m, c.seen)), minFrozenMWh)
		if *c.expected > limit {
			return &ImplausibleError{Quantity: c.q, Rule: RuleFrozen, SeenMWh: c.seen, BaseMWh: c.seen, BoundMWh: c.seen + int64(limit),
				Elapsed: r.Time.Sub(p.base.At),
				Reason:  fmt.Sprintf("counter frozen at %d mWh while %.0f W flow (%.0f mWh expected)", c.seen, c.power, *c.expected)}
		}
	}
	return nil
}

func (p *plausibility) baseOf(q Quantity) int64 {
	if q == EnergyExport {
		return p.base.ExportMWh
	}
	return p.base.ImportMWh
}

// fall handles counters below the baseline: implausible, and a counter reset once lower
// counters have been seen for lim.resetConfirm, each reading consistent with the one
// before (not lower, and not rising faster than the rise bound allows).
func (p *plausibility) fall(r *Reading, m *Model, lim limits) error {
	now := Baseline{Serial: p.base.Serial, ImportMWh: r.ImportMWh, ExportMWh: r.ExportMWh, At: r.Time}
	consistent := !p.resetSince.IsZero() &&
		r.ImportMWh >= p.resetLast.ImportMWh && r.ExportMWh >= p.resetLast.ExportMWh &&
		r.ImportMWh <= p.resetLast.ImportMWh+riseBound(m, lim, r.Time.Sub(p.resetLast.At), r.ImportMWh) &&
		r.ExportMWh <= p.resetLast.ExportMWh+riseBound(m, lim, r.Time.Sub(p.resetLast.At), r.ExportMWh)
	if !consistent {
		p.resetSince = r.Time
	}
	p.resetLast = now
	if held := r.Time.Sub(p.resetSince); consistent && held >= lim.resetConfirm {
		err := &CounterResetError{OldImportMWh: p.base.ImportMWh, NewImportMWh: r.ImportMWh,
			OldExportMWh: p.base.ExportMWh, NewExportMWh: r.ExportMWh, Consistent: held}
		serial := p.base.Serial
		p.adopt(r)
		if p.base.Serial == "" {
			p.base.Serial = serial
		}
		return err
	}
	q, old, seen := EnergyImport, p.base.ImportMWh, r.ImportMWh
	if r.ImportMWh >= p.base.ImportMWh {
		q, old, seen = EnergyExport, p.base.ExportMWh, r.ExportMWh
	}
	return &ImplausibleError{Quantity: q, Rule: RuleFall, SeenMWh: seen, BaseMWh: old, Elapsed: r.Time.Sub(p.base.At),
		Reason: fmt.Sprintf("counter went backwards from %d to %d mWh (lower for %s of the %s a reset must hold)",
			old, seen, r.Time.Sub(p.resetSince).Round(time.Millisecond), lim.resetConfirm)}
}

// regStats says whether every measurement register a poll read was 0x0000, or 0xFFFF.
type regStats struct {
	n           int
	zeros, ones bool
}

func (st *regStats) add(regs []uint16) {
	if st.n == 0 {
		st.zeros, st.ones = true, true
	}
	st.n += len(regs)
	for _, v := range regs {
		st.zeros = st.zeros && v == 0
		st.ones = st.ones && v == 0xFFFF
	}
}

// imageCheck rejects a poll in which every measurement register read 0x0000 or every one
// read 0xFFFF: a meter module that is absent, unpowered or lying, never a reading. All
// zeros are only rejected where a live meter cannot read them: the model measures voltage
// or frequency (a meter is powered by the mains it measures), or a baseline above zero
// exists (then it would also be a fall).
func imageCheck(st regStats, mod *Model, base *plausibility) error {
	if st.n == 0 {
		return nil
	}
	seenBase := int64(0)
	if base.haveBase {
		seenBase = base.base.ImportMWh
	}
	switch {
	case st.ones:
		return &ImplausibleError{Quantity: EnergyImport, Rule: RuleAllOnes, BaseMWh: seenBase, Reason: fmt.Sprintf("all %d measurement registers read 0xFFFF, the not-available marker", st.n)}
	case st.zeros && (hasField(mod, VoltageL1) || hasField(mod, Frequency) || (base.haveBase && (base.base.ImportMWh > 0 || base.base.ExportMWh > 0))):
		return &ImplausibleError{Quantity: EnergyImport, Rule: RuleAllZero, BaseMWh: seenBase, Reason: fmt.Sprintf("all %d measurement registers read 0x0000", st.n)}
	}
	return nil
}

func hasField(m *Model, q Quantity) bool {
	_, ok := m.field(q)
	return ok
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
		return max(int64(math.Ceil(ulp)), 1)
	}
	return 1000 // 1 Wh: Iskra and SunSpec integer meters at exponent 0
}
