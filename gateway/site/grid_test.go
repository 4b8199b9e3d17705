package site_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/gateway/site"
	"github.com/chargegate/chargegate/meter"
)

// TestGridFromReading: a line's signed current is its power over its voltage (export
// negative); a model without per-phase power gives its unsigned currents; readings that
// are not ok, or have neither, are refused.
func TestGridFromReading(t *testing.T) {
	for _, tc := range []struct {
		r       meter.Reading
		want    string
		wantErr error
	}{
		{meter.Reading{Status: meter.StatusOK, PowerW: -2300, PhasePowerW: []float64{-2300, 0, 0}, VoltageV: []float64{230, 230, 230}}, "[-10 0 0] -2300", nil},
		{meter.Reading{PowerW: 4600, PhasePowerW: []float64{4600}, VoltageV: []float64{230}}, "[20] 4600", nil},
		{meter.Reading{PowerW: 690, CurrentA: []float64{1, 1, 1}}, "[1 1 1] 690", nil},
		{meter.Reading{PowerW: 690}, "", site.ErrNoGridValues},
		{meter.Reading{Status: meter.StatusImplausible, CurrentA: []float64{1}}, "", nil},
		{meter.Reading{PhasePowerW: []float64{100}, VoltageV: []float64{0}}, "", nil},
	} {
		g, err := site.GridFromReading(tc.r)
		if tc.want == "" {
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("%+v: %v, %v; want an error %v", tc.r, g, err, tc.wantErr)
			}
			continue
		}
		if got := fmt.Sprint(g.Lines, " ", g.PowerW); err != nil || got != tc.want {
			t.Errorf("%+v: %s, %v; want %s", tc.r, got, err, tc.want)
		}
	}
}

type nopSetter struct{}

func (nopSetter) SetCurrent(context.Context, physic.ElectricCurrent) error { return nil }

// TestNewLoopRefuses: a site limit without a grid meter, an EVSE without a current control,
// or a current control for an EVSE not configured.
func TestNewLoopRefuses(t *testing.T) {
	m, err := site.New(site.Config{EVSEs: twoEVSEs(), SiteLimit: 32 * A})
	if err != nil {
		t.Fatal(err)
	}
	both := map[uint8]site.Setter{1: nopSetter{}, 2: nopSetter{}}
	if _, err := site.NewLoop(m, nil, both, site.LoopConfig{}); err == nil {
		t.Error("site limit without a grid meter accepted")
	}
	m2, _ := site.New(site.Config{EVSEs: twoEVSEs()})
	if _, err := site.NewLoop(m2, nil, map[uint8]site.Setter{1: nopSetter{}}, site.LoopConfig{}); err == nil {
		t.Error("an EVSE without a current control accepted")
	}
	if _, err := site.NewLoop(m2, nil, map[uint8]site.Setter{1: nopSetter{}, 2: nopSetter{}, 3: nopSetter{}}, site.LoopConfig{}); err == nil {
		t.Error("a current control for EVSE 3 accepted")
	}
	if _, err := site.NewLoop(m2, nil, both, site.LoopConfig{}); err != nil {
		t.Error(err)
	}
}
