package config

import (
	"strings"
	"testing"
)

const evseBase = `
device: {data_dir: /tmp/cg}
meter: {url: "tcp://127.0.0.1:1502"}
`

func TestEVSEsParse(t *testing.T) {
	cfg, err := Parse([]byte(evseBase + `
hal: {backend: sim}
evses:
  - id: DE*CGT*E0001*1
    meter: {unit: 1}
  - id: DE*CGT*E0001*2
    meter: {unit: 2}
    phases: 1
    min_current: 6.5
    max_current: 32
    current_control: {backend: pilot}
site:
  grid_meter: {unit: 3}
  limit_a: 32
  fallback_a: 10
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.EVSEs) != 2 {
		t.Fatalf("%d EVSEs", len(cfg.EVSEs))
	}
	e1, e2 := cfg.EVSEs[0], cfg.EVSEs[1]
	if e1.Phases != 3 || e1.MinCurrent != 6 || e1.MaxCurrent != 16 || e1.CurrentControl.Backend != "none" {
		t.Errorf("defaults of evses[0]: %+v", e1)
	}
	if e2.Phases != 1 || e2.MinCurrent != 6.5 || e2.MaxCurrent != 32 || e2.CurrentControl.Backend != "pilot" {
		t.Errorf("evses[1]: %+v", e2)
	}
	if !cfg.SiteEnabled() || cfg.Site.LimitA != 32 || cfg.Site.Mode != "grid" {
		t.Errorf("site: %+v", cfg.Site)
	}
}

func TestEVSEsRefused(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"duplicate id", `
hal: {backend: sim}
evses:
  - {id: DE*CGT*E0001*1, meter: {unit: 1}}
  - {id: DE*CGT*E0001*1, meter: {unit: 2}}
`, `evses[1].id: "DE*CGT*E0001*1" is already evses[0]`},
		{"unit twice on one bus", `
hal: {backend: sim}
evses:
  - {id: DE*CGT*E0001*1, meter: {unit: 1}}
  - {id: DE*CGT*E0001*2, meter: {unit: 1, url: "tcp://127.0.0.1:1502"}}
`, `evses[1].meter.unit: unit 1 on tcp://127.0.0.1:1502 is already evses[0].meter`},
		{"grid meter on an EVSE's unit", `
hal: {backend: sim}
evses:
  - {id: DE*CGT*E0001*1, meter: {unit: 1}, current_control: {backend: pilot}}
site: {limit_a: 32, grid_meter: {unit: 1}}
`, `site.grid_meter.unit: unit 1 on tcp://127.0.0.1:1502 is already evses[0].meter`},
		{"min above max", `
hal: {backend: sim}
evses:
  - {id: DE*CGT*E0001*1, meter: {unit: 1}, min_current: 20, max_current: 16}
`, `evses[0].min_current: 20 A is above max_current (16 A)`},
		{"pilot without pins", `
hal: {estop: {name: GPIO22}}
evses:
  - {id: DE*CGT*E0001*1, meter: {unit: 1}, contactor: {relay: {name: GPIO17}}, current_control: {backend: pilot}}
`, `evses[0].current_control.pwm: required with backend pilot`},
		{"relay pin twice", `
hal: {estop: {name: GPIO22}}
evses:
  - {id: DE*CGT*E0001*1, meter: {unit: 1}, contactor: {relay: {name: GPIO17}}}
  - {id: DE*CGT*E0001*2, meter: {unit: 2}, contactor: {relay: {name: GPIO22}}}
`, `evses[1].contactor.relay: "GPIO22" is already used by hal.estop`},
		{"no meter unit", `
hal: {backend: sim}
evses:
  - {id: DE*CGT*E0001*1}
`, `evses[0].meter.unit: expected a Modbus unit 1..247, got 0`},
		{"site limit without a grid meter", `
hal: {backend: sim}
evses:
  - {id: DE*CGT*E0001*1, meter: {unit: 1}, current_control: {backend: pilot}}
site: {limit_a: 32}
`, `site.grid_meter.unit: required with site.limit_a`},
		{"site without evses", `
hal: {backend: sim}
site: {fallback_a: 10}
`, `site: load management needs the evses: list`},
		{"hal relay beside evses", `
hal: {relay: {name: GPIO17}}
evses:
  - {id: DE*CGT*E0001*1, meter: {unit: 1}, contactor: {relay: {name: GPIO18}}}
`, `hal.relay: with evses: each EVSE names its own contactor`},
		{"mode", `
hal: {backend: sim}
evses:
  - {id: DE*CGT*E0001*1, meter: {unit: 1}, current_control: {backend: pilot}}
site: {mode: solar}
`, `site.mode: unsupported "solar"`},
		{"amps as text", `
hal: {backend: sim}
evses:
  - {id: DE*CGT*E0001*1, meter: {unit: 1}, max_current: "16A"}
`, `evses[0].max_current: expected a number, got "16A"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(evseBase + c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}
