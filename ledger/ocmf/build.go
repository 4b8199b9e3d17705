package ocmf

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrField reports a payload field the builder refuses (non-ASCII, '|', control characters,
// too long, missing, or a value the specification does not allow).
var ErrField = errors.New("bad OCMF field")

// TimeFormat is the OCMF TM layout without the time status letter.
const TimeFormat = "2006-01-02T15:04:05,000-0700"

// OBISImport is the OBIS code of the cumulative imported active energy register.
const OBISImport = "01-00:01.08.00*FF"

// OBISExport is the register of exported (fed-back) active energy, for bidirectional (V2G)
// sessions: a reading with Reading.OBIS set to it renders with this RI.
const OBISExport = "01-00:02.08.00*FF"

// Reading is one reading of a gateway-signed record.
type Reading struct {
	Time       time.Time
	TimeStatus byte   // 'U' unsynchronised, 'I' informative, 'S' synchronised, 'R' relative
	TX         string // "B" begin, "E" end, "P" end after power failure (also C, X, L, R, A, S, T)
	EnergyMWh  int64  // cumulative register, milliwatt-hours (import unless OBIS says export)
	OBIS       string // RI; "" means OBISImport
	Status     string // ST; "" means "G" (OK)
	ErrorFlags string // EF; "", "E", "t" or "Et"
}

// Session holds the payload fields of one record; pagination is the Signer's job.
type Session struct {
	GatewayID         string   // GI: manufacturer and model of the signing gateway (required)
	GatewaySerial     string   // GS: gateway serial (required)
	GatewayVersion    string   // GV: gateway software version
	MeterVendor       string   // MV
	MeterModel        string   // MM
	MeterFirmware     string   // MF
	MeterSerial       string   // MS (required)
	IdentStatus       bool     // IS: the user was identified
	IdentLevel        string   // IL, e.g. "NONE", "VERIFIED"
	IdentFlags        []string // IF, e.g. "RFID_PLAIN", "OCPP_AUTH"
	IdentType         string   // IT; "" means "NONE"
	IdentData         string   // ID
	ChargePointIDType string   // CT: "EVSEID" or "CBIDC"
	ChargePointID     string   // CI
	CurrentType       string   // RT: "AC" (default) or "DC"
	Readings          []Reading
}

// StateStore keeps the pagination counter durably; ledger/sqlite's Store satisfies it. GetState
// must return an error matching fs.ErrNotExist for a key never stored.
type StateStore interface {
	GetState(ctx context.Context, key string) ([]byte, error)
	PutState(ctx context.Context, key string, value []byte) error
}

// Signer produces gateway-signed records: FV 1.0, ECDSA-secp256r1-SHA256, DER signature in hex,
// transaction pagination "T<n>" persisted before each record is returned.
type Signer struct {
	key      *ecdsa.PrivateKey
	state    StateStore
	decimals int
	mu       sync.Mutex
}

// PaginationKey is the state key of the transaction pagination counter.
const PaginationKey = "ocmf/pagination/T"

// NewSigner returns a Signer for a P-256 key. decimals (0–6) is the number of kWh decimals of
// RV; 3 renders whole watt-hours. Values are truncated, never rounded up.
func NewSigner(key *ecdsa.PrivateKey, state StateStore, decimals int) (*Signer, error) {
	if key == nil || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: signer needs a P-256 key", ErrBadKey)
	}
	if decimals < 0 || decimals > 6 {
		return nil, fmt.Errorf("%w: %d kWh decimals, want 0–6", ErrField, decimals)
	}
	if state == nil {
		return nil, errors.New("ocmf signer: no state store for pagination")
	}
	return &Signer{key: key, state: state, decimals: decimals}, nil
}

// PublicKey returns the signer's key as DER SubjectPublicKeyInfo (what verifiers need).
func (s *Signer) PublicKey() []byte {
	der, _ := x509.MarshalPKIXPublicKey(&s.key.PublicKey) // P-256 always marshals
	return der
}

