package config

import (
	"fmt"
	"net/url"
	"time"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/meter"
)

// EVSEConfig is one charging point of a box with several (the evses: list). Without the list
// the box has one, configured by meter:, hal: and device.evse_id as before.
type EVSEConfig struct {
	ID        string          `yaml:"id"` // its EVSE ID (ISO 15118 / eMI3), like device.evse_id
	Meter     EVSEMeter       `yaml:"meter"`
	Contactor ContactorConfig `yaml:"contactor"`
	// Phases is 1 or 3 (default 3); MinCurrent and MaxCurrent bound its current per phase
	// (amperes; defaults 6 and 16).
	Phases         int                  `yaml:"phases"`
	MinCurrent     float64              `yaml:"min_current"`
	MaxCurrent     float64              `yaml:"max_current"`
	CurrentControl CurrentControlConfig `yaml:"current_control"`
	// Sim is the simulated board's load for this EVSE (hal.backend sim).
	Sim EVSESim `yaml:"sim"`
}

// EVSEMeter is an EVSE's meter: its own URL, or a unit on a bus another meter shares (the
// same URL). The timing and plausibility settings of the meter: section apply to every one.
type EVSEMeter struct {
	URL   string `yaml:"url"`   // empty = meter.url (another unit on the same bus)
	Unit  uint8  `yaml:"unit"`  // Modbus unit ID, required
	Model string `yaml:"model"` // empty = meter.model
}

// ContactorConfig is an EVSE's contactor: coil and mirror contact. On the simulated board
// each EVSE has its own simulated contactor and these are left out.
type ContactorConfig struct {
	Relay    *hal.Pin `yaml:"relay"`
	Feedback *hal.Pin `yaml:"feedback"`
}

// CurrentControlConfig selects how the EVSE's current is set (hal.CurrentControl).
type CurrentControlConfig struct {
	Backend string `yaml:"backend"` // none | pilot | heidelberg
	// PWM and ADC are the pilot's pins: its hardware PWM line (GPIO18, say) and its ADC
	// channel ("ads1115:/dev/i2c-1:0x48:0"); on the simulated board the sim provides both.
	PWM string `yaml:"pwm"`
	ADC string `yaml:"adc"`
	// Ventilation lets state D charge (pilot).
	Ventilation bool `yaml:"ventilation"`
	// URL and Unit reach a Heidelberg Energy Control over Modbus.
	URL  string `yaml:"url"`
	Unit uint8  `yaml:"unit"`
}

// EVSESim is the simulated load an EVSE's simulated contactor switches.
type EVSESim struct {
	LoadControlURL string `yaml:"load_control_url"` // empty = hal.sim.load_control_url
	LoadUnit       uint8  `yaml:"load_unit"`        // 0 = the EVSE's meter unit
}

// SiteConfig is the box's load management (package gateway/site): a grid meter, a limit at
// the connection point, a fallback while the operator link is lost, grid or PV mode.
type SiteConfig struct {
	GridMeter     EVSEMeter     `yaml:"grid_meter"`     // unit required when the site is on
	LimitA        float64       `yaml:"limit_a"`        // per phase at the grid meter; 0 = no site limit
	FallbackA     float64       `yaml:"fallback_a"`     // per EVSE while the link is lost; 0 = none
	FallbackAfter time.Duration `yaml:"fallback_after"` // how long the link may be lost first
	Mode          string        `yaml:"mode"`           // grid | pv
	Interval      time.Duration `yaml:"interval"`       // the control loop's tick
	Voltage       float64       `yaml:"voltage"`        // nominal phase voltage (V)
}

// Enabled reports whether load management runs: a site limit, a fallback, PV mode or an EVSE
// with current control.
func (c *Config) SiteEnabled() bool {
	if c.Site.LimitA > 0 || c.Site.FallbackA > 0 || c.Site.Mode == "pv" {
		return true
	}
	for _, e := range c.EVSEs {
		if e.CurrentControl.Backend != "" && e.CurrentControl.Backend != "none" {
			return true
		}
	}
	return false
}

// Most EVSEs one box may have: a post with two sockets is common, a row of eight rare.
const maxEVSEs = 16

