package meter

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Signer is implemented by meters that sign their own readings (Iskra WM3M4C). The gateway
// type-asserts a *Meter to it:
//
//	if s, ok := any(m).(meter.Signer); ok && s.Signs() { ... }
//
// BeginTransaction starts a signed session in the meter; EndTransaction ends it and returns
// the meter's OCMF record ("OCMF|payload|{"SA":...,"SD":hex}") byte for byte as built from
// the meter's payload and signature registers; PublicKey returns the meter's P-256 key as
// DER SubjectPublicKeyInfo. Each fails with the Modbus errors of Read, or with a
// *SignatureStatusError when the meter reports a signing error.
type Signer interface {
	Signs() bool
	BeginTransaction(ctx context.Context, id string) error
	EndTransaction(ctx context.Context) (record []byte, err error)
	PublicKey(ctx context.Context) ([]byte, error)
}

// Iskra WM3M4C OCMF registers (holding, FC03/FC06/FC16), from the Iskra WM3M4 user manual
// v1.14 §6.5 as used by EVerest RsIskraMeter (main.rs):
const (
	IskraRegState       = 7000 // measurement state: 0 idle, 1 active, 2 active after power failure, 3 after reset
	IskraRegCommand     = 7051 // write 'B'<<8 to begin, 'r'<<8 to end a transaction
	IskraRegSigStatus   = 7052 // 1 idle, 2 in progress, 15 signature OK, >= 128 error
	IskraRegTZ          = 7053 // UTC offset in minutes
	IskraRegTime        = 7054 // Unix time, two registers, high word first
	IskraRegMetaLen     = 7056 // length in bytes of the metadata at 7100
	IskraRegPayloadLen  = 7057 // length in bytes of the signed payload at 7612
	IskraRegSigLen      = 7058 // length in bytes of the signature at 8188
	IskraRegAlgorithm   = 7059 // 0 = ECDSA P-256 / SHA-256
	IskraRegTimeStatus  = 7071 // 2 = synchronised
	IskraRegMeta        = 7100 // OCMF metadata (JSON object text), two characters per register
	IskraRegPublicKey   = 8124 // 32 registers: the 64-byte uncompressed P-256 point X||Y
	IskraRegPayload     = 7612 // signed OCMF payload text
	IskraRegSignature   = 8188 // DER signature bytes
	IskraCmdBegin       = 0x4200
	IskraCmdEnd         = 0x7200
	IskraSignatureOK    = 15
	iskraSignaturePoll  = 20 * time.Millisecond
	iskraSignatureLimit = 15 * time.Second
)

// p256SPKIPrefix is the DER SubjectPublicKeyInfo header of an uncompressed P-256 key; the
// 64 bytes X||Y follow it.
const p256SPKIPrefix = "\x30\x59\x30\x13\x06\x07\x2A\x86\x48\xCE\x3D\x02\x01\x06\x08\x2A\x86\x48\xCE\x3D\x03\x01\x07\x03\x42\x00\x04"

// P256SPKI wraps the 64-byte uncompressed P-256 point X||Y (what the WM3M4C holds at
// register 8124) as DER SubjectPublicKeyInfo.
func P256SPKI(xy []byte) []byte {
	return append([]byte(p256SPKIPrefix), xy...)
}

// SignatureStatusError is a signing failure the meter reported in register 7052.
type SignatureStatusError struct{ Status uint16 }

// Error gives the meter's status code.
func (e *SignatureStatusError) Error() string {
	return fmt.Sprintf("meter signature status %d", e.Status)
}

type iskraSigner struct {
	m       *Meter
	pending []byte
}

// Signs reports whether the meter signs its readings (only then do the other Signer
// methods work).
// Before the model is resolved (Model "auto" and no poll yet) it reports false.
func (m *Meter) Signs() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.signer != nil
}

// BeginTransaction starts a signed transaction with the given ID (written into the OCMF
// metadata as identification data).
func (m *Meter) BeginTransaction(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.resolve(ctx); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if m.signer == nil {
		return fmt.Errorf("begin transaction: model %s does not sign", m.model.Name)
	}
	return m.signer.begin(ctx, id)
}

// EndTransaction ends the running transaction and returns the meter-signed OCMF record.
func (m *Meter) EndTransaction(ctx context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.resolve(ctx); err != nil {
		return nil, fmt.Errorf("end transaction: %w", err)
	}
	if m.signer == nil {
		return nil, fmt.Errorf("end transaction: model %s does not sign", m.model.Name)
	}
	return m.signer.end(ctx)
}

// PublicKey returns the meter's signing key as DER SubjectPublicKeyInfo.
func (m *Meter) PublicKey(ctx context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.resolve(ctx); err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if m.signer == nil {
		return nil, fmt.Errorf("public key: model %s does not sign", m.model.Name)
	}
	regs, err := m.bus.ReadRegisters(ctx, m.unit, Holding, IskraRegPublicKey, 32)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	xy := make([]byte, 0, 64)
	for _, r := range regs {
		xy = binary.BigEndian.AppendUint16(xy, r)
	}
	return P256SPKI(xy), nil
}

