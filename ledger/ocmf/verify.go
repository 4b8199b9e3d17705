package ocmf

import (
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Errors callers branch on.
var (
	ErrFormat       = errors.New("not an OCMF record")
	ErrBadSignature = errors.New("OCMF signature does not verify")
	ErrBadKey       = errors.New("bad OCMF public key")
	ErrAlgorithm    = errors.New("unsupported OCMF signature algorithm")
	ErrCurveMatch   = errors.New("public key is on another curve than SA names")
)

// DefaultAlgorithm is the SA assumed when a record names none.
const DefaultAlgorithm = "ECDSA-secp256r1-SHA256"

// Signature is the signature section of a record.
type Signature struct {
	SA string `json:"SA,omitempty"` // algorithm; empty means DefaultAlgorithm
	SE string `json:"SE,omitempty"` // "hex" (default) or "base64"
	SM string `json:"SM,omitempty"` // "application/x-der" (the only value)
	SD string `json:"SD"`           // the signature
}

// Record is a parsed OCMF record. Payload is the signed span exactly as received.
type Record struct {
	Payload   []byte    // bytes between the first and second '|', never re-serialised
	Data      Payload   // Payload decoded for inspection
	Signature Signature // signature section
}

// Payload is the decoded payload section: the fields chargegate reads. Numbers whose text must
// be preserved (RV) stay raw. Vendor fields are ignored here and kept in Record.Payload.
type Payload struct {
	FV json.RawMessage `json:"FV,omitempty"` // a string, though some vendors send a number
	GI string          `json:"GI,omitempty"`
	GS string          `json:"GS,omitempty"`
	GV string          `json:"GV,omitempty"`
	PG string          `json:"PG"`
	MV string          `json:"MV,omitempty"`
	MM string          `json:"MM,omitempty"`
	MF string          `json:"MF,omitempty"`
	MS string          `json:"MS,omitempty"`
	IS json.RawMessage `json:"IS,omitempty"`
	IL string          `json:"IL,omitempty"`
	IT string          `json:"IT,omitempty"`
	ID string          `json:"ID,omitempty"`
	CT json.RawMessage `json:"CT,omitempty"`
	CI string          `json:"CI,omitempty"`
	RD []ReadingData   `json:"RD"`
}

// ReadingData is one decoded RD element.
type ReadingData struct {
	TM string          `json:"TM,omitempty"`
	TX string          `json:"TX,omitempty"`
	RV json.RawMessage `json:"RV,omitempty"`
	RI string          `json:"RI,omitempty"`
	RU string          `json:"RU,omitempty"`
	RT string          `json:"RT,omitempty"`
	EF string          `json:"EF,omitempty"`
	ST string          `json:"ST,omitempty"`
}

// Parse splits an OCMF record into its three '|'-separated sections (whitespace around the whole
// record is ignored, never inside it) and decodes the payload and signature JSON.
func Parse(record string) (*Record, error) {
	record = strings.TrimSpace(record)
	parts := strings.Split(record, "|")
	if len(parts) != 3 || parts[0] != "OCMF" {
		return nil, fmt.Errorf("%w: want OCMF|payload|signature", ErrFormat)
	}
	r := &Record{Payload: []byte(parts[1])}
	if err := json.Unmarshal(r.Payload, &r.Data); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrFormat, err)
	}
	if err := json.Unmarshal([]byte(parts[2]), &r.Signature); err != nil {
		return nil, fmt.Errorf("%w: signature section: %v", ErrFormat, err)
	}
	if r.Signature.SD == "" {
		return nil, fmt.Errorf("%w: no SD", ErrFormat)
	}
	return r, nil
}

// Verify checks the record's signature under the public key given as DER SubjectPublicKeyInfo
// (see ParsePublicKey for text forms). The hash is SHA-256 of the payload span exactly as
// received, for every curve; the key must be on the curve SA names.
func Verify(record string, spki []byte) error {
	r, err := Parse(record)
	if err != nil {
		return err
	}
	return r.Verify(spki)
}

// Verify checks r's signature; see the package function Verify.
func (r *Record) Verify(spki []byte) error {
	c, err := algorithm(r.Signature.SA)
	if err != nil {
		return err
	}
	if sm := r.Signature.SM; sm != "" && sm != "application/x-der" {
		return fmt.Errorf("%w: SM %q", ErrAlgorithm, sm)
	}
	der, err := decodeSD(r.Signature.SE, r.Signature.SD)
	if err != nil {
		return err
	}
	rInt, sInt, err := parseDERSignature(der)
	if err != nil {
		return err
	}
	keyCurve, point, err := parseSPKI(spki)
	if err != nil {
		return err
	}
	if !keyCurve.Equal(c.oid) {
		return fmt.Errorf("%w: key curve %v, SA %s", ErrCurveMatch, keyCurve, c.name)
	}
	h := sha256.Sum256(r.Payload)
	if err := c.verify(point, h[:], rInt, sInt); err != nil {
		return fmt.Errorf("verify %s record %s: %w", c.name, r.Data.PG, err)
	}
	return nil
}

