package sim_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/hal/sim"
)

// TestEnergyControlExceptions talks to the simulated box with a plain
// Modbus TCP client (simonvetter/modbus, not the hal/heidelberg driver) and
// checks that it fails like the register table says a box would: unknown
// registers give exception 02, out-of-range values 03 and leave the
// register unchanged, an unsupported function 01; the offer follows the
// limit register.
func TestEnergyControlExceptions(t *testing.T) {
	box := sim.NewEnergyControl(sim.NewVehicle(sim.VehicleOptions{}), sim.EnergyControlOptions{Unit: 3})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- box.ServeTCP(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: "tcp://" + ln.Addr().String(), Timeout: time.Second, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetUnitId(3); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadRegisters(20, 1, modbus.INPUT_REGISTER); !errors.Is(err, modbus.ErrIllegalDataAddress) {
		t.Errorf("unknown input register: %v", err)
	}
	if _, err := c.ReadRegisters(260, 2, modbus.HOLDING_REGISTER); !errors.Is(err, modbus.ErrIllegalDataAddress) {
		t.Errorf("holding 260 (not defined): %v", err)
	}
	for _, v := range []uint16{59, 161} {
		if err := c.WriteRegisters(261, []uint16{v}); !errors.Is(err, modbus.ErrIllegalDataValue) {
			t.Errorf("limit %d: %v", v, err)
		}
	}
	if _, err := c.ReadCoils(0, 1); !errors.Is(err, modbus.ErrIllegalFunction) {
		t.Errorf("FC01: %v", err)
	}
	if err := c.WriteRegister(261, 80); err != nil { // FC06 works too
		t.Fatal(err)
	}
	regs, err := c.ReadRegisters(4, 2, modbus.INPUT_REGISTER)
	if err != nil || regs[0] != 0x0108 || regs[1] != 3 { // layout, A2 (allows charging)
		t.Fatalf("layout and state: %v %v", regs, err)
	}
	if got := box.Offered(); got != 8*physic.Ampere {
		t.Errorf("offer %s after limit 80, want 8 A", got)
	}
	if err := c.WriteRegisters(259, []uint16{0}); err != nil { // remote lock
		t.Fatal(err)
	}
	if regs, err := c.ReadRegisters(5, 1, modbus.INPUT_REGISTER); err != nil || regs[0] != 10 || box.Offered() != 0 {
		t.Errorf("locked: state %v %v, offer %s; want 10 (F) and nothing", regs, err, box.Offered())
	}
}
