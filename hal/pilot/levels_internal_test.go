package pilot

import (
	"testing"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/hal"
)

// TestClassify checks the bands of IEC 61851-1 Table A.4 and the hysteresis
// in the gaps, with the cases of chargebyte's unit test for the same
// function (unittest-voltage_to_state.cpp).
func TestClassify(t *testing.T) {
	A, B, C, D, E, F := hal.CPStateA, hal.CPStateB, hal.CPStateC, hal.CPStateD, hal.CPStateE, hal.CPStateF
	for _, tc := range []struct {
		mv         int64
		prev, want hal.CPState
	}{
		{13001, A, invalid}, {13000, A, A}, {12000, B, A}, {11000, C, A},
		{10500, A, A}, {10500, B, B}, {10500, C, B}, // gap A/B keeps A
		{9000, A, B}, {8000, C, B},
		{7500, A, B}, {7500, B, B}, {7500, C, C}, {7500, D, C}, // gap B/C
		{6000, B, C}, {5000, D, C},
		{4500, C, C}, {4500, B, C}, {4500, D, D}, {4500, E, D}, // gap C/D
		{3000, C, D}, {2000, C, D},
		{1999, D, E}, {0, A, E}, {-1000, C, E},
		{-1500, C, E}, {-1500, F, invalid}, // −2…−1 V: E only for a line that was fine
		{-5000, C, invalid}, {-10000, F, invalid},
		{-10500, F, F}, {-10500, B, invalid},
		{-12000, A, F}, {-13000, A, F}, {-13001, F, invalid},
	} {
		if got := classify(physic.ElectricPotential(tc.mv)*mV, tc.prev); got != tc.want {
			t.Errorf("%d mV after %s: %s, want %s", tc.mv, tc.prev, got, tc.want)
		}
	}
}

// FuzzClassify: any level after any state gives a state of Table A.4 or
// invalid, and a level inside a band's core (outside the hysteresis gaps)
// gives that band's state whatever came before.
func FuzzClassify(f *testing.F) {
	f.Add(int64(9000), uint8(1))
	f.Add(int64(-10500), uint8(6))
	f.Add(int64(1<<40), uint8(0))
	f.Fuzz(func(t *testing.T, mv int64, prev uint8) {
		v := physic.ElectricPotential(mv) * mV
		got := classify(v, hal.CPState(prev))
		if got != invalid && (got < hal.CPStateA || got > hal.CPStateF) {
			t.Fatalf("%d mV after %d: %d", mv, prev, got)
		}
		for _, core := range []struct {
			lo, hi int64
			want   hal.CPState
		}{{11000, 13000, hal.CPStateA}, {8000, 9999, hal.CPStateB}, {5000, 6999, hal.CPStateC}, {2000, 3999, hal.CPStateD}, {-1000, 1999, hal.CPStateE}, {-13000, -11001, hal.CPStateF}} {
			if mv >= core.lo && mv <= core.hi && got != core.want {
				t.Fatalf("%d mV after %d: %s, want %s", mv, prev, got, core.want)
			}
		}
	})
}
