package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/site"
	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/heidelberg"
	halperiph "github.com/chargegate/chargegate/hal/periph"
	"github.com/chargegate/chargegate/hal/pilot"
	halsim "github.com/chargegate/chargegate/hal/sim"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/meter"
)

// control is an EVSE's current control (hal.CurrentControl): the control pilot or a Heidelberg
// Energy Control, and on the simulated board the vehicle behind the pilot.
type control struct {
	cc      hal.CurrentControl
	pilot   *pilot.Pilot           // backend pilot
	adc     *halperiph.PilotADC    // the pilot's ADC on real hardware
	vehicle *halsim.Vehicle        // the simulated vehicle (hal.backend sim)
	heid    *heidelberg.Controller // backend heidelberg
	changed chan struct{}          // the pilot's state changed (gateway.Pilot)
}

// State implements gateway.Pilot.
func (c *control) State(ctx context.Context) (hal.ControlState, error) { return c.cc.State(ctx) }

// Changed implements gateway.Pilot.
func (c *control) Changed() <-chan struct{} { return c.changed }

// amps turns the file's amperes into physic's unit, rounded to the milliampere.
func amps(a float64) physic.ElectricCurrent {
	return physic.ElectricCurrent(math.Round(a*1000)) * physic.MilliAmpere
}

// ampsOf is the inverse of amps.
func ampsOf(c physic.ElectricCurrent) float64 { return float64(c) / float64(physic.Ampere) }

// openControls opens every EVSE's current control (evses[i].current_control).
func (a *App) openControls(ctx context.Context) error {
	for _, p := range a.points {
		cc := p.cfg.CurrentControl
		switch cc.Backend {
		case "pilot":
			c := &control{changed: make(chan struct{}, 1)}
			var out gpio.PinOut
			var in pilot.Sampler
			if a.cfg.HAL.Backend == "sim" {
				c.vehicle = halsim.NewVehicle(halsim.VehicleOptions{})
				line := halsim.NewControlPilot(c.vehicle, halsim.PilotOptions{})
				out, in = line.PWMPin(), line
				if p.load != nil {
					// The simulated vehicle draws what the pilot offers: metersim's load
					// follows the duty cycle (its power ramps like a vehicle's).
					load := p.load
					line.OnDuty(func(d gpio.Duty) {
						cur, kind := pilot.CurrentForDuty(d)
						if kind != pilot.OfferCurrent {
							cur = 0
						}
						load.Setpoint(ampsOf(cur))
					})
				}
			} else {
				var err error
				if out, err = halperiph.PWMPin(cc.PWM); err != nil {
					return fmt.Errorf("evse %d: pilot: %w", p.n, err)
				}
				adcCfg, err := parseADC(cc.ADC)
				if err != nil {
					return fmt.Errorf("evse %d: pilot: %w", p.n, err)
				}
				if c.adc, err = halperiph.OpenPilotADC(adcCfg); err != nil {
					return fmt.Errorf("evse %d: pilot: %w", p.n, err)
				}
				in = c.adc
			}
			pl, err := pilot.New(pilot.Config{Max: amps(p.cfg.MaxCurrent), Ventilation: cc.Ventilation}, out, in, p.board,
				a.log.With("part", "pilot", "evse", p.n))
			if err != nil {
				return fmt.Errorf("evse %d: pilot: %w", p.n, err)
			}
			c.pilot, c.cc = pl, pl
			p.ctl = c
		case "heidelberg":
			hb, err := heidelberg.Open(ctx, heidelberg.Config{URL: cc.URL, Unit: cc.Unit}, a.log.With("part", "heidelberg", "evse", p.n))
			if err != nil {
				return fmt.Errorf("evse %d: heidelberg: %w", p.n, err)
			}
			p.ctl = &control{cc: hb, heid: hb}
		}
	}
	return nil
}

// parseADC reads current_control.adc: "BUS@ADDR", the I²C bus (as i2creg names it:
// /dev/i2c-1, or "" for the first) and the ADS1115's address; inputs 0 and 1 carry the
// positive and negative peak detectors (hal/periph ADCConfig).
func parseADC(s string) (halperiph.ADCConfig, error) {
	bus, addr, ok := strings.Cut(s, "@")
	if !ok {
		return halperiph.ADCConfig{}, fmt.Errorf("adc %q: expected BUS@ADDR, like /dev/i2c-1@0x48", s)
	}
	n, err := strconv.ParseUint(addr, 0, 16)
	if err != nil {
		return halperiph.ADCConfig{}, fmt.Errorf("adc %q: address: %w", s, err)
	}
	return halperiph.ADCConfig{Bus: bus, Addr: uint16(n)}, nil
}

