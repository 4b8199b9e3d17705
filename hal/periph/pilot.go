package periph

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"periph.io/x/conn/v3/analog"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/ads1x15"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/bcm283x"

	"github.com/chargegate/chargegate/hal/pilot"
)

// ErrNoPWM means the name is not a hardware PWM pin this package drives.
var ErrNoPWM = errors.New("not a hardware PWM pin (GPIO13 or GPIO19 on a BCM283x Raspberry Pi)")

// PWMPin returns a hardware PWM output for the control pilot: GPIO13 or
// GPIO19, the BCM283x's PWM1 channel (Raspberry Pi 1–4), clocked from
// 25 MHz, so a 1 kHz period has 25 000 steps (0.004 % of duty). periph's
// bcm283x driver programs the PWM block through /dev/mem, which needs
// root; the Raspberry Pi 5 (RP1) is not a BCM283x and is refused. PWM0
// (GPIO12/18) is refused too: periph uses it as the DMA clock.
//
// Call Open first (it runs host.Init). The pin is shared with the audio
// output: disable dtparam=audio in config.txt.
func PWMPin(name string) (gpio.PinOut, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("init periph host drivers: %w", err)
	}
	var p *bcm283x.Pin
	switch name {
	case "GPIO13":
		p = bcm283x.GPIO13
	case "GPIO19":
		p = bcm283x.GPIO19
	default:
		return nil, fmt.Errorf("pwm pin %q: %w", name, ErrNoPWM)
	}
	if !bcm283x.Present() {
		return nil, fmt.Errorf("pwm pin %q: %w: no BCM283x found", name, ErrNoPWM)
	}
	return p, nil
}

// ADCConfig describes the control-pilot front end on an ADS1115.
type ADCConfig struct {
	// Bus is the I²C bus name for i2creg.Open ("" = the first, /dev/i2c-1
	// on a Raspberry Pi).
	Bus string
	// Addr is the ADS1115's address (default 0x48: ADDR to GND).
	Addr uint16
	// High and Low are the single-ended inputs (0–3) of the positive and
	// negative peak detectors (default 0 and 1).
	High, Low int
	// HighScale and LowScale turn an input voltage into the CP voltage:
	// CP = Scale × V. The reference front end divides +12 V to +3 V (4)
	// and inverts −12 V to +3 V (−4); those are the defaults.
	HighScale, LowScale float64
	// Samples is the number of readings per measurement, the highest high
	// and the lowest low kept (default 1, right for peak detectors; a front
	// end without them needs several per measurement and luck).
	Samples int
}

// PilotADC measures the control pilot through two ADC inputs. It
// implements pilot.Sampler.
type PilotADC struct {
	high, low  Reader
	hiS, loS   float64
	samples    int
	mu         sync.Mutex // one conversion at a time
	closeFuncs []func() error
}

// Reader is one ADC input: ads1x15's analog pins satisfy it.
type Reader interface {
	Read() (analog.Sample, error)
}

// OpenPilotADC opens the I²C bus and the ADS1115 (periph.io's ads1x15
// driver) and returns the control pilot's sampler: each input is read
// single-shot at 860 samples/s (about 1.2 ms a conversion) with the gain
// for ±4.096 V. Call Open first (it runs host.Init).
func OpenPilotADC(cfg ADCConfig) (*PilotADC, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("init periph host drivers: %w", err)
	}
	if cfg.Addr == 0 {
		cfg.Addr = ads1x15.I2CAddr
	}
	if cfg.High == 0 && cfg.Low == 0 {
		cfg.Low = 1
	}
	if cfg.High < 0 || cfg.High > 3 || cfg.Low < 0 || cfg.Low > 3 || cfg.High == cfg.Low {
		return nil, fmt.Errorf("open pilot adc: inputs %d and %d: want two different inputs 0–3", cfg.High, cfg.Low)
	}
	bus, err := i2creg.Open(cfg.Bus)
	if err != nil {
		return nil, fmt.Errorf("open pilot adc: open i2c bus %q: %w", cfg.Bus, err)
	}
	adc, err := ads1x15.NewADS1115(bus, &ads1x15.Opts{I2cAddress: cfg.Addr})
	if err != nil {
		bus.Close()
		return nil, fmt.Errorf("open pilot adc: ads1115 at 0x%02x: %w", cfg.Addr, err)
	}
	channels := [...]ads1x15.Channel{ads1x15.Channel0, ads1x15.Channel1, ads1x15.Channel2, ads1x15.Channel3}
	pin := func(in int) (ads1x15.PinADC, error) {
		return adc.PinForChannel(channels[in], 4096*physic.MilliVolt, 860*physic.Hertz, ads1x15.SaveEnergy)
	}
	hi, err := pin(cfg.High)
	if err != nil {
		bus.Close()
		return nil, fmt.Errorf("open pilot adc: input %d: %w", cfg.High, err)
	}
	lo, err := pin(cfg.Low)
	if err != nil {
		bus.Close()
		return nil, fmt.Errorf("open pilot adc: input %d: %w", cfg.Low, err)
	}
	p := NewPilotADC(hi, lo, cfg)
	p.closeFuncs = []func() error{hi.Halt, lo.Halt, bus.Close}
	return p, nil
}

// NewPilotADC returns a sampler on two ADC inputs with cfg's scales and
// sample count (Bus, Addr and the input numbers are not used).
func NewPilotADC(high, low Reader, cfg ADCConfig) *PilotADC {
	if cfg.HighScale == 0 {
		cfg.HighScale = 4
	}
	if cfg.LowScale == 0 {
		cfg.LowScale = -4
	}
	if cfg.Samples <= 0 {
		cfg.Samples = 1
	}
	return &PilotADC{high: high, low: low, hiS: cfg.HighScale, loS: cfg.LowScale, samples: cfg.Samples}
}

// Sample implements pilot.Sampler: Samples readings of each input, the
// highest CP voltage of the high input and the lowest of the low one.
func (p *PilotADC) Sample(ctx context.Context) (pilot.Levels, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var lv pilot.Levels
	for i := range p.samples {
		if err := ctx.Err(); err != nil {
			return pilot.Levels{}, err
		}
		h, err := p.high.Read()
		if err != nil {
			return pilot.Levels{}, fmt.Errorf("read cp high level: %w", err)
		}
		l, err := p.low.Read()
		if err != nil {
			return pilot.Levels{}, fmt.Errorf("read cp low level: %w", err)
		}
		hv, lv1 := scale(h.V, p.hiS), scale(l.V, p.loS)
		if i == 0 || hv > lv.High {
			lv.High = hv
		}
		if i == 0 || lv1 < lv.Low {
			lv.Low = lv1
		}
	}
	return lv, nil
}

func scale(v physic.ElectricPotential, s float64) physic.ElectricPotential {
	return physic.ElectricPotential(float64(v) * s)
}

// Close halts the ADC inputs and closes the bus (when opened by
// OpenPilotADC).
func (p *PilotADC) Close() error {
	var errs []error
	for _, f := range p.closeFuncs {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}
