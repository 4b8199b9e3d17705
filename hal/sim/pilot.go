package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/pilot"
)

// Resistances of the vehicle side of the control pilot (IEC 61851-1 Annex
// A, Table A.3 / TI reference design JAJU858 Table 2-3) and the EVSE's
// source resistor.
const (
	// R1 is the EVSE's source resistor.
	R1 = 1000.0
	// R2 is the vehicle's resistor once connected (state B).
	R2 = 2740.0
	// R3C is added in parallel to ask for energy (state C).
	R3C = 1300.0
	// R3D is added in parallel to ask for energy with ventilation (state D).
	R3D = 270.0
	// diodeDrop is the forward voltage of the vehicle's diode.
	diodeDrop = 0.7
	// supply is the EVSE's ±12 V.
	supply = 12.0
)

// DefaultReact is how long the simulated vehicle takes to answer a change
// of the offer (or of its driver's wish) by closing or opening S2.
const DefaultReact = 50 * time.Millisecond

// VehicleOptions tune a simulated vehicle.
type VehicleOptions struct {
	// React is the delay before S2 follows a change (0: DefaultReact).
	React time.Duration
	// Stubborn makes the vehicle ignore a withdrawn offer: it keeps
	// requesting (state C) at 100 % duty until unplugged or told to stop,
	// as a broken vehicle would; the EVSE must then open under load.
	Stubborn bool
}

// Vehicle is a simulated electric vehicle at the end of the charging cable.
// Its driver plugs it in (state B), asks for energy (the vehicle closes S2
// — state C, or D with ventilation — once a current of at least 6 A is
// offered, and opens it again when the offer is withdrawn) and unplugs it.
// Faults: RemoveDiode (the diode check must catch it) and Short (CP to PE,
// state E). It is safe for concurrent use.
type Vehicle struct {
	react    time.Duration
	stubborn bool

	mu          sync.Mutex
	plugged     bool
	want        bool
	ventilation bool
	noDiode     bool
	shorted     bool
	offer       physic.ElectricCurrent // what the EVSE offers now
	s2          bool
	changedAt   time.Time // last change of an input S2 follows
}

// NewVehicle returns an unplugged vehicle.
func NewVehicle(opts VehicleOptions) *Vehicle {
	if opts.React <= 0 {
		opts.React = DefaultReact
	}
	return &Vehicle{react: opts.React, stubborn: opts.Stubborn}
}

// Plug connects the cable (state B).
func (v *Vehicle) Plug() { v.set(func() { v.plugged = true }) }

// Unplug pulls the cable, at once: S2 opens with it.
func (v *Vehicle) Unplug() {
	v.set(func() { v.plugged, v.s2 = false, false })
}

// Request sets the driver's wish to charge; the vehicle closes S2 once a
// current is offered and opens it when the wish ends.
func (v *Vehicle) Request(on bool) { v.set(func() { v.want = on }) }

// Ventilation makes the vehicle ask for ventilation (state D instead of C).
func (v *Vehicle) Ventilation(on bool) { v.set(func() { v.ventilation = on }) }

// RemoveDiode takes the diode out of the vehicle's CP circuit (or puts it
// back): the negative half of the PWM then passes.
func (v *Vehicle) RemoveDiode(removed bool) { v.set(func() { v.noDiode = removed }) }

// Short shorts CP to PE (state E) or removes the short.
func (v *Vehicle) Short(on bool) { v.set(func() { v.shorted = on }) }

// Offer tells the vehicle what the EVSE offers (the ControlPilot line does
// it on every duty change; an EVSE controller simulator on every change of
// its limit).
func (v *Vehicle) Offer(current physic.ElectricCurrent) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if current != v.offer {
		v.advanceLocked(time.Now())
		v.offer = current
		v.changedAt = time.Now()
	}
}

func (v *Vehicle) set(f func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.advanceLocked(time.Now())
	f()
	v.changedAt = time.Now()
}

// advanceLocked lets S2 follow its inputs once React has passed since they
// changed.
func (v *Vehicle) advanceLocked(now time.Time) {
	want := v.plugged && v.want && (v.offer >= hal.MinCurrent || (v.stubborn && v.s2))
	if want != v.s2 && now.Sub(v.changedAt) >= v.react {
		v.s2 = want
	}
}

// State is the control-pilot state the vehicle presents now.
func (v *Vehicle) State() hal.CPState {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.advanceLocked(time.Now())
	return v.stateLocked()
}

func (v *Vehicle) stateLocked() hal.CPState {
	switch {
	case v.shorted:
		return hal.CPStateE
	case !v.plugged:
		return hal.CPStateA
	case !v.s2:
		return hal.CPStateB
	case v.ventilation:
		return hal.CPStateD
	}
	return hal.CPStateC
}

// Drawing is the current the vehicle draws when its contactor is closed:
// the offer while it requests, else nothing.
func (v *Vehicle) Drawing() physic.ElectricCurrent {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.advanceLocked(time.Now())
	if !v.stateLocked().Requesting() {
		return 0
	}
	return v.offer
}

// levels returns the CP line's levels (volts) at the EVSE, after R1, for a
// source at +12 V (hi) and −12 V (lo).
func (v *Vehicle) levels() (hi, lo float64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.advanceLocked(time.Now())
	if v.shorted {
		return 0, 0
	}
	if !v.plugged {
		return supply, -supply
	}
	r := R2
	if v.s2 {
		r3 := R3C
		if v.ventilation {
			r3 = R3D
		}
		r = R2 * r3 / (R2 + r3)
	}
	if v.noDiode {
		return supply * r / (R1 + r), -supply * r / (R1 + r)
	}
	return diodeDrop + (supply-diodeDrop)*r/(R1+r), -supply
}

