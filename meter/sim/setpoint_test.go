package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chargegate/chargegate/meter"
)

// TestSetpointFollow drives one meter's load with a changing EVSE setpoint on a manual
// clock: the power ramps at the profile's rate towards amps × voltage × phases, in either
// direction, reaches nothing at 0 A, and the energy registers hold the integral of the
// power (checked against a fine numeric sum). Removing the setpoint restores the default
// ramp to max_w.
func TestSetpointFollow(t *testing.T) {
	s, clk := newSim(t, Options{Model: "sdm630", Profile: Profile{MaxW: 22000, Phases: 3, RampWPerS: 1000, VoltageV: 230}})
	m, _ := s.Meter(0, 1)
	amps := func(a float64) *float64 { return &a }
	var numeric float64 // Wh, summed at 10 ms steps
	step := func(d time.Duration) {
		for range int(d / (10 * time.Millisecond)) {
			p0 := m.State(clk.Now()).PowerW
			clk.Advance(10 * time.Millisecond)
			p1 := m.State(clk.Now()).PowerW
			numeric += (p0 + p1) / 2 * 0.01 / 3600
		}
	}
	power := func() float64 { return m.State(clk.Now()).PowerW }
	m.SetSetpoint(clk.Now(), amps(16)) // set before connecting: nothing flows yet
	if p := power(); p != 0 {
		t.Fatalf("not connected: %v W", p)
	}
	m.SetLoad(clk.Now(), true, 0)
	for _, tc := range []struct {
		set   *float64
		after time.Duration
		want  float64
	}{
		{nil, 5 * time.Second, 5000},       // ramping up at 1 kW/s towards 16 A × 230 V × 3 = 11040 W
		{nil, 20 * time.Second, 11040},     // there
		{amps(6), 3 * time.Second, 8040},   // down towards 6 A = 4140 W
		{nil, 10 * time.Second, 4140},      // there
		{amps(32), 4 * time.Second, 8140},  // up again: 32 A = 22080 W, capped to max_w 22000
		{nil, 30 * time.Second, 22000},     // capped
		{amps(0), 30 * time.Second, 0},     // 0 A: nothing
		{amps(10), 2 * time.Second, 2000},  // from nothing again
		{amps(10), 10 * time.Second, 6900}, // the same setpoint again changes nothing
	} {
		if tc.set != nil {
			m.SetSetpoint(clk.Now(), tc.set)
		}
		step(tc.after)
		if got := power(); math.Abs(got-tc.want) > 1e-6*tc.want+1e-9 {
			t.Fatalf("setpoint %v, %s later: %v W, want %v W", tc.set, tc.after, got, tc.want)
		}
	}
	if got := m.State(clk.Now()).ImportWh; math.Abs(got-numeric) > 1e-6*numeric {
		t.Errorf("energy %v Wh, numeric integral %v Wh", got, numeric)
	}
	m.SetSetpoint(clk.Now(), nil)
	clk.Advance(time.Hour)
	if st := m.State(clk.Now()); st.PowerW != 22000 || st.SetpointA != nil {
		t.Errorf("setpoint removed: %+v, want the default ramp to max_w", st)
	}
}

// TestSetpointOverModbus runs the control interface over HTTP and reads the meter over
// real Modbus TCP with package meter's client while the setpoint changes: the power the
// client reads follows it.
func TestSetpointOverModbus(t *testing.T) {
	s, clk := newSim(t, Options{Model: "sdm630", Profile: Profile{RampWPerS: 5000}})
	ctrl := httptest.NewServer(s.Handler())
	defer ctrl.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Buses()[0].ServeTCP(ctx, ln) }()
	defer func() { cancel(); <-served }()
	// Read the total power register itself: package meter's Read would (rightly) call
	// energy that rises in no wall-clock time implausible, and the manual clock jumps.
	bus, err := meter.OpenBus(ctx, "tcp://"+ln.Addr().String(), 0, time.Second, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	model, _ := meter.LookupModel("sdm630")
	var total meter.Field
	for _, f := range model.Fields {
		if f.Q == meter.PowerTotal {
			total = f
		}
	}
	if total.Kind != meter.Float32 {
		t.Fatalf("sdm630 total power field %+v: not the float32 this test decodes", total)
	}
	readPower := func() float64 {
		t.Helper()
		regs, err := bus.ReadRegisters(ctx, 1, total.Table, total.Addr, 2)
		if err != nil {
			t.Fatal(err)
		}
		return float64(math.Float32frombits(uint32(regs[0])<<16 | uint32(regs[1])))
	}
	post := func(path, body string) {
		t.Helper()
		resp, err := http.Post(ctrl.URL+path, "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("POST %s %s: %s", path, body, resp.Status)
		}
	}
	post("/v1/load", `{"unit":1,"connected":true}`)
	for _, tc := range []struct {
		body string
		want float64 // W, 3 phases at 230 V
	}{
		{`{"unit":1,"amps":16}`, 11000}, // 11040 W capped to the default max_w
		{`{"unit":1,"amps":8}`, 5520},
		{`{"unit":1,"amps":0}`, 0},
		{`{"unit":1,"amps":6}`, 4140},
		{`{"unit":1,"amps":null}`, 11000},
	} {
		post("/v1/setpoint", tc.body)
		clk.Advance(10 * time.Second)
		// float32 on the wire: allow its rounding.
		if got := readPower(); math.Abs(got-tc.want) > 0.01 {
			t.Errorf("after %s: %v W over Modbus, want %v W", tc.body, got, tc.want)
		}
	}
	resp, err := http.Post(ctrl.URL+"/v1/setpoint", "application/json", bytes.NewBufferString(`{"unit":1,"amps":-1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("negative amps: %s", resp.Status)
	}
	var st State
	r2, err := http.Get(ctrl.URL + "/v1/meters/1")
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Body.Close()
	if err := json.NewDecoder(r2.Body).Decode(&st); err != nil || st.SetpointA != nil {
		t.Errorf("state after removing the setpoint: %+v %v", st, err)
	}
}
