package periph

import (
	"context"
	"errors"
	"testing"

	"periph.io/x/conn/v3/analog"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/host/v3/bcm283x"
)

// adcInput stands in for one ADS1115 input (hardware): it returns the
// given readings in turn, then fails.
type adcInput struct {
	v   []physic.ElectricPotential
	err error
}

func (a *adcInput) Read() (analog.Sample, error) {
	if len(a.v) == 0 {
		return analog.Sample{}, a.err
	}
	v := a.v[0]
	a.v = a.v[1:]
	return analog.Sample{V: v, Raw: int32(v / physic.MilliVolt)}, nil
}

// TestPilotADCScales: the reference front end's 1/4 divider and −1/4
// inverter map the peak detectors' 2.25 V and 3.0 V back to +9 V and −12 V
// (state B with its diode).
func TestPilotADCScales(t *testing.T) {
	mv := physic.MilliVolt
	p := NewPilotADC(&adcInput{v: []physic.ElectricPotential{2250 * mv}}, &adcInput{v: []physic.ElectricPotential{3000 * mv}}, ADCConfig{})
	lv, err := p.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if lv.High != 9000*mv || lv.Low != -12000*mv {
		t.Fatalf("levels %v / %v, want 9 V / −12 V", lv.High, lv.Low)
	}
}

// TestPilotADCSamples: with several readings per measurement the highest
// high and the lowest low are kept; a failed reading fails the measurement
// with the input named.
func TestPilotADCSamples(t *testing.T) {
	mv := physic.MilliVolt
	hi := &adcInput{v: []physic.ElectricPotential{100 * mv, 2250 * mv, 1500 * mv}, err: errors.New("i2c nack")}
	lo := &adcInput{v: []physic.ElectricPotential{-2250 * mv, 3000 * mv, 0}}
	p := NewPilotADC(hi, lo, ADCConfig{Samples: 3})
	lv, err := p.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if lv.High != 9000*mv || lv.Low != -12000*mv {
		t.Fatalf("levels %v / %v, want 9 V / −12 V", lv.High, lv.Low)
	}
	if _, err := p.Sample(context.Background()); err == nil || err.Error() != "read cp high level: i2c nack" {
		t.Fatalf("failed reading: %v", err)
	}
}

// TestPWMPinRefuses: only GPIO13 and GPIO19 (PWM1) are accepted, and only
// on a BCM283x (off a Raspberry Pi, GPIO13 is refused too).
func TestPWMPinRefuses(t *testing.T) {
	for _, name := range []string{"GPIO17", "GPIO12", "GPIO13"} {
		_, err := PWMPin(name)
		if name == "GPIO13" && bcm283x.Present() {
			if err != nil {
				t.Errorf("%s on a BCM283x: %v", name, err)
			}
			continue
		}
		if !errors.Is(err, ErrNoPWM) {
			t.Errorf("%s: %v, want ErrNoPWM", name, err)
		}
	}
}
