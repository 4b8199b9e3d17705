package main

import (
	"fmt"
	"strings"

	"periph.io/x/conn/v3/gpio"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/config"
	"github.com/chargegate/chargegate/hal"
	halperiph "github.com/chargegate/chargegate/hal/periph"
	halsim "github.com/chargegate/chargegate/hal/sim"
	"github.com/chargegate/chargegate/meter"
	"github.com/chargegate/chargegate/meter/sim"
)

// point is one charging point of the appliance: its meter, its board (own contactor, the box's
// shared safety inputs) and its control loop. A box without an evses: list has one point,
// numbered 0, whose entries name no EVSE; with the list, points are numbered 1..N.
type point struct {
	n      uint8
	id     string            // its EVSE ID
	cfg    config.EVSEConfig // zero on a box with one EVSE
	meter  *meter.Meter
	board  *hal.Board
	halCfg hal.Config
	sim    *halsim.Board   // its simulated contactor (hal.backend sim)
	load   *sim.LoadClient // the metersim load that contactor switches
	gw     *gateway.Controller
	ctl    *control // its current control; nil: on/off only
}

// name is how logs and goroutines name the point: "" for a box's only one, else "-N".
func (p *point) name() string {
	if p.n == 0 {
		return ""
	}
	return fmt.Sprintf("-%d", p.n)
}

// meterConfig is the meter package's configuration of a meter at url/unit/model with the
// meter: section's timing and plausibility settings.
func (a *App) meterConfig(url string, unit uint8, model string) meter.Config {
	m := a.cfg.Meter
	if url == "" {
		url = m.URL
	}
	if model == "" {
		model = m.Model
	}
	return meter.Config{
		URL: url, Unit: unit, Model: model, Timeout: m.Timeout,
		Retries: m.Retries, MaxPowerW: float64(m.MaxPowerW), ResetConfirm: m.ResetConfirm,
		IdentityInterval: m.IdentityInterval, ReconnectMax: m.ReconnectMax,
		Logger: a.log.With("part", "meter", "unit", unit),
	}
}

// openMeter returns a meter on the bus url names, sharing one link among every meter on the
// same bus (units on one RS-485 line, or behind one Modbus TCP gateway). No I/O: the first
// poll connects.
func (a *App) openMeter(c meter.Config) (*meter.Meter, error) {
	key := busKey(c.URL)
	bus := a.buses[key]
	if bus == nil {
		retries := c.Retries
		if retries == 0 {
			retries = 1 // meter.Config's default; the file's 0 … 10 are passed on as they are
		}
		b, err := meter.NewBus(c.URL, 0, c.Timeout, retries, c.Logger)
		if err != nil {
			return nil, err
		}
		a.buses[key] = b
		bus = b
	}
	return meter.NewOnBus(bus, c)
}

// busKey names a bus by its URL without the serial parameters (one device, one bus).
func busKey(url string) string {
	k, _, _ := strings.Cut(url, "?")
	return k
}

// openPoints builds the charging points from the evses: list: meters, boards with their shared
// safety inputs, simulated contactors and loads.
func (a *App) openPoints() error {
	a.buses = map[string]*meter.Bus{}
	var backend hal.Pins
	switch a.cfg.HAL.Backend {
	case "sim":
	default:
		p, err := halperiph.Open()
		if err != nil {
			return fmt.Errorf("open GPIO: %w", err)
		}
		a.shared = hal.ShareInputs(p)
		backend = a.shared
	}
	for i, e := range a.cfg.EVSEs {
		p := &point{n: uint8(i + 1), id: e.ID, cfg: e}
		a.points = append(a.points, p)
		m, err := a.openMeter(a.meterConfig(e.Meter.URL, e.Meter.Unit, e.Meter.Model))
		if err != nil {
			return fmt.Errorf("evses[%d].meter: %w", i, err)
		}
		p.meter = m
		pins := backend
		hc := a.cfg.EVSEBoard(i)
		if a.cfg.HAL.Backend == "sim" {
			p.sim = halsim.New(halsim.Options{})
			if i == 0 {
				a.shared = hal.ShareInputs(p.sim)
			}
			def := halsim.DefaultConfig()
			def.FeedbackTimeout, def.Debounce = hc.FeedbackTimeout, hc.Debounce
			if i > 0 {
				def.Lid, def.LED = nil, nil // reported once, by EVSE 1
			}
			hc = def
			pins = ownPins{own: p.sim, box: a.shared, names: []string{halsim.Relay, halsim.Feedback}}
			url := e.Sim.LoadControlURL
			if url == "" {
				url = a.cfg.HAL.Sim.LoadControlURL
			}
			if url != "" {
				unit := e.Sim.LoadUnit
				if unit == 0 {
					unit = e.Meter.Unit
				}
				p.load = sim.NewLoadClient(strings.TrimRight(url, "/"), unit, a.cfg.HAL.Sim.Lease, a.log.With("part", "simload", "evse", p.n))
				p.sim.OnContacts(p.load.Contacts)
			}
		}
		b, err := hal.Open(hc, pins, a.log.With("part", "hal", "evse", p.n))
		if err != nil {
			return fmt.Errorf("evses[%d]: open board: %w", i, err)
		}
		p.board, p.halCfg = b, hc
	}
	// EVSE 1 stands for the box where one part is meant (the status page's board, the
	// meter's public key, hal check).
	first := a.points[0]
	a.meter, a.board, a.halCfg, a.simBoard, a.load = first.meter, first.board, first.halCfg, first.sim, first.load
	return nil
}

// ownPins serves an EVSE's own lines (its simulated contactor) from its own board and every
// other line (e-stop, RCD, lid, LED) from the box's shared inputs.
type ownPins struct {
	own   hal.Pins
	box   hal.Pins
	names []string
}

func (p ownPins) Pin(name string) (gpio.PinIO, error) {
	for _, n := range p.names {
		if n == name {
			return p.own.Pin(name)
		}
	}
	return p.box.Pin(name)
}

// controllers returns the session commanders of a box with several EVSEs by number (EVSE 1
// through first, which may be OCPP's wrapper), nil on a box with one.
func (a *App) controllers(first gateway.SessionCommander) map[uint8]gateway.SessionCommander {
	if len(a.points) < 2 && a.points[0].n == 0 {
		return nil
	}
	out := map[uint8]gateway.SessionCommander{}
	for _, p := range a.points {
		out[p.n] = p.gw
	}
	out[1] = first
	return out
}

// evseStatuses is the status of every EVSE of a box with several, nil on a box with one.
func (a *App) evseStatuses() []gateway.Status {
	if a.points[0].n == 0 {
		return nil
	}
	out := make([]gateway.Status, 0, len(a.points))
	for _, p := range a.points {
		out = append(out, p.gw.Status())
	}
	return out
}
