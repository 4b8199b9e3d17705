package sim

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"time"

	"github.com/chargegate/chargegate/meter"
)

// signState emulates the OCMF part of an Iskra WM3M4C with the simulator's own P-256 key:
// a transaction is begun and ended through register 7051, and the end writes the signed
// OCMF payload (7057/7612) and the DER signature (7058/8188). See meter.IskraReg*.
type signState struct {
	key   *ecdsa.PrivateKey
	regs  map[uint16]uint16 // writable and computed holding registers
	begin struct {
		t   time.Time
		wh  float64
		set bool
	}
}

// write handles FC06 and FC16 (only the signing model has writable registers).
func (m *Meter) write(now time.Time, pdu []byte) []byte {
	fc := pdu[0]
	if m.sign == nil {
		return exception(fc, 1)
	}
	var addr uint16
	var vals []uint16
	switch {
	case fc == 0x06 && len(pdu) == 5:
		addr = binary.BigEndian.Uint16(pdu[1:])
		vals = []uint16{binary.BigEndian.Uint16(pdu[3:])}
	case fc == 0x10 && len(pdu) >= 6:
		addr = binary.BigEndian.Uint16(pdu[1:])
		n := int(binary.BigEndian.Uint16(pdu[3:]))
		if n == 0 || n > 123 || int(pdu[5]) != 2*n || len(pdu) != 6+2*n {
			return exception(fc, 3)
		}
		for i := range n {
			vals = append(vals, binary.BigEndian.Uint16(pdu[6+2*i:]))
		}
	default:
		return exception(fc, 3)
	}
	ok := false
	for _, b := range m.model.writable {
		ok = ok || (addr >= b.Addr && uint32(addr)+uint32(len(vals)) <= uint32(b.Addr)+uint32(b.Count))
	}
	for i := range vals {
		switch addr + uint16(i) {
		case meter.IskraRegState, meter.IskraRegSigStatus, meter.IskraRegPayloadLen, meter.IskraRegSigLen:
			ok = false // read-only
		}
	}
	if !ok {
		return exception(fc, 2)
	}
	for i, v := range vals {
		m.sign.regs[addr+uint16(i)] = v
	}
	if addr == meter.IskraRegCommand {
		if status := m.command(now, vals[0]); status != meter.IskraSignatureOK {
			m.sign.regs[meter.IskraRegSigStatus] = status
		}
	}
	if fc == 0x06 {
		return append([]byte(nil), pdu...)
	}
	return []byte{fc, pdu[1], pdu[2], pdu[3], pdu[4]}
}

// command executes a begin or end command; it returns the new signature status.
func (m *Meter) command(now time.Time, cmd uint16) uint16 {
	st := m.sign
	state := st.regs[meter.IskraRegState]
	switch cmd {
	case meter.IskraCmdBegin:
		if state != 0 {
			return 131 // invalid state
		}
		st.regs[meter.IskraRegState] = 1
		st.begin.t, st.begin.wh, st.begin.set = now, m.load.importWh, true
		st.regs[meter.IskraRegSigStatus] = meter.IskraSignatureOK
		return meter.IskraSignatureOK
	case meter.IskraCmdEnd:
		if state == 0 || !st.begin.set {
			return 131
		}
		payload, err := m.ocmfPayload(now)
		if err != nil {
			return 252 // invalid message format
		}
		digest := sha256.Sum256(payload)
		sig, err := ecdsa.SignASN1(rand.Reader, st.key, digest[:])
		if err != nil {
			return 254
		}
		st.putBytes(meter.IskraRegPayload, payload)
		st.putBytes(meter.IskraRegSignature, sig)
		st.regs[meter.IskraRegPayloadLen] = uint16(len(payload))
		st.regs[meter.IskraRegSigLen] = uint16(len(sig))
		st.regs[meter.IskraRegState] = 0
		st.regs[meter.IskraRegSigStatus] = meter.IskraSignatureOK
		st.begin.set = false
		return meter.IskraSignatureOK
	}
	return 130 // invalid command
}