// loadManager is the box's load management: the site Manager, its Loop over the EVSEs'
// current controls and the grid meter, and what feeds it.
type loadManager struct {
	a    *App
	m    *site.Manager
	loop *site.Loop
	grid *meter.Meter

	caps map[uint8][]capSample // recent allowed power per EVSE (feed's goroutine only)
}

// capSample is an EVSE's allowed power at one tick.
type capSample struct {
	at time.Time
	w  float64
}

// Plausibility per EVSE (meter.CapPower): an EVSE's energy may not rise faster than its allowed
// power, taken as the highest allowed over capWindow — a vehicle has 5 s to follow a lower
// offer (IEC 61851-1) and the pilot waits 3 s (pilot.DefaultPauseGrace) before opening under
// load — and never below capFloorW, the noise of an idle charger's own consumption.
const (
	capWindow = 10 * time.Second
	capFloorW = 100.0
)

// openSite builds the load management when the configuration asks for it (SiteEnabled).
func (a *App) openSite() error {
	if !a.cfg.SiteEnabled() {
		return nil
	}
	sc := a.cfg.Site
	mode, err := site.ParseMode(sc.Mode)
	if err != nil {
		return fmt.Errorf("site.mode: %w", err)
	}
	cfg := site.Config{SiteLimit: amps(sc.LimitA), Voltage: physic.ElectricPotential(math.Round(sc.Voltage*1000)) * physic.MilliVolt}
	if sc.FallbackA > 0 {
		cfg.Fallback, cfg.FallbackAfter = amps(sc.FallbackA), sc.FallbackAfter
	}
	setters := map[uint8]site.Setter{}
	for _, p := range a.points {
		if p.ctl == nil {
			continue // on/off only: its draw counts as the rest of the site
		}
		cfg.EVSEs = append(cfg.EVSEs, site.EVSE{ID: p.n, Phases: p.cfg.Phases, Min: amps(p.cfg.MinCurrent), Max: amps(p.cfg.MaxCurrent), Mode: mode})
		setters[p.n] = p.ctl.cc
	}
	m, err := site.New(cfg)
	if err != nil {
		return fmt.Errorf("site: %w", err)
	}
	lm := &loadManager{a: a, m: m, caps: map[uint8][]capSample{}}
	var grid site.GridMeter
	if g := sc.GridMeter; g.Unit != 0 {
		if lm.grid, err = a.openMeter(a.meterConfig(g.URL, g.Unit, g.Model)); err != nil {
			return fmt.Errorf("site.grid_meter: %w", err)
		}
		grid = lm.grid
	}
	lm.loop, err = site.NewLoop(m, grid, setters, site.LoopConfig{
		Interval: sc.Interval, OnChange: lm.record, Logger: a.log.With("part", "site"),
	})
	if err != nil {
		return fmt.Errorf("site: %w", err)
	}
	a.site = lm
	return nil
}