// Sign builds the payload for sess, advances and durably stores the pagination counter, signs,
// and returns the record string. Store and send that string exactly as returned.
func (s *Signer) Sign(ctx context.Context, sess Session) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Validate before spending a pagination number.
	if _, err := BuildPayload(sess, 1, s.decimals); err != nil {
		return "", err
	}
	var n uint64
	v, err := s.state.GetState(ctx, PaginationKey)
	switch {
	case err == nil:
		if n, err = strconv.ParseUint(string(v), 10, 64); err != nil {
			return "", fmt.Errorf("read OCMF pagination: %q: %w", v, err)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return "", fmt.Errorf("read OCMF pagination: %w", err)
	}
	n++
	if err := s.state.PutState(ctx, PaginationKey, []byte(strconv.FormatUint(n, 10))); err != nil {
		return "", fmt.Errorf("persist OCMF pagination: %w", err)
	}
	payload, err := BuildPayload(sess, n, s.decimals)
	if err != nil {
		return "", err
	}
	return SignPayload(payload, s.key)
}

// SignPayload signs payload bytes as they are (SHA-256, ECDSA P-256, DER, hex) and returns the
// record. The signature is randomised; records are keyed by SHA-256 of the payload.
func SignPayload(payload []byte, key *ecdsa.PrivateKey) (string, error) {
	h := sha256.Sum256(payload)
	der, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err != nil {
		return "", fmt.Errorf("sign OCMF payload: %w", err)
	}
	return "OCMF|" + string(payload) + `|{"SA":"ECDSA-secp256r1-SHA256","SD":"` + strings.ToUpper(hex.EncodeToString(der)) + `"}`, nil
}

// Digest returns SHA-256 of the record string: the Attachment of the ledger entry that carries it.
func Digest(record string) [32]byte { return sha256.Sum256([]byte(record)) }

// BuildPayload renders the payload bytes for sess with pagination T<pg>. Field order and
// number formats are fixed (doc.go); every string must be printable ASCII without '|'.
func BuildPayload(sess Session, pg uint64, decimals int) ([]byte, error) {
	if sess.GatewayID == "" || sess.GatewaySerial == "" || sess.MeterSerial == "" {
		return nil, fmt.Errorf("%w: GI, GS and MS are required", ErrField)
	}
	if len(sess.Readings) == 0 {
		return nil, fmt.Errorf("%w: no readings", ErrField)
	}
	if pg == 0 {
		return nil, fmt.Errorf("%w: pagination starts at 1", ErrField)
	}
	w := &jsonWriter{}
	w.b.WriteByte('{')
	w.str("FV", "1.0")
	w.str("GI", sess.GatewayID)
	w.str("GS", sess.GatewaySerial)
	w.opt("GV", sess.GatewayVersion)
	w.str("PG", "T"+strconv.FormatUint(pg, 10))
	w.opt("MV", sess.MeterVendor)
	w.opt("MM", sess.MeterModel)
	w.opt("MF", sess.MeterFirmware)
	w.str("MS", sess.MeterSerial)
	w.raw("IS", strconv.FormatBool(sess.IdentStatus))
	w.opt("IL", sess.IdentLevel)
	w.list("IF", sess.IdentFlags)
	it := sess.IdentType
	if it == "" {
		it = "NONE"
	}
	w.str("IT", it)
	w.opt("ID", sess.IdentData)
	if sess.ChargePointIDType != "" && sess.ChargePointIDType != "EVSEID" && sess.ChargePointIDType != "CBIDC" {
		w.fail(fmt.Errorf("%w: CT %q", ErrField, sess.ChargePointIDType))
	}
	w.opt("CT", sess.ChargePointIDType)
	w.opt("CI", sess.ChargePointID)
	w.key("RD")
	w.b.WriteByte('[')
	for i, r := range sess.Readings {
		if i > 0 {
			w.b.WriteByte(',')
		}
		w.reading(r, decimals, sess.CurrentType)
	}
	w.b.WriteString("]}")
	if w.err != nil {
		return nil, w.err
	}
	if w.b.Len() > 1600 {
		// OCPP 2.0.1 carries at most 2500 base64 characters of signed data (about 1875 bytes).
		return nil, fmt.Errorf("%w: payload of %d bytes too long for OCPP", ErrField, w.b.Len())
	}
	return []byte(w.b.String()), nil
}

