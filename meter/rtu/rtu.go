package rtu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Errors returned by Parse.
var (
	// ErrShort means the frame is shorter than unit + function + CRC.
	ErrShort = errors.New("rtu: short frame")
	// ErrCRC means the trailing CRC does not match the frame.
	ErrCRC = errors.New("rtu: bad crc")
)

// MaxADU is the largest RTU frame the spec allows (256 bytes).
const MaxADU = 256

// CRC returns the CRC-16/MODBUS of b.
func CRC(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// Frame is one decoded RTU frame: the unit (slave) address and the protocol data unit
// (function code followed by its data).
type Frame struct {
	Unit byte
	PDU  []byte
}

// Append appends the encoded frame, CRC included, to dst.
func (f Frame) Append(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, f.Unit)
	dst = append(dst, f.PDU...)
	return binary.LittleEndian.AppendUint16(dst, CRC(dst[start:]))
}

// Parse checks the CRC of adu and splits it. The returned PDU aliases adu.
func Parse(adu []byte) (Frame, error) {
	if len(adu) < 4 {
		return Frame{}, fmt.Errorf("parse %d bytes: %w", len(adu), ErrShort)
	}
	if len(adu) > MaxADU {
		return Frame{}, fmt.Errorf("parse %d bytes: frame longer than %d", len(adu), MaxADU)
	}
	n := len(adu) - 2
	if got, want := binary.LittleEndian.Uint16(adu[n:]), CRC(adu[:n]); got != want {
		return Frame{}, fmt.Errorf("parse: crc 0x%04x, computed 0x%04x: %w", got, want, ErrCRC)
	}
	return Frame{Unit: adu[0], PDU: adu[1:n]}, nil
}

// RequestLength returns the full length of the request ADU that starts with b, once b is
// long enough to tell (ok). Unknown function codes report ok=false with need=0; callers then
// fall back to silence framing.
func RequestLength(b []byte) (n int, ok bool) {
	if len(b) < 2 {
		return 0, false
	}
	switch b[1] {
	case 0x01, 0x02, 0x03, 0x04, 0x05, 0x06:
		return 8, true
	case 0x0F, 0x10:
		if len(b) < 7 {
			return 0, false
		}
		return 9 + int(b[6]), true
	}
	return 0, false
}

// CharTime is the time one character of bits bits takes at baud.
func CharTime(baud, bits int) time.Duration {
	if baud <= 0 {
		return 0
	}
	return time.Duration(int64(bits) * int64(time.Second) / int64(baud))
}

// T35 is the inter-frame silence: 3.5 character times up to 19200 baud, 1750 µs above
// (Modbus over serial line V1.02, §2.5.1.1).
func T35(baud, bits int) time.Duration {
	if baud > 19200 {
		return 1750 * time.Microsecond
	}
	return CharTime(baud, bits) * 7 / 2
}