func (s *iskraSigner) begin(ctx context.Context, id string) error {
	bus, unit := s.m.bus, s.m.unit
	st, err := bus.ReadRegisters(ctx, unit, Holding, IskraRegState, 1)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if st[0] != 0 {
		return fmt.Errorf("begin transaction: meter state %d, a transaction is already running", st[0])
	}
	now := time.Now().Unix()
	if err := bus.WriteRegisters(ctx, unit, IskraRegTZ, []uint16{0, uint16(now >> 16), uint16(now)}); err != nil {
		return fmt.Errorf("begin transaction: set clock: %w", err)
	}
	if err := bus.WriteRegisters(ctx, unit, IskraRegTimeStatus, []uint16{2}); err != nil {
		return fmt.Errorf("begin transaction: mark clock synchronised: %w", err)
	}
	meta, err := json.Marshal(map[string]any{
		"FV": "1.0", "GI": "chargegate", "PG": "T1",
		"IS": id != "", "IT": "NONE", "ID": strings.ReplaceAll(id, "|", " "),
	})
	if err != nil {
		return fmt.Errorf("begin transaction: encode metadata: %w", err)
	}
	if err := writeText(ctx, bus, unit, IskraRegMeta, meta); err != nil {
		return fmt.Errorf("begin transaction: write metadata: %w", err)
	}
	if err := bus.WriteRegisters(ctx, unit, IskraRegMetaLen, []uint16{uint16(len(meta))}); err != nil {
		return fmt.Errorf("begin transaction: write metadata length: %w", err)
	}
	if err := bus.WriteRegisters(ctx, unit, IskraRegCommand, []uint16{IskraCmdBegin}); err != nil {
		return fmt.Errorf("begin transaction: command: %w", err)
	}
	if err := waitRegister(ctx, bus, unit, IskraRegState, 1); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	return waitSignature(ctx, bus, unit)
}

func (s *iskraSigner) end(ctx context.Context) ([]byte, error) {
	bus, unit := s.m.bus, s.m.unit
	if err := bus.WriteRegisters(ctx, unit, IskraRegCommand, []uint16{IskraCmdEnd}); err != nil {
		return nil, fmt.Errorf("end transaction: command: %w", err)
	}
	if err := waitRegister(ctx, bus, unit, IskraRegState, 0); err != nil {
		return nil, fmt.Errorf("end transaction: %w", err)
	}
	if err := waitSignature(ctx, bus, unit); err != nil {
		return nil, fmt.Errorf("end transaction: %w", err)
	}
	lens, err := bus.ReadRegisters(ctx, unit, Holding, IskraRegPayloadLen, 2)
	if err != nil {
		return nil, fmt.Errorf("end transaction: read lengths: %w", err)
	}
	payload, err := readBytes(ctx, bus, unit, IskraRegPayload, int(lens[0]))
	if err != nil {
		return nil, fmt.Errorf("end transaction: read payload: %w", err)
	}
	sig, err := readBytes(ctx, bus, unit, IskraRegSignature, int(lens[1]))
	if err != nil {
		return nil, fmt.Errorf("end transaction: read signature: %w", err)
	}
	rec := make([]byte, 0, len(payload)+2*len(sig)+48)
	rec = append(rec, "OCMF|"...)
	rec = append(rec, payload...)
	rec = append(rec, `|{"SA":"ECDSA-secp256r1-SHA256","SD":"`...)
	rec = append(rec, strings.ToUpper(hex.EncodeToString(sig))...)
	rec = append(rec, `"}`...)
	s.pending = rec
	return rec, nil
}

func waitRegister(ctx context.Context, bus *Bus, unit uint8, addr, want uint16) error {
	return pollRegister(ctx, bus, unit, addr, func(v uint16) (bool, error) { return v == want, nil })
}

func waitSignature(ctx context.Context, bus *Bus, unit uint8) error {
	return pollRegister(ctx, bus, unit, IskraRegSigStatus, func(v uint16) (bool, error) {
		switch {
		case v == IskraSignatureOK:
			return true, nil
		case v >= 128:
			return false, &SignatureStatusError{Status: v}
		}
		return false, nil
	})
}

func pollRegister(ctx context.Context, bus *Bus, unit uint8, addr uint16, done func(uint16) (bool, error)) error {
	deadline := time.Now().Add(iskraSignatureLimit)
	for {
		v, err := bus.ReadRegisters(ctx, unit, Holding, addr, 1)
		if err != nil {
			return err
		}
		ok, err := done(v[0])
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("register %d stuck at %d: %w", addr, v[0], ErrTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(iskraSignaturePoll):
		}
	}
}

func writeText(ctx context.Context, bus *Bus, unit uint8, addr uint16, b []byte) error {
	regs := encodeASCII(string(b), (len(b)+1)/2)
	for len(regs) > 0 {
		n := min(len(regs), 120)
		if err := bus.WriteRegisters(ctx, unit, addr, regs[:n]); err != nil {
			return err
		}
		regs, addr = regs[n:], addr+uint16(n)
	}
	return nil
}

func readBytes(ctx context.Context, bus *Bus, unit uint8, addr uint16, n int) ([]byte, error) {
	if n <= 0 || n > 4096 {
		return nil, errors.New("length out of range")
	}
	out := make([]byte, 0, n+1)
	words := (n + 1) / 2
	for words > 0 {
		c := min(words, 125)
		regs, err := bus.ReadRegisters(ctx, unit, Holding, addr, uint16(c))
		if err != nil {
			return nil, err
		}
		for _, r := range regs {
			out = binary.BigEndian.AppendUint16(out, r)
		}
		words -= c
		addr += uint16(c)
	}
	return out[:n], nil
}
