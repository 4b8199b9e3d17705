package meter

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Table selects the Modbus register table a field lives in.
type Table uint8

// Register tables.
const (
	Input   Table = 4 // FC04 input registers
	Holding Table = 3 // FC03 holding registers
)

// Kind is the encoding of a field's registers.
type Kind uint8

// Register encodings. "ABCD" is big-endian, high word first; "CDAB" is low word first.
const (
	Float32   Kind = iota + 1 // IEEE 754 single, ABCD (Eastron, SunSpec 21x)
	Uint16                    // one register
	Int16                     // one register, two's complement
	Uint32                    // ABCD
	Int32                     // ABCD
	Int32CDAB                 // low word first (Carlo Gavazzi)
	Uint64                    // ABCD, four registers (ABB)
	IskraT5                   // Iskra T5: int8 decimal exponent, uint24 value
	IskraT6                   // Iskra T6: int8 decimal exponent, int24 value
	Acc32                     // SunSpec acc32: uint32 accumulator, ABCD
	ASCII                     // Words registers, two characters each, first character high
)

// Words is the number of registers a kind takes (ASCII: the field's own count).
func (k Kind) Words() int {
	switch k {
	case Uint16, Int16:
		return 1
	case Uint64:
		return 4
	case ASCII:
		return 0
	}
	return 2
}

// Quantity names what a field measures.
type Quantity uint8

// Quantities a Reading carries.
const (
	VoltageL1 Quantity = iota + 1
	VoltageL2
	VoltageL3
	CurrentL1
	CurrentL2
	CurrentL3
	PowerL1
	PowerL2
	PowerL3
	PowerTotal
	Frequency
	EnergyImport // cumulative import, mWh after scaling
	EnergyExport // cumulative export, mWh after scaling
	Serial       // identity
	Firmware     // identity
	ModelCode    // identity
	Scale        // a scale-factor register referenced by ExpFrom (Iskra exponent, SunSpec sunssf)
)

var quantityNames = [...]string{
	VoltageL1: "voltage L1", VoltageL2: "voltage L2", VoltageL3: "voltage L3",
	CurrentL1: "current L1", CurrentL2: "current L2", CurrentL3: "current L3",
	PowerL1: "power L1", PowerL2: "power L2", PowerL3: "power L3", PowerTotal: "total power",
	Frequency: "frequency", EnergyImport: "import energy", EnergyExport: "export energy",
	Serial: "serial", Firmware: "firmware", ModelCode: "model code", Scale: "scale factor",
}

// String names the quantity for error messages.
func (q Quantity) String() string {
	if int(q) < len(quantityNames) && quantityNames[q] != "" {
		return quantityNames[q]
	}
	return fmt.Sprintf("quantity(%d)", q)
}

// Field is one row of a register map: where a quantity lives and how it is encoded.
// The decoded value is raw × 10^Exp in the quantity's unit (V, A, W, Hz; energy in mWh).
// When ExpFrom is set, the int16 at that address (same table) is added to Exp: Iskra's
// energy exponent and SunSpec scale factors.
type Field struct {
	Q        Quantity
	Table    Table
	Addr     uint16
	Kind     Kind
	Exp      int
	ExpFrom  uint16 // 0 = none
	Words    int    // ASCII only
	Optional bool   // absent on some variants: exception 02 or the invalid marker read as "not there"
}

// words is the number of registers the field occupies.
func (f Field) words() int {
	if f.Kind == ASCII {
		return f.Words
	}
	return f.Kind.Words()
}

// Block is a contiguous register range a meter answers in one request. A model's blocks
// are its read plan and, in the simulator, the registers that exist.
type Block struct {
	Table Table
	Addr  uint16
	Count uint16
}

// Image holds register values by table and address: what one poll read, kept as the
// blocks that were read (no copying, no map: filling a map was a fifth of a TCP poll's CPU
// time). Where blocks overlap, the one set last wins.
type Image struct {
	blocks []imageBlock
}

type imageBlock struct {
	t    Table
	addr uint16
	regs []uint16
}

// Set stores regs starting at addr in table t. The Image keeps regs; do not change them.
func (im *Image) Set(t Table, addr uint16, regs []uint16) {
	im.blocks = append(im.blocks, imageBlock{t: t, addr: addr, regs: regs})
}

// words returns n registers from addr, or false if any is missing. The result may alias
// the image: read it, do not change it.
func (im Image) words(t Table, addr uint16, n int) ([]uint16, bool) {
	for i := len(im.blocks) - 1; i >= 0; i-- {
		b := im.blocks[i]
		if b.t != t || addr < b.addr || int(addr-b.addr) >= len(b.regs) {
			continue
		}
		if off := int(addr - b.addr); off+n <= len(b.regs) {
			return b.regs[off : off+n], true
		}
		break // the value spans blocks: register by register
	}
	out := make([]uint16, n)
	for k := range out {
		v, ok := im.reg(t, addr+uint16(k))
		if !ok {
			return nil, false
		}
		out[k] = v
	}
	return out, true
}

