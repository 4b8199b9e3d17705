package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/hal"
)

// Registers of the Heidelberg Energy Control wallbox that EnergyControl
// serves (the map is documented, with its sources, in package
// hal/heidelberg, whose client this simulator is the counterpart of).
// Input registers (FC04) are read-only; holding registers (FC03, written
// with FC06 or FC16) configure the box.
const (
	ecLayoutVersion  = 4   // input: register layout version
	ecChargingState  = 5   // input: 2 A1 … 11 error
	ecCurrentL1      = 6   // input: 6–8 current per phase, 0.1 A
	ecTemperature    = 9   // input: PCB temperature, 0.1 °C
	ecVoltageL1      = 10  // input: 10–12 voltage per phase, V
	ecLockState      = 13  // input: external lock, 1 = unlocked
	ecPower          = 14  // input: power L1+L2+L3, W (VA)
	ecEnergyPowerOn  = 15  // input: 15–16 energy since power-on, VAh (high word first)
	ecEnergyInstall  = 17  // input: 17–18 energy since installation, VAh
	ecHWMaxCurrent   = 100 // input: hardware maximum current, A (rotary switch)
	ecHWMinCurrent   = 101 // input: hardware minimum current, A
	ecWatchdog       = 257 // holding: watchdog timeout, ms (0: off)
	ecStandby        = 258 // holding: standby function (0 enabled, 4 disabled)
	ecRemoteLock     = 259 // holding: remote lock (0 locked, 1 unlocked)
	ecMaxCurrent     = 261 // holding: current limit, 0.1 A (0 or 60…160)
	ecFailsafe       = 262 // holding: current after a watchdog timeout, 0.1 A
	ecLayoutV        = 0x0108
	ecDefaultWatchMS = 15000
)

// EnergyControlOptions tune a simulated Heidelberg Energy Control.
type EnergyControlOptions struct {
	// Unit is the Modbus address (default 1).
	Unit uint8
	// Phases is the number of phases the vehicle draws on (default 3).
	Phases int
	// HWMax is the rotary-switch maximum, 6–16 A (default 16 A).
	HWMax physic.ElectricCurrent
}

// EnergyControl is a simulated Heidelberg Energy Control wallbox on Modbus
// TCP, with a Vehicle behind its own control pilot. It behaves like the box
// as its register table describes it: the vehicle is offered the current
// limit (register 261) while the box is unlocked, the charging state
// follows the vehicle (A1 … C2, E, F when remotely locked), and when no
// request arrives within the watchdog timeout (register 257) the limit
// falls back to the fail-safe current (register 262). Faults: Silence
// (requests get no answer, as on a dead bus) and DeviceError (state 11).
// It is safe for concurrent use.
type EnergyControl struct {
	v      *Vehicle
	unit   uint8
	phases int
	hwMax  uint16 // A

	mu        sync.Mutex
	hold      map[uint16]uint16
	lastReq   time.Time
	silence   int
	devErr    bool
	energyVAs float64 // VA·s since power-on
	energyAt  time.Time
	lastOffer physic.ElectricCurrent
	onOffer   []func(physic.ElectricCurrent)
	requests  int
}

// NewEnergyControl returns a box in a power-on state: unlocked, limit at
// the hardware maximum, standby enabled, watchdog 15 s, fail-safe 0 A (the
// simulator's choices; the register table does not fix them), reporting
// layout version 0x0108, with v behind its cable.
func NewEnergyControl(v *Vehicle, opts EnergyControlOptions) *EnergyControl {
	if opts.Unit == 0 {
		opts.Unit = 1
	}
	if opts.Phases <= 0 || opts.Phases > 3 {
		opts.Phases = 3
	}
	if opts.HWMax < hal.MinCurrent || opts.HWMax > 16*physic.Ampere {
		opts.HWMax = 16 * physic.Ampere
	}
	hw := uint16(opts.HWMax / physic.Ampere)
	now := time.Now()
	e := &EnergyControl{
		v: v, unit: opts.Unit, phases: opts.Phases, hwMax: hw,
		hold: map[uint16]uint16{
			ecWatchdog: ecDefaultWatchMS, ecStandby: 0, ecRemoteLock: 1,
			ecMaxCurrent: hw * 10, ecFailsafe: 0,
		},
		lastReq: now, energyAt: now,
	}
	e.mu.Lock()
	e.refreshLocked(now)
	e.mu.Unlock()
	return e
}

