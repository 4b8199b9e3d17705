package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Entry format versions (doc.go). Version 2 is version 1 with one trailing byte naming the EVSE;
// an entry is written in version 1 exactly when it names none (Record.EVSE 0), so a single-EVSE
// box writes the same bytes as before there were several.
const (
	Version     uint8 = 1 // entries of the box as a whole, or of a box with one EVSE
	VersionEVSE uint8 = 2 // entries that name an EVSE of a box with several
)

// FormatVersion is the version an entry holding r is encoded in: VersionEVSE when r names an
// EVSE, Version otherwise. Each record has exactly one encoding.
func FormatVersion(r Record) uint8 {
	if r.EVSE != 0 {
		return VersionEVSE
	}
	return Version
}

// Field bounds of the encoding (see doc.go). Longer values are rejected, never truncated.
const (
	MaxSessionID   = 64   // bytes of Record.SessionID
	MaxMeterSerial = 64   // bytes of Record.MeterSerial
	MaxEvent       = 32   // bytes of Record.Event
	MaxDetail      = 1024 // bytes of Record.Detail
)

// SignatureSize is the length of an entry signature (Ed25519).
const SignatureSize = ed25519.SignatureSize

// fixedSize is the length of the fixed part of the encoding: version, kind, time status,
// device key, seq, prev, time, import, export, attachment.
const fixedSize = 1 + 1 + 1 + ed25519.PublicKeySize + 8 + 32 + 8 + 8 + 8 + 32

// MaxEncodedSize is the largest possible MarshalBinary output.
const MaxEncodedSize = fixedSize + 1 + MaxSessionID + 1 + MaxMeterSerial + 1 + MaxEvent + 2 + MaxDetail + 1 + SignatureSize

// Errors callers branch on.
var (
	ErrMalformed    = errors.New("malformed entry")
	ErrBadSignature = errors.New("bad entry signature")
	ErrInvalid      = errors.New("invalid record")
)

// Kind says what an entry records.
type Kind uint8

// Entry kinds. The numeric values are part of the frozen encoding.
const (
	KindReading      Kind = 1 // one poll of the meter
	KindSessionBegin Kind = 2 // a charging session started
	KindSessionEnd   Kind = 3 // a charging session ended
	KindGap          Kind = 4 // one or more polls missed; never a silent hole
	KindEvent        Kind = 5 // meter replaced, tamper, fault, store replaced, alarms
)

// String returns the lowercase name of the kind.
func (k Kind) String() string {
	switch k {
	case KindReading:
		return "reading"
	case KindSessionBegin:
		return "session_begin"
	case KindSessionEnd:
		return "session_end"
	case KindGap:
		return "gap"
	case KindEvent:
		return "event"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k >= KindReading && k <= KindEvent }

// TimeStatus is the OCMF time status of a timestamp.
type TimeStatus byte

// Time statuses as defined by OCMF (Table 19); the byte values are the OCMF letters.
const (
	TimeUnsynchronised TimeStatus = 'U' // clock never synchronised
	TimeInformative    TimeStatus = 'I' // informative clock, not legally relevant
	TimeSynchronised   TimeStatus = 'S' // synchronised with a trusted source
	TimeRelative       TimeStatus = 'R' // legally accurate duration on an informative clock
)

// Valid reports whether s is one of U, I, S, R.
func (s TimeStatus) Valid() bool {
	return s == TimeUnsynchronised || s == TimeInformative || s == TimeSynchronised || s == TimeRelative
}

// String returns the OCMF letter.
func (s TimeStatus) String() string {
	if s.Valid() {
		return string(rune(s))
	}
	return fmt.Sprintf("timestatus(%d)", byte(s))
}

// Record is what the gateway hands the store; the store assigns Seq, Prev, DeviceKey and signs.
type Record struct {
	Time        time.Time  // wall time of the reading or event; stored with nanosecond precision in UTC
	TimeStatus  TimeStatus // OCMF time status of Time
	Kind        Kind
	SessionID   string // charging session, empty outside one; at most MaxSessionID bytes
	MeterSerial string // at most MaxMeterSerial bytes
	ImportMWh   int64  // cumulative imported energy, milliwatt-hours
	ExportMWh   int64  // cumulative exported energy, milliwatt-hours
	// Event is a short code for KindEvent and KindGap (required there), one of the Event*
	// constants (events.go), and the end reason (End*) of a KindSessionEnd; at most MaxEvent bytes.
	Event string
	// Detail is free text, at most MaxDetail (1024) bytes of UTF-8.
	Detail string
	// Attachment is the SHA-256 of an attached record (e.g. the session's OCMF string); zero = none.
	Attachment [32]byte
	// EVSE is the charging point the entry belongs to, 1..255 on a box with several; 0 for the
	// box as a whole (an e-stop, the store, an update) and for every entry of a one-EVSE box.
	EVSE uint8
}

// Validate checks the bounds of the encoding and the rules of each kind.
func (r *Record) Validate() error {
	if !r.Kind.Valid() {
		return fmt.Errorf("%w: unknown kind %d", ErrInvalid, r.Kind)
	}
	if !r.TimeStatus.Valid() {
		return fmt.Errorf("%w: time status %q is not U, I, S or R", ErrInvalid, byte(r.TimeStatus))
	}
	if r.Time.IsZero() || r.Time.Year() < 1678 || r.Time.Year() > 2261 {
		return fmt.Errorf("%w: time %v outside the encodable range", ErrInvalid, r.Time)
	}
	for _, f := range []struct {
		name string
		v    string
		max  int
	}{
		{"session ID", r.SessionID, MaxSessionID},
		{"meter serial", r.MeterSerial, MaxMeterSerial},
		{"event", r.Event, MaxEvent},
		{"detail", r.Detail, MaxDetail},
	} {
		if len(f.v) > f.max {
			return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInvalid, f.name, len(f.v), f.max)
		}
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: %s is not UTF-8", ErrInvalid, f.name)
		}
	}
	if (r.Kind == KindEvent || r.Kind == KindGap) && r.Event == "" {
		return fmt.Errorf("%w: %s entry needs an event code", ErrInvalid, r.Kind)
	}
	return nil
}