// reg returns one register.
func (im Image) reg(t Table, addr uint16) (uint16, bool) {
	for i := len(im.blocks) - 1; i >= 0; i-- {
		b := im.blocks[i]
		if b.t == t && addr >= b.addr && int(addr-b.addr) < len(b.regs) {
			return b.regs[addr-b.addr], true
		}
	}
	return 0, false
}

// raw is a decoded register value before scaling: an integer or a float, or invalid.
type raw struct {
	i       int64
	f       float64
	isFloat bool
	invalid bool
}

// decodeRaw decodes w according to k and reports the format's "not available" markers as
// invalid (all ones, NaN, SunSpec and ABB sentinels).
func decodeRaw(k Kind, w []uint16) raw {
	switch k {
	case Float32:
		f := math.Float32frombits(uint32(w[0])<<16 | uint32(w[1]))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return raw{invalid: true}
		}
		return raw{f: float64(f), isFloat: true}
	case Uint16:
		return raw{i: int64(w[0]), invalid: w[0] == 0xFFFF}
	case Int16:
		v := int16(w[0])
		return raw{i: int64(v), invalid: v == math.MinInt16 || v == math.MaxInt16}
	case Uint32, Acc32:
		v := uint32(w[0])<<16 | uint32(w[1])
		return raw{i: int64(v), invalid: v == math.MaxUint32}
	case Int32:
		v := int32(uint32(w[0])<<16 | uint32(w[1]))
		return raw{i: int64(v), invalid: v == math.MinInt32 || v == math.MaxInt32}
	case Int32CDAB:
		v := int32(uint32(w[1])<<16 | uint32(w[0]))
		return raw{i: int64(v), invalid: v == math.MinInt32 || v == math.MaxInt32}
	case Uint64:
		v := uint64(w[0])<<48 | uint64(w[1])<<32 | uint64(w[2])<<16 | uint64(w[3])
		if v > math.MaxInt64 {
			return raw{invalid: true}
		}
		return raw{i: int64(v)}
	case IskraT5, IskraT6:
		v := uint32(w[0])<<16 | uint32(w[1])
		if v == math.MaxUint32 {
			return raw{invalid: true}
		}
		exp := int(int8(v >> 24))
		m := int64(v & 0xFFFFFF)
		if k == IskraT6 && m&0x800000 != 0 {
			m -= 1 << 24
		}
		return raw{f: float64(m) * math.Pow10(exp), isFloat: true}
	}
	return raw{invalid: true}
}

// encodeRaw is the inverse of decodeRaw for integers and floats (used by the simulator and
// by tests building register images). Integers wrap to the kind's width like a meter's
// counter does.
func encodeRaw(k Kind, v float64) []uint16 {
	switch k {
	case Float32:
		b := math.Float32bits(float32(v))
		return []uint16{uint16(b >> 16), uint16(b)}
	case Uint16, Int16:
		return []uint16{uint16(int64(math.Round(v)))}
	case Uint32, Int32, Acc32:
		b := uint32(int64(math.Round(v)))
		return []uint16{uint16(b >> 16), uint16(b)}
	case Int32CDAB:
		b := uint32(int64(math.Round(v)))
		return []uint16{uint16(b), uint16(b >> 16)}
	case Uint64:
		b := uint64(int64(math.Round(v)))
		return []uint16{uint16(b >> 48), uint16(b >> 32), uint16(b >> 16), uint16(b)}
	case IskraT5, IskraT6:
		// Pick the largest exponent that keeps three significant decimals, as the meter does.
		exp := -3
		m := math.Round(v * 1000)
		for math.Abs(m) >= 1<<23 {
			exp++
			m = math.Round(v / math.Pow10(exp))
		}
		b := uint32(uint8(int8(exp)))<<24 | uint32(int32(m))&0xFFFFFF
		return []uint16{uint16(b >> 16), uint16(b)}
	}
	return nil
}

// EncodeField encodes v (in the field's unit; energy in mWh) into registers as the meter
// would, with scale exponent exp (the field's Exp plus any dynamic exponent). ASCII fields
// take their text from s.
func EncodeField(f Field, v float64, exp int, s string) []uint16 {
	if f.Kind == ASCII {
		return encodeASCII(s, f.Words)
	}
	return encodeRaw(f.Kind, v/math.Pow10(exp))
}

func encodeASCII(s string, words int) []uint16 {
	b := make([]byte, 2*words)
	copy(b, s)
	out := make([]uint16, words)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return out
}

func decodeASCII(w []uint16) string {
	b := make([]byte, 0, 2*len(w))
	for _, x := range w {
		b = binary.BigEndian.AppendUint16(b, x)
	}
	end := len(b)
	for end > 0 && (b[end-1] == 0 || b[end-1] == ' ') {
		end--
	}
	for i, c := range b[:end] {
		if c < 0x20 || c > 0x7E {
			b[i] = '?'
		}
	}
	return string(b[:end])
}