// Vehicle returns the vehicle behind the box.
func (e *EnergyControl) Vehicle() *Vehicle { return e.v }

// OnOffer registers f, called with every change of the current the box
// offers its vehicle (the demo connects metersim's setpoint to it, so the
// meter's load follows).
func (e *EnergyControl) OnOffer(f func(physic.ElectricCurrent)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onOffer = append(e.onOffer, f)
}

// Silence makes the box ignore the next n requests (no reply at all).
func (e *EnergyControl) Silence(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.silence = n
}

// DeviceError puts the box into (or out of) its error state, 11.
func (e *EnergyControl) DeviceError(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.devErr = on
	e.refreshLocked(time.Now())
}

// Register returns a holding register's value (for tests).
func (e *EnergyControl) Register(addr uint16) uint16 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hold[addr]
}

// Offered is the current the box offers its vehicle now.
func (e *EnergyControl) Offered() physic.ElectricCurrent {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refreshLocked(time.Now())
	return e.lastOffer
}

// limitLocked is the effective limit in 0.1 A: the fail-safe current once
// the watchdog ran out, else register 261; 0 while remotely locked or in
// error.
func (e *EnergyControl) limitLocked(now time.Time) uint16 {
	if e.devErr || e.hold[ecRemoteLock] == 0 {
		return 0
	}
	if wd := e.hold[ecWatchdog]; wd > 0 && now.Sub(e.lastReq) > time.Duration(wd)*time.Millisecond {
		return e.hold[ecFailsafe]
	}
	return e.hold[ecMaxCurrent]
}

// refreshLocked tells the vehicle the current limit and integrates energy.
func (e *EnergyControl) refreshLocked(now time.Time) {
	if dt := now.Sub(e.energyAt).Seconds(); dt > 0 {
		e.energyVAs += e.powerLocked() * dt
		e.energyAt = now
	}
	offer := physic.ElectricCurrent(e.limitLocked(now)) * 100 * physic.MilliAmpere
	if offer < hal.MinCurrent {
		offer = 0
	}
	if offer != e.lastOffer {
		e.lastOffer = offer
		e.v.Offer(offer)
		for _, f := range e.onOffer {
			f(offer)
		}
	}
}

// powerLocked is the power drawn now, VA, at 230 V per phase.
func (e *EnergyControl) powerLocked() float64 {
	return float64(e.v.Drawing()) / float64(physic.Ampere) * 230 * float64(e.phases)
}

// chargingStateLocked is register 5.
func (e *EnergyControl) chargingStateLocked(now time.Time) uint16 {
	if e.devErr {
		return 11
	}
	if e.hold[ecRemoteLock] == 0 {
		return 10
	}
	allows := uint16(0)
	if e.limitLocked(now) >= 60 {
		allows = 1
	}
	switch e.v.State() {
	case hal.CPStateA:
		return 2 + allows
	case hal.CPStateB:
		return 4 + allows
	case hal.CPStateC, hal.CPStateD:
		return 6 + allows
	case hal.CPStateE:
		return 9
	}
	return 10
}

// inputLocked returns input register addr, and whether it exists.
func (e *EnergyControl) inputLocked(addr uint16, now time.Time) (uint16, bool) {
	amps10 := uint16(e.v.Drawing() / (100 * physic.MilliAmpere))
	vah := uint32(e.energyVAs / 3600)
	switch {
	case addr == ecLayoutVersion:
		return ecLayoutV, true
	case addr == ecChargingState:
		return e.chargingStateLocked(now), true
	case addr >= ecCurrentL1 && addr < ecCurrentL1+3:
		if int(addr-ecCurrentL1) < e.phases {
			return amps10, true
		}
		return 0, true
	case addr == ecTemperature:
		return 325, true
	case addr >= ecVoltageL1 && addr < ecVoltageL1+3:
		return 230, true
	case addr == ecLockState:
		return 1, true
	case addr == ecPower:
		return uint16(e.powerLocked()), true
	case addr == ecEnergyPowerOn, addr == ecEnergyInstall:
		return uint16(vah >> 16), true
	case addr == ecEnergyPowerOn+1, addr == ecEnergyInstall+1:
		return uint16(vah), true
	case addr == ecHWMaxCurrent:
		return e.hwMax, true
	case addr == ecHWMinCurrent:
		return 6, true
	}
	return 0, false
}