// record writes a change of an EVSE's allowed current into the chain, as an event of that
// EVSE's control loop, and keeps it for status and telemetry.
func (lm *loadManager) record(c site.Change) {
	p := lm.a.point(c.EVSE)
	if p == nil {
		return
	}
	detail := fmt.Sprintf("current=%g from=%g reason=%s", ampsOf(c.To), ampsOf(c.From), c.Reason)
	if c.Coalesced > 1 {
		detail += fmt.Sprintf(" coalesced=%d", c.Coalesced)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.gw.RecordEvent(ctx, ledger.EventCurrentLimit, detail); err != nil {
		lm.a.log.Error("record the allowed current", "evse", c.EVSE, "err", err)
	}
}

// allowance is EVSE n's allowed current as of the loop's last tick.
func (lm *loadManager) allowance(n uint8) (gateway.Allowance, bool) {
	for _, al := range lm.loop.Last() {
		if al.EVSE == n {
			return gateway.Allowance{CurrentA: ampsOf(al.Current), Reason: string(al.Reason)}, true
		}
	}
	return gateway.Allowance{}, false
}

// feed tells the manager, every tick, what each vehicle does (from its current control and
// its meter), whether the operator link is up, and OCPP's limit for EVSE 1.
func (lm *loadManager) feed(ctx context.Context) error {
	t := time.NewTicker(lm.a.cfg.Site.Interval)
	defer t.Stop()
	for {
		lm.feedOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (lm *loadManager) feedOnce(ctx context.Context) {
	a := lm.a
	now := time.Now()
	for _, p := range a.points {
		if p.ctl == nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := p.ctl.cc.State(sctx)
		cancel()
		if err != nil {
			a.log.Warn("read the current control", "evse", p.n, "err", err)
			continue
		}
		var drawn float64
		for _, c := range p.gw.Status().Meter.CurrentA {
			drawn = max(drawn, c)
		}
		lm.m.SetVehicle(p.n, site.Vehicle{Connected: st.CP.Connected(), Requesting: st.CP.Requesting(), Current: amps(drawn)})
	}
	lm.capMeters(now)
	lm.m.SetLink(a.operatorLinkUp(), now)
	if a.ocpp != nil && a.point(1) != nil && a.point(1).ctl != nil {
		if l, ok := a.ocpp.Limit(); ok {
			lm.m.SetLimit(site.Limit{Origin: site.OriginOCPP, EVSE: 1, Current: amps(max(l, 0))})
		} else {
			lm.m.ClearLimit(site.OriginOCPP, 1)
		}
	}
}

// operatorLinkUp reports whether an operator link is up: MQTT or OCPP, where configured. A box
// with neither has no link to lose: the fallback never applies.
func (a *App) operatorLinkUp() bool {
	if a.link == nil && a.ocpp == nil {
		return true
	}
	return (a.link != nil && a.link.Online()) || (a.ocpp != nil && a.ocpp.Online())
}

// point returns the charging point numbered n, nil when there is none.
func (a *App) point(n uint8) *point {
	for _, p := range a.points {
		if p.n == n {
			return p
		}
	}
	return nil
}

// Limit implements gateway.LoadManager: the operator's limit on EVSE n (0: the sum of every
// EVSE), a positive current a ceiling, 0 a pause, nil lifting it.
func (lm *loadManager) Limit(_ context.Context, n uint8, current *float64, until time.Time) (gateway.Result, error) {
	if n != 0 && (lm.a.point(n) == nil || lm.a.point(n).ctl == nil) {
		return nil, fmt.Errorf("%w: EVSE %d has no current control", gateway.ErrBadCommand, n)
	}
	if current == nil {
		if err := lm.m.ClearLimit(site.OriginOperator, n); err != nil {
			return nil, fmt.Errorf("%w: %v", gateway.ErrBadCommand, err)
		}
		return gateway.Result{"evse": n, "cleared": true}, nil
	}
	l := site.Limit{Origin: site.OriginOperator, EVSE: n, Current: amps(*current), Expires: until}
	if err := lm.m.SetLimit(l); err != nil {
		return nil, fmt.Errorf("%w: %v", gateway.ErrBadCommand, err)
	}
	res := gateway.Result{"evse": n, "amps": *current}
	if !until.IsZero() {
		res["until"] = until
	}
	return res, nil
}

// Mode implements gateway.LoadManager: grid or pv for EVSE n, or every EVSE for 0.
func (lm *loadManager) Mode(_ context.Context, n uint8, mode string) (gateway.Result, error) {
	md, err := site.ParseMode(mode)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", gateway.ErrBadCommand, err)
	}
	var errs []error
	for _, p := range lm.a.points {
		if p.ctl != nil && (n == 0 || p.n == n) {
			errs = append(errs, lm.m.SetMode(p.n, md))
		}
	}
	if n != 0 && len(errs) == 0 {
		return nil, fmt.Errorf("%w: EVSE %d has no current control", gateway.ErrBadCommand, n)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %v", gateway.ErrBadCommand, err)
	}
	return gateway.Result{"evse": n, "mode": md.String()}, nil
}

// capMeters tightens each controlled EVSE's meter to the highest power it was allowed over
// capWindow (see capWindow).
func (lm *loadManager) capMeters(now time.Time) {
	v := lm.a.cfg.Site.Voltage
	for _, al := range lm.loop.Last() {
		p := lm.a.point(al.EVSE)
		if p == nil {
			continue
		}
		hist := append(lm.caps[al.EVSE], capSample{at: now, w: ampsOf(al.Current) * float64(p.cfg.Phases) * v})
		for len(hist) > 1 && now.Sub(hist[0].at) > capWindow {
			hist = hist[1:]
		}
		lm.caps[al.EVSE] = hist
		w := capFloorW
		for _, c := range hist {
			w = max(w, c.w)
		}
		p.meter.CapPower(w)
	}
}

// serveVehicles serves each simulated vehicle at /evse/N/vehicle (hal.sim.vehicle_listen), so
// the demo and black-box tests can plug it in, request energy and unplug it.
func (a *App) serveVehicles(ctx context.Context) error {
	mux := http.NewServeMux()
	for _, p := range a.points {
		if p.ctl != nil && p.ctl.vehicle != nil {
			mux.Handle(fmt.Sprintf("/evse/%d/vehicle", p.n), p.ctl.vehicle)
		}
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(a.vehicleLn); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// VehicleAddr is where the simulated vehicles are served, "" when they are not.
func (a *App) VehicleAddr() string {
	if a.vehicleLn == nil {
		return ""
	}
	return a.vehicleLn.Addr().String()
}
