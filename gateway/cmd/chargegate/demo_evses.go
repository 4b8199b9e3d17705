package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"
)

// demoSiteLimitA is the two-EVSE demo's site limit, amperes per phase.
const demoSiteLimitA = 20

// demoHouseA is the rest of the house's load on the demo's grid meter, amperes per phase.
const demoHouseA = 2.0

// demoEVSEs is the configuration of `chargegate demo --evses 2`: two charging points with a
// control pilot (a simulated vehicle behind each) on metersim units 1 and 2, and the grid meter
// on unit 3 under a site limit.
var demoEVSEs = fmt.Sprintf(`evses:
  - {id: "DE*CGT*EDEMO*1", meter: {unit: 1}, max_current: 16, current_control: {backend: pilot}}
  - {id: "DE*CGT*EDEMO*2", meter: {unit: 2}, max_current: 16, current_control: {backend: pilot}}
site:
  grid_meter: {unit: 3}
  limit_a: %d
  interval: 500ms
`, demoSiteLimitA)

// feedGrid plays the house: the grid meter (metersim unit 3) carries the house's own load plus
// what both EVSEs draw, as the meter at the grid connection would. It also notes what the site
// limit did while both EVSEs charged.
func (d *demo) feedGrid(ctx context.Context, app *App) {
	client := &http.Client{Timeout: 2 * time.Second}
	post := func(path, body string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.control+path, bytes.NewBufferString(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	post("/v1/profile", `{"unit":3,"max_w":40000,"phases":3,"ramp_w_per_s":100000}`)
	post("/v1/load", `{"unit":3,"connected":true,"lease_ms":0}`)
	for _, p := range app.points {
		if p.ctl != nil && p.ctl.vehicle != nil {
			p.ctl.vehicle.Plug()
			p.ctl.vehicle.Request(true)
		}
	}
	every(ctx, 200*time.Millisecond, func() {
		var w, sum float64
		charging := 0
		var parts []any
		for _, p := range app.points {
			st := p.gw.Status()
			w += st.Meter.PowerW
			if st.Session != nil && st.Session.State == "charging" && st.AllowedA != nil && *st.AllowedA > 0 {
				charging++
				sum += *st.AllowedA
				parts = append(parts, *st.AllowedA, st.AllowedReason)
			}
		}
		post("/v1/setpoint", fmt.Sprintf(`{"unit":3,"amps":%.2f}`, demoHouseA+w/(3*230)))
		if charging == 2 {
			d.site = fmt.Sprintf("both EVSEs charged at %.1f A (%s) + %.1f A (%s) = %.1f A, with %.0f A of house load",
				append(parts, sum, demoHouseA)...)
		}
	})
}