// writeLocked validates and stores a holding register; it returns a Modbus
// exception code, 0 on success.
func (e *EnergyControl) writeLocked(addr, v uint16) byte {
	switch addr {
	case ecWatchdog:
	case ecStandby:
		if v != 0 && v != 4 {
			return 3
		}
	case ecRemoteLock:
		if v > 1 {
			return 3
		}
	case ecMaxCurrent, ecFailsafe:
		if v != 0 && (v < 60 || v > e.hwMax*10) {
			return 3
		}
	default:
		return 2
	}
	e.hold[addr] = v
	return 0
}

// handle answers one request PDU; nil means no reply.
func (e *EnergyControl) handle(pdu []byte) []byte {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.silence > 0 {
		e.silence--
		return nil
	}
	e.requests++
	e.refreshLocked(now)
	e.lastReq = now // any request feeds the watchdog
	defer e.refreshLocked(now)
	exc := func(code byte) []byte { return []byte{pdu[0] | 0x80, code} }
	if len(pdu) < 5 {
		return exc(3)
	}
	fc := pdu[0]
	addr, n := binary.BigEndian.Uint16(pdu[1:]), binary.BigEndian.Uint16(pdu[3:])
	switch fc {
	case 0x03, 0x04:
		if n == 0 || n > 125 || len(pdu) != 5 {
			return exc(3)
		}
		out := []byte{fc, byte(2 * n)}
		for a := addr; a < addr+n; a++ {
			var v uint16
			var ok bool
			if fc == 0x04 {
				v, ok = e.inputLocked(a, now)
			} else {
				v, ok = e.hold[a]
			}
			if !ok {
				return exc(2)
			}
			out = binary.BigEndian.AppendUint16(out, v)
		}
		return out
	case 0x06:
		if len(pdu) != 5 {
			return exc(3)
		}
		if code := e.writeLocked(addr, n); code != 0 {
			return exc(code)
		}
		return append([]byte(nil), pdu...)
	case 0x10:
		if n == 0 || n > 123 || len(pdu) != 6+2*int(n) || int(pdu[5]) != 2*int(n) {
			return exc(3)
		}
		for i := range n {
			if code := e.writeLocked(addr+i, binary.BigEndian.Uint16(pdu[6+2*i:])); code != 0 {
				return exc(code)
			}
		}
		return []byte{fc, pdu[1], pdu[2], pdu[3], pdu[4]}
	}
	return exc(1)
}

// ServeTCP serves the box as Modbus TCP (MBAP framing) on ln until ctx ends;
// each connection on its own goroutine, requests on one connection answered
// in order. Requests for another unit get no reply.
func (e *EnergyControl) ServeTCP(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			cstop := context.AfterFunc(ctx, func() { _ = c.Close() })
			defer cstop()
			e.serveConn(c)
		}()
	}
}

// serveConn answers MBAP requests (Modbus Messaging on TCP/IP
// Implementation Guide v1.0b §3.1.3) until the connection ends.
func (e *EnergyControl) serveConn(c net.Conn) {
	hdr := make([]byte, 7)
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[4:]))
		if binary.BigEndian.Uint16(hdr[2:]) != 0 || n < 2 || n > 254 {
			return // not Modbus: drop the connection
		}
		pdu := make([]byte, n-1)
		if _, err := io.ReadFull(c, pdu); err != nil {
			return
		}
		if hdr[6] != e.unit {
			continue
		}
		reply := e.handle(pdu)
		if reply == nil {
			continue
		}
		out := make([]byte, 7, 7+len(reply))
		copy(out, hdr[:4])
		binary.BigEndian.PutUint16(out[4:], uint16(len(reply)+1))
		out[6] = hdr[6]
		if _, err := c.Write(append(out, reply...)); err != nil {
			return
		}
	}
}
