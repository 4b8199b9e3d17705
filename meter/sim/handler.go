package sim

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/chargegate/chargegate/meter"
)

// reply is how the simulator answers one request; the transport applies it.
type reply struct {
	pdu      []byte // nil: no reply
	unit     byte
	delay    time.Duration
	badCRC   bool
	truncate bool
	drop     bool // no reply; TCP closes the connection
}

func exception(fc, code byte) []byte { return []byte{fc | 0x80, code} }

// handle answers one request PDU addressed to unit on this bus.
func (b *Bus) handle(unit byte, pdu []byte) reply {
	s := b.sim
	m, ok := b.units[unit]
	if !ok || len(pdu) == 0 {
		return reply{} // nobody there: silence, as on a real bus (and broadcasts get no reply)
	}
	s.requests.Add(1)
	now := s.clock.Now()
	eff := s.activeFaults(m, now)
	r := reply{unit: unit, delay: s.replyDelay}
	if f := eff.wire; f != nil {
		switch f.Kind {
		case FaultNoReply:
			return reply{}
		case FaultDrop:
			return reply{drop: true}
		case FaultException:
			r.pdu = exception(pdu[0], f.Code)
			return r
		case FaultLate:
			d := time.Duration(f.DelayMS) * time.Millisecond
			if d == 0 {
				d = 2 * time.Second
			}
			r.delay += d
		case FaultBadCRC:
			r.badCRC = true
		case FaultTruncate:
			r.truncate = true
		case FaultWrongUnit:
			r.unit = unit + 1
		}
	}
	r.pdu = m.serve(now, pdu, eff)
	return r
}

// serve executes a request on the meter's registers.
func (m *Meter) serve(now time.Time, pdu []byte, eff effects) []byte {
	fc := pdu[0]
	m.mu.Lock()
	defer m.mu.Unlock()
	m.load.advance(now)
	for _, f := range eff.events {
		m.applyEvent(f)
	}
	switch fc {
	case 0x03, 0x04:
		if len(pdu) != 5 {
			return exception(fc, 3)
		}
		addr := binary.BigEndian.Uint16(pdu[1:])
		count := binary.BigEndian.Uint16(pdu[3:])
		table := meter.Table(fc)
		if count == 0 || count > 125 || int(count) > m.model.MaxRegs {
			return exception(fc, 3)
		}
		// Eastron: even counts only; a single register is allowed (type-specific value).
		if m.model.EvenOnly && count%2 == 1 && count != 1 {
			return exception(fc, 3)
		}
		if !m.readable(table, addr, count) {
			return exception(fc, 2)
		}
		regs := m.registers(now, table, addr, count, eff)
		out := make([]byte, 2, 2+2*len(regs))
		out[0], out[1] = fc, byte(2*len(regs))
		for _, r := range regs {
			out = binary.BigEndian.AppendUint16(out, r)
		}
		return out
	case 0x06, 0x10:
		return m.write(now, pdu)
	}
	return exception(fc, 1)
}

func (m *Meter) readable(t meter.Table, addr, count uint16) bool {
	end := uint32(addr) + uint32(count)
	for _, b := range m.model.readable {
		if b.Table != t && !m.model.aliased {
			continue
		}
		if addr >= b.Addr && end <= uint32(b.Addr)+uint32(b.Count) {
			return true
		}
	}
	return false
}

// registers renders count registers at addr from the meter's state.
func (m *Meter) registers(now time.Time, t meter.Table, addr, count uint16, eff effects) []uint16 {
	out := make([]uint16, count)
	if eff.absent {
		for i := range out {
			out[i] = 0xFFFF
		}
		return out
	}
	if eff.zeros {
		return out
	}
	var s sample
	imp, exp := m.load.importWh, m.load.exportWh
	if eff.stuck {
		if m.stuckAt == nil {
			m.stuckAt = &[2]float64{imp, exp}
		}
		imp, exp = m.stuckAt[0], m.stuckAt[1]
	} else {
		m.stuckAt = nil
	}
	if eff.frozen {
		if m.frozenAt == nil {
			m.frozenAt = &frozenImage{s: m.load.sampleAt(now, m.model.Phases, m.rng), importWh: imp, exportWh: exp}
		}
		s, imp, exp = m.frozenAt.s, m.frozenAt.importWh, m.frozenAt.exportWh
	} else {
		m.frozenAt = nil
		s = m.load.sampleAt(now, m.model.Phases, m.rng)
	}
	put := func(at uint16, regs []uint16) {
		for i, r := range regs {
			a := int(at) + i - int(addr)
			if a >= 0 && a < len(out) {
				out[a] = r
			}
		}
	}
	if m.model.static != nil {
		for a, v := range m.model.static[t] {
			put(a, []uint16{v})
		}
	}
	end := uint32(addr) + uint32(count)
	for _, f := range append(m.model.Fields, m.model.CodeField) {
		if f.Table != t && !m.model.aliased {
			continue
		}
		words := f.Words
		if f.Kind != meter.ASCII {
			words = f.Kind.Words()
		}
		if uint32(f.Addr)+uint32(words) <= uint32(addr) || uint32(f.Addr) >= end {
			continue
		}
		exp10 := f.Exp
		if f.ExpFrom != 0 {
			exp10 += m.model.scales[f.ExpFrom]
		}
		var v float64
		var text string
		switch f.Q {
		case meter.VoltageL1, meter.VoltageL2, meter.VoltageL3:
			v = s.voltage[f.Q-meter.VoltageL1]
		case meter.CurrentL1, meter.CurrentL2, meter.CurrentL3:
			v = s.current[f.Q-meter.CurrentL1]
		case meter.PowerL1, meter.PowerL2, meter.PowerL3:
			v = s.power[f.Q-meter.PowerL1]
		case meter.PowerTotal:
			v = s.total
		case meter.Frequency:
			v = s.freq
		case meter.EnergyImport:
			v = quantise(m.model, f, imp*1000, exp10)
		case meter.EnergyExport:
			v = quantise(m.model, f, exp*1000, exp10)
		case meter.Serial:
			text = m.serial
			v = serialNumber(m.serial)
		case meter.Firmware:
			text = m.firmware
			v = float64(binary.BigEndian.Uint16([]byte{0x01, 0x03}))
		case meter.ModelCode:
			if len(m.model.Codes) > 0 {
				v = float64(m.model.Codes[0])
			}
			if len(m.model.Prefixes) > 0 {
				text = m.model.Prefixes[0]
				if m.sign != nil {
					text = "WM3M4C"
				}
			}
		case meter.Scale:
			v = float64(m.model.scales[f.Addr])
			exp10 = 0
		}
		put(f.Addr, meter.EncodeField(f, v, exp10, text))
	}
	if m.sign != nil && t == meter.Holding {
		for i := range out {
			if v, ok := m.sign.regs[addr+uint16(i)]; ok {
				out[i] = v
			}
		}
	}
	return out
}

// quantise truncates an energy (mWh) to what the meter's counter resolves: integer formats
// count whole steps (a counter never rounds up), floats keep float32 resolution (done by
// the encoder).
func quantise(_ *simModel, f meter.Field, mwh float64, exp10 int) float64 {
	if f.Kind == meter.Float32 {
		return mwh
	}
	step := math.Pow10(exp10)
	return math.Floor(mwh/step) * step
}

func serialNumber(s string) float64 {
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			// Not numeric: a stable hash keeps a changed serial visible.
			n = n*31 + uint64(c)
			continue
		}
		n = n*10 + uint64(c-'0')
	}
	return float64(n % (1 << 32))
}