// PilotOptions tune a simulated control-pilot line.
type PilotOptions struct {
	// Noise is the peak noise added to every measured level (0: none).
	Noise physic.ElectricPotential
	// Seed seeds the noise (0: 1).
	Seed uint64
}

// ErrADC is what a measurement fails with after FailSamples.
var ErrADC = errors.New("simulated ADC: i2c transfer failed")

// ControlPilot is the simulated CP line between an EVSE and a Vehicle: its
// PWM output pin (a gpio.PinOut for hal/pilot) and its measurement (a
// pilot.Sampler): the levels follow the duty cycle on the pin and the
// vehicle's resistors and diode, with optional noise. FailSamples and
// FailPWM make the converter and the output fail like hardware. It is safe
// for concurrent use.
type ControlPilot struct {
	v *Vehicle

	mu        sync.Mutex
	duty      gpio.Duty
	freq      physic.Frequency
	noise     float64
	rng       *rand.Rand
	failN     int
	failErr   error
	pwmErr    error
	onChanged []func(gpio.Duty)
}

// NewControlPilot returns the line to v, with the PWM pin at 0 (−12 V).
func NewControlPilot(v *Vehicle, opts PilotOptions) *ControlPilot {
	seed := opts.Seed
	if seed == 0 {
		seed = 1
	}
	return &ControlPilot{v: v, noise: float64(opts.Noise) / float64(physic.Volt), rng: rand.New(rand.NewPCG(seed, 0xc9))}
}

// Vehicle returns the vehicle on the line.
func (c *ControlPilot) Vehicle() *Vehicle { return c.v }

// Duty is the duty cycle on the line now.
func (c *ControlPilot) Duty() gpio.Duty {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.duty
}

// OnDuty registers f to be called with every new duty cycle (synchronously,
// inside the pin's PWM call).
func (c *ControlPilot) OnDuty(f func(gpio.Duty)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onChanged = append(c.onChanged, f)
}

// FailSamples makes the next n measurements fail with ErrADC.
func (c *ControlPilot) FailSamples(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failN = n
}

// FailPWM makes every PWM write fail with err until FailPWM(nil); the line
// keeps the last duty cycle, as a stuck timer would.
func (c *ControlPilot) FailPWM(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pwmErr = err
}

// Sample implements pilot.Sampler: the top and bottom of the waveform at
// the EVSE, as two peak detectors would hold them.
func (c *ControlPilot) Sample(ctx context.Context) (pilot.Levels, error) {
	if err := ctx.Err(); err != nil {
		return pilot.Levels{}, err
	}
	c.mu.Lock()
	if c.failN > 0 {
		c.failN--
		c.mu.Unlock()
		return pilot.Levels{}, ErrADC
	}
	duty := c.duty
	n1, n2 := c.noiseLocked(), c.noiseLocked()
	c.mu.Unlock()
	hi, lo := c.v.levels()
	switch duty {
	case 0:
		hi = lo
	case gpio.DutyMax:
		lo = hi
	}
	return pilot.Levels{High: volts(hi + n1), Low: volts(lo + n2)}, nil
}

func (c *ControlPilot) noiseLocked() float64 {
	if c.noise == 0 {
		return 0
	}
	return (c.rng.Float64()*2 - 1) * c.noise
}

func volts(v float64) physic.ElectricPotential {
	return physic.ElectricPotential(v * float64(physic.Volt))
}

// PWMPin returns the line's PWM output pin, named "CP_PWM".
func (c *ControlPilot) PWMPin() gpio.PinOut { return &cpPin{PinIO: gpio.INVALID, c: c} }

// cpPin is the PWM output; everything but output fails like gpio.INVALID.
type cpPin struct {
	gpio.PinIO
	c *ControlPilot
}

func (p *cpPin) String() string   { return "CP_PWM" }
func (p *cpPin) Name() string     { return "CP_PWM" }
func (p *cpPin) Number() int      { return 100 }
func (p *cpPin) Function() string { return string(p.Func()) }
func (p *cpPin) Func() pin.Func   { return gpio.OUT }
func (p *cpPin) Halt() error      { return p.PWM(0, 0) }

// Out implements gpio.PinOut: a steady level (High: +12 V, Low: −12 V).
func (p *cpPin) Out(l gpio.Level) error {
	if l {
		return p.PWM(gpio.DutyMax, 0)
	}
	return p.PWM(0, 0)
}

// PWM implements gpio.PinOut. A running PWM must be at pilot.Frequency.
func (p *cpPin) PWM(d gpio.Duty, f physic.Frequency) error {
	c := p.c
	c.mu.Lock()
	if c.pwmErr != nil {
		err := c.pwmErr
		c.mu.Unlock()
		return fmt.Errorf("CP_PWM: %w", err)
	}
	if !d.Valid() {
		c.mu.Unlock()
		return fmt.Errorf("CP_PWM: duty %d out of range", d)
	}
	if d > 0 && d < gpio.DutyMax && f != pilot.Frequency {
		c.mu.Unlock()
		return fmt.Errorf("CP_PWM: frequency %s, the control pilot runs at %s", f, pilot.Frequency)
	}
	changed := d != c.duty
	c.duty, c.freq = d, f
	hooks := c.onChanged
	c.mu.Unlock()
	if changed {
		offer, kind := pilot.CurrentForDuty(d)
		if kind != pilot.OfferCurrent {
			offer = 0
		}
		c.v.Offer(offer)
		for _, h := range hooks {
			h(d)
		}
	}
	return nil
}