func (st *signState) putBytes(addr uint16, b []byte) {
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	for i := 0; i < len(b); i += 2 {
		st.regs[addr+uint16(i/2)] = binary.BigEndian.Uint16(b[i:])
	}
}

func (st *signState) text(addr uint16, n int) []byte {
	out := make([]byte, 0, n+1)
	for i := 0; i < (n+1)/2; i++ {
		out = binary.BigEndian.AppendUint16(out, st.regs[addr+uint16(i)])
	}
	return out[:n]
}

// ocmfReading is one RD entry of an OCMF payload.
type ocmfReading struct {
	TM string      `json:"TM"`
	TX string      `json:"TX"`
	RV json.Number `json:"RV"`
	RI string      `json:"RI"`
	RU string      `json:"RU"`
	ST string      `json:"ST"`
}

// ocmfPayload builds the payload the way the meter does: the metadata the controller wrote
// (7100, length 7056), the meter's identity, and the begin and end readings.
func (m *Meter) ocmfPayload(now time.Time) ([]byte, error) {
	st := m.sign
	var meta struct {
		FV string   `json:"FV"`
		GI string   `json:"GI"`
		GS string   `json:"GS"`
		GV string   `json:"GV"`
		PG string   `json:"PG"`
		IS bool     `json:"IS"`
		IF []string `json:"IF"`
		IT string   `json:"IT"`
		ID string   `json:"ID"`
	}
	if n := int(st.regs[meter.IskraRegMetaLen]); n > 0 {
		if err := json.Unmarshal(st.text(meter.IskraRegMeta, min(n, 1024)), &meta); err != nil {
			return nil, err
		}
	}
	if meta.FV == "" {
		meta.FV = "1.0"
	}
	if meta.IF == nil {
		meta.IF = []string{}
	}
	status := "U"
	if st.regs[meter.IskraRegTimeStatus] == 2 {
		status = "S"
	}
	tm := func(t time.Time) string {
		return t.UTC().Format("2006-01-02T15:04:05,000+0000") + " " + status
	}
	kwh := func(wh float64) json.Number {
		return json.Number(strconv.FormatFloat(float64(int64(wh*10))/10000, 'f', 4, 64))
	}
	payload := struct {
		FV string        `json:"FV"`
		GI string        `json:"GI"`
		GS string        `json:"GS"`
		GV string        `json:"GV"`
		PG string        `json:"PG"`
		MV string        `json:"MV"`
		MM string        `json:"MM"`
		MS string        `json:"MS"`
		MF string        `json:"MF"`
		IS bool          `json:"IS"`
		IF []string      `json:"IF"`
		IT string        `json:"IT"`
		ID string        `json:"ID"`
		RD []ocmfReading `json:"RD"`
	}{
		FV: meta.FV, GI: meta.GI, GS: meta.GS, GV: meta.GV, PG: meta.PG,
		MV: "Iskra", MM: "WM3M4C", MS: m.serial, MF: m.firmware,
		IS: meta.IS, IF: meta.IF, IT: meta.IT, ID: meta.ID,
		RD: []ocmfReading{
			{TM: tm(st.begin.t), TX: "B", RV: kwh(st.begin.wh), RI: "01-00:01.08.00.FF", RU: "kWh", ST: "G"},
			{TM: tm(now), TX: "E", RV: kwh(m.load.importWh), RI: "01-00:01.08.00.FF", RU: "kWh", ST: "G"},
		},
	}
	return json.Marshal(payload)
}

// PublicKeyDER returns the simulated meter's signing key as DER SubjectPublicKeyInfo (nil
// for models that do not sign).
func (m *Meter) PublicKeyDER() []byte {
	if m.sign == nil {
		return nil
	}
	raw, err := m.sign.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil
	}
	return meter.P256SPKI(raw[1:])
}
