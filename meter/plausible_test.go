package meter

import (
	"errors"
	"testing"
	"time"
)

// TestPlausibilityRules drives the energy rules step by step on a model with a 1 Wh counter
// and 11 kW rated power: rise bound, fall, reset confirmed by time, frozen counter.
func TestPlausibilityRules(t *testing.T) {
	m := &Model{Name: "test", EnergyStepMWh: 1000, RatedPowerW: 11000}
	lim := limits{maxPowerW: 11000, resetConfirm: time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		at    time.Duration // since t0
		imp   int64
		power float64
		want  string // ok, rise, fall, frozen, reset
	}
	// 11 kW × 1.25 for 1 s is 3,819.4 mWh; plus two 1 Wh steps: the bound is 5,820 mWh.
	tests := []struct {
		name  string
		steps []step
	}{
		{"rise within the bound", []step{{0, 5000, 0, "ok"}, {time.Second, 10_820, 0, "ok"}}},
		{"rise one mWh beyond the bound", []step{{0, 5000, 0, "ok"}, {time.Second, 10_821, 0, "rise"}}},
		{"a jump of 1,000 kWh is never billed", []step{{0, 5000, 0, "ok"}, {time.Second, 1_000_005_000, 0, "rise"}, {2 * time.Second, 1_000_005_000, 0, "rise"},
			{3 * time.Second, 12_000, 0, "ok"}}},
		{"the bound grows with the time since the last accepted reading", []step{{0, 5000, 0, "ok"}, {time.Second, 40_000, 0, "rise"}, {10 * time.Second, 40_000, 0, "ok"}}},
		{"one glitch keeps the baseline", []step{{0, 5000, 0, "ok"}, {time.Second, 100, 0, "fall"}, {2 * time.Second, 5000, 0, "ok"}, {3 * time.Second, 6000, 0, "ok"}}},
		{"three agreeing polls are not a reset", []step{{0, 5000, 0, "ok"}, {time.Second, 10, 0, "fall"}, {2 * time.Second, 20, 0, "fall"}, {3 * time.Second, 30, 0, "fall"}}},
		{"lower for ResetConfirm is a reset", []step{{0, 5000, 0, "ok"}, {time.Second, 10, 0, "fall"}, {31 * time.Second, 20, 0, "fall"},
			{61 * time.Second, 30, 0, "reset"}, {62 * time.Second, 40, 0, "ok"}}},
		{"disagreeing lower polls start over", []step{{0, 5000, 0, "ok"}, {time.Second, 10, 0, "fall"}, {40 * time.Second, 5, 0, "fall"},
			{61 * time.Second, 12, 0, "fall"}, {100 * time.Second, 13, 0, "reset"}}},
		{"a jump among lower polls starts over", []step{{0, 5_000_000, 0, "ok"}, {time.Second, 10, 0, "fall"}, {40 * time.Second, 4_000_000, 0, "fall"},
			{61 * time.Second, 4_000_001, 0, "fall"}, {100 * time.Second, 4_000_002, 0, "reset"}}},
		{"rollover to zero", []step{{0, 999_999_000, 0, "ok"}, {time.Second, 0, 0, "fall"}, {70 * time.Second, 0, 0, "reset"}, {71 * time.Second, 1000, 0, "ok"}}},
		{"frozen while 11 kW flow", []step{{0, 5000, 11000, "ok"}, {10 * time.Second, 5000, 11000, "ok"}, {20 * time.Second, 5000, 11000, "ok"},
			{30 * time.Second, 5000, 11000, "ok"}, {40 * time.Second, 5000, 11000, "frozen"}, {41 * time.Second, 5000, 11000, "frozen"},
			{42 * time.Second, 6000, 11000, "ok"}}},
		{"standing still without power is fine", []step{{0, 5000, 50, "ok"}, {time.Hour, 5000, 50, "ok"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p plausibility
			for i, s := range tt.steps {
				r := &Reading{Time: t0.Add(s.at), Serial: "1", ImportMWh: s.imp, PowerW: s.power}
				before := p.base
				err := p.check(r, m, lim, true)
				var reset *CounterResetError
				var imp *ImplausibleError
				got := "ok"
				switch {
				case errors.As(err, &reset):
					got = "reset"
				case errors.As(err, &imp):
					got = string(imp.Rule)
				case err != nil:
					t.Fatalf("step %d: unexpected error %v", i, err)
				}
				if got != s.want {
					t.Fatalf("step %d (%d mWh): got %s (%v), want %s", i, s.imp, got, err, s.want)
				}
				if imp != nil && p.base != before {
					t.Fatalf("step %d: implausible reading moved the baseline %+v → %+v", i, before, p.base)
				}
				if imp != nil && imp.SeenMWh != s.imp {
					t.Fatalf("step %d: error says %d mWh seen, want %d", i, imp.SeenMWh, s.imp)
				}
				if got == "reset" && (reset.NewImportMWh != s.imp || reset.Consistent < lim.resetConfirm) {
					t.Fatalf("reset = %+v, want new import %d after ≥ %s", reset, s.imp, lim.resetConfirm)
				}
			}
		})
	}
}

// TestSeededBaseline: a baseline from outside catches a fall on the very first reading, and
// a seed without a time bounds no rise.
func TestSeededBaseline(t *testing.T) {
	m := &Model{Name: "test", EnergyStepMWh: 1000}
	lim := limits{maxPowerW: 11000, resetConfirm: time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var p plausibility
	p.seed(Baseline{Serial: "1", ImportMWh: 7_000_000, At: t0})
	err := p.check(&Reading{Time: t0.Add(time.Hour), Serial: "1", ImportMWh: 5_000_000}, m, lim, true)
	var imp *ImplausibleError
	if !errors.As(err, &imp) || imp.Rule != RuleFall || imp.BaseMWh != 7_000_000 {
		t.Fatalf("fall after seed: %v", err)
	}
	err = p.check(&Reading{Time: t0.Add(time.Hour), Serial: "2", ImportMWh: 0}, m, lim, true)
	var repl *ReplacementError
	if !errors.As(err, &repl) || repl.OldSerial != "1" || repl.NewSerial != "2" {
		t.Fatalf("serial change after seed: %v", err)
	}
	p.seed(Baseline{Serial: "1", ImportMWh: 7_000_000})
	if err := p.check(&Reading{Time: t0, Serial: "1", ImportMWh: 9_000_000}, m, lim, true); err != nil {
		t.Fatalf("seed without time bounded the rise: %v", err)
	}
	if err := p.check(&Reading{Time: t0.Add(time.Second), Serial: "1", ImportMWh: 19_000_000}, m, lim, true); !errors.Is(err, ErrImplausible) {
		t.Fatalf("the second rise was not bounded: %v", err)
	}
}
