package meter

import (
	"errors"
	"testing"
	"time"
)

func TestCounterResetNeedsConsecutiveConfirmation(t *testing.T) {
	m := &Model{Name: "test", EnergyStepMWh: 1000}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reading := func(i int, imp int64) *Reading {
		return &Reading{Time: t0.Add(time.Duration(i) * time.Second), Serial: "1", ImportMWh: imp}
	}
	type step struct {
		imp  int64
		want string // ok, implausible, reset
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"one glitch keeps the baseline", []step{{5000, "ok"}, {100, "implausible"}, {5000, "ok"}, {6000, "ok"}}},
		{"three agreeing polls are a reset", []step{{5000, "ok"}, {10, "implausible"}, {20, "implausible"}, {30, "reset"}, {40, "ok"}}},
		{"disagreeing backwards polls start over", []step{{5000, "ok"}, {10, "implausible"}, {5, "implausible"}, {12, "implausible"}, {13, "reset"}}},
		{"rollover to zero", []step{{999_999_000, "ok"}, {0, "implausible"}, {0, "implausible"}, {0, "reset"}, {1000, "ok"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p plausibility
			for i, s := range tt.steps {
				err := p.check(reading(i, s.imp), m)
				var reset *CounterResetError
				got := "ok"
				switch {
				case errors.As(err, &reset):
					got = "reset"
				case errors.Is(err, ErrImplausible):
					got = "implausible"
				case err != nil:
					t.Fatalf("step %d: unexpected error %v", i, err)
				}
				if got != s.want {
					t.Fatalf("step %d (%d mWh): got %s (%v), want %s", i, s.imp, got, err, s.want)
				}
				if got == "reset" && reset.NewImportMWh != s.imp {
					t.Fatalf("reset to %d, want %d", reset.NewImportMWh, s.imp)
				}
			}
		})
	}
}