// RenderKWh renders milliwatt-hours as kWh with a fixed number of decimals, truncating.
func RenderKWh(mwh int64, decimals int) (string, error) {
	if mwh < 0 {
		return "", fmt.Errorf("%w: negative energy %d mWh", ErrField, mwh)
	}
	if decimals < 0 || decimals > 6 {
		return "", fmt.Errorf("%w: %d decimals", ErrField, decimals)
	}
	whole := mwh / 1_000_000
	if decimals == 0 {
		return strconv.FormatInt(whole, 10), nil
	}
	frac := fmt.Sprintf("%06d", mwh%1_000_000)
	return strconv.FormatInt(whole, 10) + "." + frac[:decimals], nil
}

type jsonWriter struct {
	b   strings.Builder
	n   int
	err error
}

func (w *jsonWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *jsonWriter) key(k string) {
	if w.n > 0 {
		w.b.WriteByte(',')
	}
	w.n++
	w.b.WriteString(`"` + k + `":`)
}

func (w *jsonWriter) quoted(field, v string) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e || c == '|' {
			w.fail(fmt.Errorf("%w: %s: byte 0x%02x at %d (printable ASCII without '|' only)", ErrField, field, c, i))
			return
		}
	}
	if len(v) > 250 {
		w.fail(fmt.Errorf("%w: %s is %d bytes", ErrField, field, len(v)))
	}
	w.b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			w.b.WriteByte('\\')
		}
		w.b.WriteByte(v[i])
	}
	w.b.WriteByte('"')
}

func (w *jsonWriter) str(k, v string) { w.key(k); w.quoted(k, v) }

func (w *jsonWriter) opt(k, v string) {
	if v != "" {
		w.str(k, v)
	}
}

func (w *jsonWriter) raw(k, v string) { w.key(k); w.b.WriteString(v) }

func (w *jsonWriter) list(k string, vs []string) {
	if len(vs) > 4 {
		w.fail(fmt.Errorf("%w: IF has %d flags, at most 4", ErrField, len(vs)))
	}
	w.key(k)
	w.b.WriteByte('[')
	for i, v := range vs {
		if i > 0 {
			w.b.WriteByte(',')
		}
		w.quoted(k, v)
	}
	w.b.WriteByte(']')
}

// txCodes are the TX values of OCMF Table 7.
const txCodes = "BCXELRAPST"

func (w *jsonWriter) reading(r Reading, decimals int, rt string) {
	if rt == "" {
		rt = "AC"
	}
	if rt != "AC" && rt != "DC" {
		w.fail(fmt.Errorf("%w: RT %q", ErrField, rt))
	}
	if !strings.Contains("UISR", string(rune(r.TimeStatus))) || r.TimeStatus == 0 {
		w.fail(fmt.Errorf("%w: time status %q", ErrField, r.TimeStatus))
	}
	if len(r.TX) != 1 || !strings.Contains(txCodes, r.TX) {
		w.fail(fmt.Errorf("%w: TX %q", ErrField, r.TX))
	}
	if r.Time.IsZero() {
		w.fail(fmt.Errorf("%w: reading without time", ErrField))
	}
	rv, err := RenderKWh(r.EnergyMWh, decimals)
	if err != nil {
		w.fail(err)
	}
	st := r.Status
	if st == "" {
		st = "G"
	}
	inner := &jsonWriter{}
	inner.b.WriteByte('{')
	inner.str("TM", r.Time.Format(TimeFormat)+" "+string(rune(r.TimeStatus)))
	inner.str("TX", r.TX)
	inner.raw("RV", rv)
	ri := r.OBIS
	if ri == "" {
		ri = OBISImport
	}
	inner.str("RI", ri)
	inner.str("RU", "kWh")
	inner.str("RT", rt)
	inner.str("EF", r.ErrorFlags)
	inner.str("ST", st)
	inner.b.WriteByte('}')
	if inner.err != nil {
		w.fail(inner.err)
	}
	w.b.WriteString(inner.b.String())
}