// validateEVSEs checks the evses: list and the site: section.
func (v *checker) validateEVSEs(c *Config) {
	if len(c.EVSEs) > maxEVSEs {
		v.add("evses", "holds %d EVSEs; the maximum is %d", len(c.EVSEs), maxEVSEs)
		return
	}
	ids := map[string]int{}
	units := map[string]string{} // bus URL + unit -> path
	pins := map[string]string{}  // pin name -> path
	for _, p := range c.wiredPins() {
		if p.field != "relay" && p.field != "feedback" {
			pins[p.name] = "hal." + p.field
		}
	}
	meterAt := func(path string, m EVSEMeter, required bool) {
		if m.URL != "" {
			v.url(path+".url", m.URL, true, "tcp", "rtu", "rtuovertcp")
		}
		if m.Model != "" {
			v.oneOf(path+".model", m.Model, meter.ModelNames()...)
		}
		if !required && m.Unit == 0 && m.URL == "" {
			return
		}
		if m.Unit < 1 || m.Unit > 247 {
			v.add(path+".unit", "expected a Modbus unit 1..247, got %d", m.Unit)
			return
		}
		bus := busKey(m.URL, c.Meter.URL)
		key := fmt.Sprintf("%s#%d", bus, m.Unit)
		if other, dup := units[key]; dup {
			v.add(path+".unit", "unit %d on %s is already %s", m.Unit, bus, other)
			return
		}
		units[key] = path
	}
	if len(c.EVSEs) > 0 && c.HAL.Relay.Name != "" {
		v.add("hal.relay", "with evses: each EVSE names its own contactor (evses[i].contactor); leave hal.relay and hal.feedback out")
	}
	for i, e := range c.EVSEs {
		p := fmt.Sprintf("evses[%d]", i)
		if e.ID == "" {
			v.add(p+".id", "required: the EVSE's ID, like DE*CGT*E0001*%d", i+1)
		} else {
			v.evseID(p+".id", e.ID)
			if first, dup := ids[e.ID]; dup {
				v.add(p+".id", "%s is already evses[%d]", quote(e.ID), first)
			}
			ids[e.ID] = i
		}
		meterAt(p+".meter", e.Meter, true)
		switch {
		case e.Phases != 1 && e.Phases != 3:
			v.add(p+".phases", "expected 1 or 3, got %d", e.Phases)
		}
		if e.MinCurrent < 6 || e.MinCurrent > 80 {
			v.add(p+".min_current", "expected 6..80 A (IEC 61851-1 offers no less than 6 A), got %g", e.MinCurrent)
		}
		if e.MaxCurrent < 6 || e.MaxCurrent > 80 {
			v.add(p+".max_current", "expected 6..80 A, got %g", e.MaxCurrent)
		} else if e.MinCurrent > e.MaxCurrent {
			v.add(p+".min_current", "%g A is above max_current (%g A)", e.MinCurrent, e.MaxCurrent)
		}
		cc := e.CurrentControl
		v.oneOf(p+".current_control.backend", cc.Backend, "none", "pilot", "heidelberg")
		switch cc.Backend {
		case "pilot":
			if c.HAL.Backend != "sim" {
				if cc.PWM == "" {
					v.add(p+".current_control.pwm", "required with backend pilot: the hardware PWM line, like GPIO18")
				}
				if cc.ADC == "" {
					v.add(p+".current_control.adc", "required with backend pilot: the CP measurement, like ads1115:/dev/i2c-1:0x48:0")
				}
			}
		case "heidelberg":
			v.url(p+".current_control.url", cc.URL, true, "tcp", "rtu", "rtuovertcp")
			if cc.Unit < 1 || cc.Unit > 247 {
				v.add(p+".current_control.unit", "expected a Modbus unit 1..247, got %d", cc.Unit)
			}
		default:
			if cc.PWM != "" || cc.ADC != "" || cc.URL != "" || cc.Unit != 0 {
				v.add(p+".current_control", "pwm, adc, url and unit belong to backend pilot or heidelberg")
			}
		}
		v.text(p+".current_control.pwm", cc.PWM, maxName)
		v.text(p+".current_control.adc", cc.ADC, maxName)
		if c.HAL.Backend == "sim" {
			v.url(p+".sim.load_control_url", e.Sim.LoadControlURL, false, "http", "https")
			if e.Contactor.Relay != nil || e.Contactor.Feedback != nil {
				v.add(p+".contactor", "the simulated board gives each EVSE its own contactor; leave contactor out with hal.backend sim")
			}
			continue
		}
		if e.Sim != (EVSESim{}) {
			v.add(p+".sim", "only with hal.backend sim")
		}
		if e.Contactor.Relay == nil || e.Contactor.Relay.Name == "" {
			v.add(p+".contactor.relay", "required: the GPIO line of this EVSE's contactor coil, like GPIO17")
		}
		for _, pin := range []struct {
			field string
			pin   *hal.Pin
		}{{"relay", e.Contactor.Relay}, {"feedback", e.Contactor.Feedback}, {"current_control.pwm", &hal.Pin{Name: cc.PWM}}} {
			if pin.pin == nil || pin.pin.Name == "" {
				continue
			}
			path := p + ".contactor." + pin.field
			if pin.field == "current_control.pwm" {
				path = p + "." + pin.field
			}
			if other, dup := pins[pin.pin.Name]; dup {
				v.add(path, "%s is already used by %s", quote(pin.pin.Name), other)
				continue
			}
			pins[pin.pin.Name] = path
		}
	}

	s := c.Site
	v.oneOf("site.mode", s.Mode, "grid", "pv")
	if s.LimitA < 0 || s.LimitA > 4000 {
		v.add("site.limit_a", "expected 0 (none) or up to 4000 A per phase, got %g", s.LimitA)
	}
	if s.FallbackA < 0 || s.FallbackA > 80 {
		v.add("site.fallback_a", "expected 0 (none) or up to 80 A per EVSE, got %g", s.FallbackA)
	}
	if s.FallbackA > 0 && s.FallbackAfter <= 0 {
		v.add("site.fallback_after", "must be positive with site.fallback_a")
	}
	if s.Voltage < 100 || s.Voltage > 400 {
		v.add("site.voltage", "expected 100..400 V, got %g", s.Voltage)
	}
	if s.Interval < 100*time.Millisecond || s.Interval > time.Minute {
		v.add("site.interval", "%v is outside 100ms..1m", s.Interval)
	}
	needGrid := s.LimitA > 0 || s.Mode == "pv"
	if needGrid && s.GridMeter.Unit == 0 {
		v.add("site.grid_meter.unit", "required with site.limit_a or site.mode pv: the grid meter measures what the site draws")
	}
	meterAt("site.grid_meter", s.GridMeter, needGrid)
	if c.SiteEnabled() && len(c.EVSEs) == 0 {
		v.add("site", "load management needs the evses: list, which says each EVSE's phases, currents and current control")
	}
	if c.SiteEnabled() && len(c.EVSEs) > 0 {
		ctl := 0
		for _, e := range c.EVSEs {
			if e.CurrentControl.Backend == "pilot" || e.CurrentControl.Backend == "heidelberg" {
				ctl++
			}
		}
		if ctl == 0 {
			v.add("site", "no EVSE has current_control pilot or heidelberg: nothing can follow a limit")
		}
	}
}

