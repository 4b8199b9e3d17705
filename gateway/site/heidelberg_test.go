package site_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/site"
	"github.com/chargegate/chargegate/hal/heidelberg"
	halsim "github.com/chargegate/chargegate/hal/sim"
)

// TestLoopDrivesHeidelbergOverModbus hands the loop a real hal.CurrentControl backend: two
// simulated Heidelberg Energy Control boxes on Modbus TCP, each with a vehicle, driven
// through hal/heidelberg. The vehicles' control-pilot states (read back through the same
// backend) are the loop's input; a box-wide limit of 20 A is shared 10 A each, the offer
// reaches each vehicle, and an operator's 0 A pauses one while the other gets 16 A (its
// hardware maximum).
func TestLoopDrivesHeidelbergOverModbus(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	boxes := map[uint8]*halsim.EnergyControl{}
	ctls := map[uint8]*heidelberg.Controller{}
	setters := map[uint8]site.Setter{}
	for _, id := range []uint8{1, 2} {
		v := halsim.NewVehicle(halsim.VehicleOptions{React: time.Nanosecond})
		v.Plug()
		v.Request(true)
		box := halsim.NewEnergyControl(v, halsim.EnergyControlOptions{})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- box.ServeTCP(ctx, ln) }()
		t.Cleanup(func() { cancel(); <-served })
		c, err := heidelberg.Open(ctx, heidelberg.Config{URL: "tcp://" + ln.Addr().String()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		boxes[id], ctls[id], setters[id] = box, c, c
	}
	evs := []site.EVSE{{ID: 1, Phases: 3, Max: 16 * A}, {ID: 2, Phases: 3, Max: 16 * A}}
	m, err := site.New(site.Config{EVSEs: evs})
	if err != nil {
		t.Fatal(err)
	}
	loop, err := site.NewLoop(m, nil, setters, site.LoopConfig{})
	if err != nil {
		t.Fatal(err)
	}
	step := func() {
		t.Helper()
		for id, c := range ctls {
			st, err := c.State(ctx)
			if err != nil {
				t.Fatal(err)
			}
			v := site.Vehicle{Connected: st.CP.Connected(), Requesting: st.CP.Requesting(), Current: boxes[id].Vehicle().Drawing()}
			if err := m.SetVehicle(id, v); err != nil {
				t.Fatal(err)
			}
		}
		loop.Step(ctx)
	}
	if err := m.SetLimit(site.Limit{Origin: site.OriginOCPP, Current: 20 * A}); err != nil {
		t.Fatal(err)
	}
	step()
	step()
	for id, box := range boxes {
		if got, a := box.Offered(), loop.Last()[id-1]; got != 10*A || a.Reason != site.Reason(site.OriginOCPP) {
			t.Errorf("evse %d: box offers %s (%s), want 10 A (ocpp)", id, got, a.Reason)
		}
	}
	if err := m.SetLimit(site.Limit{Origin: site.OriginOperator, EVSE: 2}); err != nil {
		t.Fatal(err)
	}
	step()
	if got := boxes[2].Offered(); got != 0 {
		t.Errorf("evse 2 paused: box offers %s", got)
	}
	if got := boxes[1].Offered(); got != 16*A {
		t.Errorf("evse 1 alone: box offers %s, want its 16 A maximum", got)
	}
}
