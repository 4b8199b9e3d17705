package heidelberg_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/heidelberg"
	"github.com/chargegate/chargegate/hal/sim"
)

// box serves a simulated Energy Control on a free loopback port over real
// Modbus TCP and returns it with its URL.
func box(t *testing.T, opts sim.EnergyControlOptions, vopts sim.VehicleOptions) (*sim.EnergyControl, string) {
	t.Helper()
	ec := sim.NewEnergyControl(sim.NewVehicle(vopts), opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ec.ServeTCP(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ec, "tcp://" + ln.Addr().String()
}

func open(t *testing.T, cfg heidelberg.Config) *heidelberg.Controller {
	t.Helper()
	c, err := heidelberg.Open(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls State until cond holds (5 s at most: a failure, not a
// timing figure).
func eventually(t *testing.T, c *heidelberg.Controller, what string, cond func(hal.ControlState) bool) hal.ControlState {
	t.Helper()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := c.State(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if cond(s) {
			return s
		}
		select {
		case <-deadline:
			t.Fatalf("%s: last state %+v", what, s)
		case <-tick.C:
		}
	}
}

// TestSession drives a charging session through the Modbus backend: Open
// configures standby, watchdog and fail-safe; the vehicle plugs in and
// requests; the setpoint is offered and the box charges (C2); 0 A pauses
// (C1, then B1 when the vehicle stops); resuming charges again; unplugging
// ends in A.
func TestSession(t *testing.T) {
	ec, url := box(t, sim.EnergyControlOptions{}, sim.VehicleOptions{React: 5 * time.Millisecond})
	c := open(t, heidelberg.Config{URL: url, Watchdog: 10 * time.Second, Failsafe: 6 * physic.Ampere})
	if got := [3]uint16{ec.Register(heidelberg.RegStandby), ec.Register(heidelberg.RegWatchdog), ec.Register(heidelberg.RegFailsafeCurrent)}; got != [3]uint16{4, 10000, 60} {
		t.Fatalf("standby, watchdog, fail-safe registers: %v, want [4 10000 60]", got)
	}
	if lo, hi := c.Range(); lo != 6*physic.Ampere || hi != 16*physic.Ampere {
		t.Fatalf("range %s…%s", lo, hi)
	}
	ctx := t.Context()
	if err := c.SetCurrent(ctx, 10*physic.Ampere); err != nil {
		t.Fatal(err)
	}
	if v := ec.Register(heidelberg.RegMaxCurrent); v != 100 {
		t.Fatalf("register 261 = %d, want 100 (10.0 A)", v)
	}
	s := eventually(t, c, "idle", func(s hal.ControlState) bool { return s.CP == hal.CPStateA })
	if s.ContactorAllowed || s.Setpoint != 10*physic.Ampere || s.Fault != nil {
		t.Fatalf("idle: %+v", s)
	}
	v := ec.Vehicle()
	v.Plug()
	v.Request(true)
	s = eventually(t, c, "charging", func(s hal.ControlState) bool { return s.ContactorAllowed })
	if s.CP != hal.CPStateC || s.Offered != 10*physic.Ampere || v.Drawing() != 10*physic.Ampere {
		t.Fatalf("charging: %+v, vehicle draws %s", s, v.Drawing())
	}
	if err := c.SetCurrent(ctx, 0); err != nil {
		t.Fatal(err)
	}
	s = eventually(t, c, "paused: vehicle stopped", func(s hal.ControlState) bool { return s.CP == hal.CPStateB })
	if s.ContactorAllowed || s.Offered != 0 || v.Drawing() != 0 {
		t.Fatalf("paused: %+v", s)
	}
	if err := c.SetCurrent(ctx, 16*physic.Ampere); err != nil {
		t.Fatal(err)
	}
	eventually(t, c, "resumed", func(s hal.ControlState) bool { return s.ContactorAllowed && s.Offered == 16*physic.Ampere })
	v.Unplug()
	eventually(t, c, "unplugged", func(s hal.ControlState) bool { return s.CP == hal.CPStateA && !s.ContactorAllowed })
}

// TestSetCurrentRange: below the minimum or above the rotary switch's
// maximum is refused before anything is written.
func TestSetCurrentRange(t *testing.T) {
	ec, url := box(t, sim.EnergyControlOptions{HWMax: 13 * physic.Ampere}, sim.VehicleOptions{})
	c := open(t, heidelberg.Config{URL: url})
	for _, a := range []physic.ElectricCurrent{3 * physic.Ampere, 14 * physic.Ampere} {
		if err := c.SetCurrent(t.Context(), a); !errors.Is(err, hal.ErrCurrentRange) {
			t.Errorf("%s: %v, want ErrCurrentRange", a, err)
		}
	}
	if v := ec.Register(heidelberg.RegMaxCurrent); v != 130 {
		t.Errorf("register 261 = %d after refused writes, want the power-on 130", v)
	}
	if err := c.SetCurrent(t.Context(), 13*physic.Ampere); err != nil {
		t.Error(err)
	}
}

// TestWatchdogFallback: when the gateway stops talking, the box falls back
// to the fail-safe current by itself; the next request restores the limit.
func TestWatchdogFallback(t *testing.T) {
	ec, url := box(t, sim.EnergyControlOptions{}, sim.VehicleOptions{})
	c := open(t, heidelberg.Config{URL: url, Watchdog: 200 * time.Millisecond, Failsafe: 6 * physic.Ampere})
	if err := c.SetCurrent(t.Context(), 16*physic.Ampere); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for ec.Offered() != 6*physic.Ampere {
		select {
		case <-deadline:
			t.Fatalf("no fall-back: box offers %s", ec.Offered())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if _, err := c.State(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := ec.Offered(); got != 16*physic.Ampere {
		t.Errorf("after a request: box offers %s, want 16 A again", got)
	}
}

// TestFailures: a missed reply is retried on a new connection; a box that
// stays silent gives ErrTimeout; the box's error state is a Fault.
func TestFailures(t *testing.T) {
	ec, url := box(t, sim.EnergyControlOptions{}, sim.VehicleOptions{})
	c := open(t, heidelberg.Config{URL: url, Timeout: 100 * time.Millisecond, Retries: 2})
	ec.Silence(1)
	if _, err := c.State(t.Context()); err != nil {
		t.Fatalf("one missed reply: %v", err)
	}
	ec.Silence(10)
	if _, err := c.State(t.Context()); !errors.Is(err, heidelberg.ErrTimeout) {
		t.Fatalf("silent box: %v, want ErrTimeout", err)
	}
	ec.Silence(0)
	ec.DeviceError(true)
	s, err := c.State(t.Context())
	if err != nil || !errors.Is(s.Fault, heidelberg.ErrDeviceError) || s.ContactorAllowed {
		t.Fatalf("device error: %+v, %v", s, err)
	}
	if _, err := heidelberg.Open(t.Context(), heidelberg.Config{URL: url, Unit: 7, Timeout: 50 * time.Millisecond, Retries: -1}, nil); !errors.Is(err, heidelberg.ErrTimeout) {
		t.Errorf("wrong unit: %v, want ErrTimeout", err)
	}
}

// TestDecode is the state mapping's golden table: register 5 and register
// 261 as read from the wire, the hal.ControlState they mean.
func TestDecode(t *testing.T) {
	A, B, C := hal.CPStateA, hal.CPStateB, hal.CPStateC
	for _, tc := range []struct {
		state   heidelberg.ChargingState
		limit   uint16
		cp      hal.CPState
		offered physic.ElectricCurrent
		allowed bool
		fault   error
	}{
		{heidelberg.StateA1, 0, A, 0, false, nil},
		{heidelberg.StateA2, 160, A, 16 * physic.Ampere, false, nil},
		{heidelberg.StateB1, 0, B, 0, false, nil},
		{heidelberg.StateB2, 100, B, 10 * physic.Ampere, false, nil},
		{heidelberg.StateC1, 0, C, 0, false, nil},
		{heidelberg.StateC2, 65, C, 6500 * physic.MilliAmpere, true, nil},
		{heidelberg.StateDerating, 160, C, 16 * physic.Ampere, true, nil},
		{heidelberg.StateE, 160, hal.CPStateE, 0, false, heidelberg.ErrPilotError},
		{heidelberg.StateF, 160, hal.CPStateF, 0, false, heidelberg.ErrLocked},
		{heidelberg.StateError, 160, hal.CPUnknown, 0, false, heidelberg.ErrDeviceError},
	} {
		s, err := heidelberg.Decode(tc.state, tc.limit)
		if err != nil || s.CP != tc.cp || s.Offered != tc.offered || s.ContactorAllowed != tc.allowed || !errors.Is(s.Fault, tc.fault) || (tc.fault == nil) != (s.Fault == nil) {
			t.Errorf("state %d limit %d: %+v %v", tc.state, tc.limit, s, err)
		}
	}
	for _, bad := range []heidelberg.ChargingState{0, 1, 12, 0xffff} {
		if _, err := heidelberg.Decode(bad, 0); !errors.Is(err, heidelberg.ErrUnknownState) {
			t.Errorf("state %d: %v", bad, err)
		}
	}
}

// recorder is a TCP proxy in front of the simulated box that records the
// Modbus request PDUs the client sends (MBAP header stripped).
type recorder struct {
	mu   sync.Mutex
	pdus []string
}

func (r *recorder) serve(t *testing.T, target string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				return
			}
			go func() { _, _ = io.Copy(c, up); c.Close() }()
			go func() {
				defer up.Close()
				hdr := make([]byte, 7)
				for {
					if _, err := io.ReadFull(c, hdr); err != nil {
						return
					}
					pdu := make([]byte, int(hdr[4])<<8|int(hdr[5])-1)
					if _, err := io.ReadFull(c, pdu); err != nil {
						return
					}
					r.mu.Lock()
					r.pdus = append(r.pdus, hex.EncodeToString(append([]byte{hdr[6]}, pdu...)))
					r.mu.Unlock()
					if _, err := up.Write(append(hdr, pdu...)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "tcp://" + ln.Addr().String()
}

// TestWireGolden freezes the requests on the wire (unit ID + PDU, the
// vectors in doc.go): Open's reads and writes, SetCurrent(16 A) and State.
func TestWireGolden(t *testing.T) {
	_, url := box(t, sim.EnergyControlOptions{}, sim.VehicleOptions{})
	var rec recorder
	c := open(t, heidelberg.Config{URL: rec.serve(t, url[len("tcp://"):]), Watchdog: 15 * time.Second, Failsafe: 6 * physic.Ampere})
	if err := c.SetCurrent(t.Context(), 16*physic.Ampere); err != nil {
		t.Fatal(err)
	}
	if _, err := c.State(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"010400040001",       // FC04 read register 4 (layout version)
		"010400640002",       // FC04 read registers 100–101 (current range)
		"011001020001020004", // FC16 register 258 = 4 (standby off)
		"01100106000102003c", // FC16 register 262 = 60 (fail-safe 6.0 A)
		"011001010001023a98", // FC16 register 257 = 15000 ms
		"0110010500010200a0", // FC16 register 261 = 160 (16.0 A)
		"010400050001",       // FC04 read register 5 (charging state)
		"010301050001",       // FC03 read register 261 (limit)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.pdus) != len(want) {
		t.Fatalf("requests %q, want %q", rec.pdus, want)
	}
	for i := range want {
		if rec.pdus[i] != want[i] {
			t.Errorf("request %d: %s, want %s", i, rec.pdus[i], want[i])
		}
	}
}

// FuzzDecode: any pair of register values decodes without panicking; a
// defined state never fails, an undefined one always does, and the
// contactor is allowed only in state C.
func FuzzDecode(f *testing.F) {
	f.Add(uint16(7), uint16(160))
	f.Add(uint16(11), uint16(0))
	f.Add(uint16(0xffff), uint16(0xffff))
	f.Fuzz(func(t *testing.T, state, limit uint16) {
		s, err := heidelberg.Decode(heidelberg.ChargingState(state), limit)
		defined := state >= 2 && state <= 11
		if (err == nil) != defined {
			t.Fatalf("state %d: err %v", state, err)
		}
		if s.ContactorAllowed && s.CP != hal.CPStateC {
			t.Fatalf("state %d: contactor allowed in %s", state, s.CP)
		}
		if s.Offered != 0 && s.Offered != physic.ElectricCurrent(limit)*100*physic.MilliAmpere {
			t.Fatalf("state %d limit %d: offered %s", state, limit, s.Offered)
		}
	})
}