// algorithm resolves SA: three '-'-separated parts, ECDSA, a known curve, SHA256.
func algorithm(sa string) (*curve, error) {
	if sa == "" {
		sa = DefaultAlgorithm
	}
	parts := strings.Split(sa, "-")
	if len(parts) != 3 || parts[0] != "ECDSA" || parts[2] != "SHA256" {
		return nil, fmt.Errorf("%w: SA %q", ErrAlgorithm, sa)
	}
	c, ok := curveByName(strings.ToLower(parts[1]))
	if !ok {
		return nil, fmt.Errorf("%w: curve %q", ErrAlgorithm, parts[1])
	}
	return c, nil
}

// decodeSD decodes SD as hex (either case, whitespace ignored) or standard base64.
func decodeSD(se, sd string) ([]byte, error) {
	switch strings.ToLower(se) {
	case "", "hex":
		b, err := hex.DecodeString(stripSpace(sd))
		if err != nil {
			return nil, fmt.Errorf("%w: SD is not hex: %v", ErrFormat, err)
		}
		return b, nil
	case "base64":
		s := stripSpace(sd)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
				return nil, fmt.Errorf("%w: SD is not base64: %v", ErrFormat, err)
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: SE %q", ErrFormat, se)
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
}

// parseDERSignature reads SEQUENCE { INTEGER r, INTEGER s } with nothing after it.
func parseDERSignature(der []byte) (*big.Int, *big.Int, error) {
	var inner cryptobyte.String
	r, s := new(big.Int), new(big.Int)
	in := cryptobyte.String(der)
	if !in.ReadASN1(&inner, cbasn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(r) || !inner.ReadASN1Integer(s) || !inner.Empty() {
		return nil, nil, fmt.Errorf("%w: SD is not a DER ECDSA signature", ErrFormat)
	}
	return r, s, nil
}

var oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}

// parseSPKI reads an EC SubjectPublicKeyInfo (RFC 5480) with a named curve.
func parseSPKI(der []byte) (asn1.ObjectIdentifier, []byte, error) {
	var spki struct {
		Algorithm struct {
			Algorithm  asn1.ObjectIdentifier
			Parameters asn1.RawValue
		}
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(der, &spki)
	if err != nil || len(rest) != 0 {
		return nil, nil, fmt.Errorf("%w: not a DER SubjectPublicKeyInfo", ErrBadKey)
	}
	if !spki.Algorithm.Algorithm.Equal(oidECPublicKey) {
		return nil, nil, fmt.Errorf("%w: algorithm %v is not id-ecPublicKey", ErrBadKey, spki.Algorithm.Algorithm)
	}
	var named asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(spki.Algorithm.Parameters.FullBytes, &named); err != nil || len(rest) != 0 {
		return nil, nil, fmt.Errorf("%w: no named curve", ErrBadKey)
	}
	if spki.PublicKey.BitLength%8 != 0 {
		return nil, nil, fmt.Errorf("%w: point is not whole bytes", ErrBadKey)
	}
	return named, spki.PublicKey.Bytes, nil
}

// ParsePublicKey decodes a public key as published: DER SubjectPublicKeyInfo in hex (spaces and
// colons allowed) or in base64, or a PEM "PUBLIC KEY" block. It returns the DER bytes.
func ParsePublicKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if strings.HasPrefix(text, "-----BEGIN") {
		return parsePEM(text)
	}
	clean := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == ':' {
			return -1
		}
		return r
	}, text)
	if b, err := hex.DecodeString(clean); err == nil && looksLikeSPKI(b) {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(clean); err == nil && looksLikeSPKI(b) {
		return b, nil
	}
	return nil, fmt.Errorf("%w: neither hex nor base64 DER SubjectPublicKeyInfo", ErrBadKey)
}

func looksLikeSPKI(b []byte) bool {
	_, _, err := parseSPKI(b)
	return err == nil
}

func parsePEM(text string) ([]byte, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil || block.Type != "PUBLIC KEY" || !looksLikeSPKI(block.Bytes) {
		return nil, fmt.Errorf("%w: PEM does not hold an EC public key", ErrBadKey)
	}
	return block.Bytes, nil
}