// busKey names the bus a meter is on: its URL (host:port or serial device), the shared one
// when it has none.
func busKey(own, shared string) string {
	raw := own
	if raw == "" {
		raw = shared
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.Scheme == "rtu" {
		return u.Scheme + "://" + u.Path
	}
	return u.Scheme + "://" + u.Host
}

// EVSEDefaults fills the defaults of an evses: item that the file left out.
func evseDefaults(e EVSEConfig) EVSEConfig {
	if e.Phases == 0 {
		e.Phases = 3
	}
	if e.MinCurrent == 0 {
		e.MinCurrent = 6
	}
	if e.MaxCurrent == 0 {
		e.MaxCurrent = 16
	}
	if e.CurrentControl.Backend == "" {
		e.CurrentControl.Backend = "none"
	}
	return e
}

// EVSEBoard is the hal configuration of EVSE i's Board (0-based): its own contactor, the box's
// shared safety inputs (e-stop, RCD), and for the first EVSE also the lid and the LED, which
// are reported once per box.
func (c *Config) EVSEBoard(i int) hal.Config {
	h := c.HAL.Config
	e := c.EVSEs[i]
	if e.Contactor.Relay != nil {
		h.Relay = *e.Contactor.Relay
	}
	h.Feedback = e.Contactor.Feedback
	if i > 0 {
		h.Lid, h.LED = nil, nil
	}
	return h
}