// Entry is the unit of trust: a Record placed in the device's hash chain and signed.
type Entry struct {
	Version   uint8
	DeviceKey ed25519.PublicKey // 32 bytes
	Seq       uint64            // 1, 2, 3 … per device, never reused
	Prev      [32]byte          // Hash of the previous entry; zero for the first entry of a device
	Record
	Signature []byte // Ed25519 over Hash(); 64 bytes
}

// Encode returns the canonical encoding without the signature, laid out as documented in doc.go.
// It does not validate; use Record.Validate first where the input is untrusted.
func (e *Entry) Encode() []byte {
	b := make([]byte, 0, fixedSize+5+len(e.SessionID)+len(e.MeterSerial)+len(e.Event)+len(e.Detail)+SignatureSize)
	return e.appendEncoding(b)
}

func (e *Entry) appendEncoding(b []byte) []byte {
	b = append(b, e.Version, byte(e.Kind), byte(e.TimeStatus))
	var key [ed25519.PublicKeySize]byte
	copy(key[:], e.DeviceKey)
	b = append(b, key[:]...)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = append(b, e.Prev[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(e.ImportMWh))
	b = binary.BigEndian.AppendUint64(b, uint64(e.ExportMWh))
	b = append(b, e.Attachment[:]...)
	b = appendString8(b, e.SessionID)
	b = appendString8(b, e.MeterSerial)
	b = appendString8(b, e.Event)
	b = binary.BigEndian.AppendUint16(b, uint16(min(len(e.Detail), math.MaxUint16)))
	b = append(b, e.Detail...)
	if e.Version == VersionEVSE {
		b = append(b, e.EVSE)
	}
	return b
}

func appendString8(b []byte, s string) []byte {
	b = append(b, byte(min(len(s), math.MaxUint8)))
	return append(b, s...)
}

// Hash returns SHA-256 of Encode(); the next entry's Prev.
func (e *Entry) Hash() [32]byte { return sha256.Sum256(e.Encode()) }

// Sign sets DeviceKey to key's public half and Signature to Ed25519 over Hash().
func (e *Entry) Sign(key ed25519.PrivateKey) {
	e.DeviceKey = key.Public().(ed25519.PublicKey)
	h := e.Hash()
	e.Signature = ed25519.Sign(key, h[:])
}

// Verify checks the signature under e.DeviceKey; it wraps ErrBadSignature.
func (e *Entry) Verify() error { return e.verifyHash(e.Hash()) }

// verifyHash checks the signature over h, which must be e.Hash().
func (e *Entry) verifyHash(h [32]byte) error {
	if len(e.DeviceKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: device key is %d bytes", ErrBadSignature, len(e.DeviceKey))
	}
	if len(e.Signature) != SignatureSize {
		return fmt.Errorf("%w: signature is %d bytes", ErrBadSignature, len(e.Signature))
	}
	if !ed25519.Verify(e.DeviceKey, h[:], e.Signature) {
		return fmt.Errorf("%w: seq %d", ErrBadSignature, e.Seq)
	}
	return nil
}

// MarshalBinary returns Encode() followed by the 64-byte signature: the stored and transmitted form.
func (e *Entry) MarshalBinary() ([]byte, error) {
	if err := e.Record.Validate(); err != nil {
		return nil, fmt.Errorf("marshal entry %d: %w", e.Seq, err)
	}
	if e.Version != FormatVersion(e.Record) || len(e.DeviceKey) != ed25519.PublicKeySize || len(e.Signature) != SignatureSize {
		return nil, fmt.Errorf("marshal entry %d: %w: unsigned or wrong version", e.Seq, ErrInvalid)
	}
	b := make([]byte, 0, fixedSize+5+len(e.SessionID)+len(e.MeterSerial)+len(e.Event)+len(e.Detail)+SignatureSize)
	b = e.appendEncoding(b)
	return append(b, e.Signature...), nil
}

// DecodeEntry parses the MarshalBinary form strictly: exact length, known version, kind and time
// status, bounded UTF-8 strings. It does not check the signature (use Entry.Verify).
func DecodeEntry(b []byte) (Entry, error) {
	var e Entry
	if len(b) < fixedSize+5+SignatureSize {
		return e, fmt.Errorf("%w: %d bytes is too short", ErrMalformed, len(b))
	}
	if b[0] != Version && b[0] != VersionEVSE {
		return e, fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	}
	e.Version = b[0]
	e.Kind = Kind(b[1])
	e.TimeStatus = TimeStatus(b[2])
	p := 3
	e.DeviceKey = ed25519.PublicKey(append([]byte(nil), b[p:p+ed25519.PublicKeySize]...))
	p += ed25519.PublicKeySize
	e.Seq = binary.BigEndian.Uint64(b[p:])
	p += 8
	copy(e.Prev[:], b[p:p+32])
	p += 32
	e.Time = time.Unix(0, int64(binary.BigEndian.Uint64(b[p:]))).UTC()
	p += 8
	e.ImportMWh = int64(binary.BigEndian.Uint64(b[p:]))
	p += 8
	e.ExportMWh = int64(binary.BigEndian.Uint64(b[p:]))
	p += 8
	copy(e.Attachment[:], b[p:p+32])
	p += 32
	var err error
	rest := b[p : len(b)-SignatureSize]
	if e.SessionID, rest, err = takeString(rest, 1); err != nil {
		return e, fmt.Errorf("%w: session ID: %v", ErrMalformed, err)
	}
	if e.MeterSerial, rest, err = takeString(rest, 1); err != nil {
		return e, fmt.Errorf("%w: meter serial: %v", ErrMalformed, err)
	}
	if e.Event, rest, err = takeString(rest, 1); err != nil {
		return e, fmt.Errorf("%w: event: %v", ErrMalformed, err)
	}
	if e.Detail, rest, err = takeString(rest, 2); err != nil {
		return e, fmt.Errorf("%w: detail: %v", ErrMalformed, err)
	}
	if e.Version == VersionEVSE {
		// Exactly one encoding per record: version 2 names an EVSE, never 0.
		if len(rest) == 0 || rest[0] == 0 {
			return e, fmt.Errorf("%w: version 2 entry without an EVSE number", ErrMalformed)
		}
		e.EVSE, rest = rest[0], rest[1:]
	}
	if len(rest) != 0 {
		return e, fmt.Errorf("%w: %d trailing bytes before the signature", ErrMalformed, len(rest))
	}
	e.Signature = append([]byte(nil), b[len(b)-SignatureSize:]...)
	if err := e.Record.Validate(); err != nil {
		return e, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if e.Seq == 0 {
		return e, fmt.Errorf("%w: sequence number 0", ErrMalformed)
	}
	return e, nil
}

func takeString(b []byte, prefix int) (string, []byte, error) {
	if len(b) < prefix {
		return "", nil, errors.New("length prefix cut off")
	}
	var n int
	if prefix == 1 {
		n = int(b[0])
	} else {
		n = int(binary.BigEndian.Uint16(b))
	}
	b = b[prefix:]
	if n > len(b) {
		return "", nil, fmt.Errorf("length %d exceeds the remaining %d bytes", n, len(b))
	}
	return string(b[:n]), b[n:], nil
}
