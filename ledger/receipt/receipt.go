package receipt

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
)

// Format is the version tag of the evidence object both renderings carry.
const Format = "chargegate-receipt/1"

// ErrInput means the session's entries cannot make a receipt (wrong kinds, sessions or order).
var ErrInput = errors.New("cannot build a receipt")

// Session is what the gateway has at a session's end.
type Session struct {
	EVSEID string       // the EVSE ID (eMI3, e.g. "DE*CGT*E0001*1"), from the configuration
	Begin  ledger.Entry // the session's KindSessionBegin entry, signed
	End    ledger.Entry // its KindSessionEnd entry, signed
	// OCMF is the session's OCMF record verbatim ("" when the caller does not have it: the chain
	// keeps only its digest, as End.Attachment). OCMFKey is the DER SubjectPublicKeyInfo of the
	// key that signed it (the meter's, or ledger.Keys.OCMF's public half).
	OCMF    string
	OCMFKey []byte
	// IDToken is the id_token that authorized the session, for the CDR rendering's cdr_token
	// (the entries keep only its hash, which the CDR's uid must match). "" takes the begin
	// entry's own "id_token=" detail, if it has one.
	IDToken string
	// Proofs of both entries (ledger/anchor), nil while the session is not anchored.
	BeginProof, EndProof *anchor.Proof
}

// Point is one end of a session as its entry records it.
type Point struct {
	Seq        uint64 `json:"seq"`
	Time       string `json:"time"`       // RFC 3339 UTC with nanoseconds, the entry's time
	TimeStatus string `json:"timeStatus"` // OCMF time status: U, I, S or R
	ImportMWh  int64  `json:"importMWh"`  // cumulative import register, mWh
	ExportMWh  int64  `json:"exportMWh"`  // cumulative export register, mWh
}

// Authorization says how the session was authorized.
type Authorization struct {
	// Method is the access source the begin entry names (its "auth=" detail: local_list, cache,
	// online, token, operator, …), or "id_token" for a begin entry that records the id_token.
	Method    string `json:"method"`
	TokenHash string `json:"tokenHash"` // "sha256:" + hex of SHA-256 of the id_token
	// IssuerKeyID is the key ID of a capability token's issuer (the begin entry's "kid=").
	IssuerKeyID string `json:"issuerKeyId,omitempty"`
}

// Anchoring carries the chargegate-proof of both entries.
type Anchoring struct {
	BlockID string        `json:"blockId"` // block of the end entry's anchor, 0x-hex
	Begin   *anchor.Proof `json:"begin"`
	End     *anchor.Proof `json:"end"`
}

// Evidence is the receipt's content, the same in both renderings (documented in doc.go).
type Evidence struct {
	Format          string        `json:"format"`
	Device          string        `json:"device"` // ledger.DeviceID of the entry key
	SessionID       string        `json:"sessionId"`
	EVSEID          string        `json:"evseId"`
	MeterSerial     string        `json:"meterSerial"`
	Authorization   Authorization `json:"authorization"`
	Start           Point         `json:"start"`
	End             Point         `json:"end"`
	EnergyImportMWh int64         `json:"energyImportMWh"` // End − Start import
	EnergyExportMWh int64         `json:"energyExportMWh"` // End − Start export
	EndReason       string        `json:"endReason"`
	OCMF            string        `json:"ocmf,omitempty"`
	OCMFPublicKey   string        `json:"ocmfPublicKey,omitempty"` // 0x-hex DER SPKI
	BeginEntry      string        `json:"beginEntry"`              // 0x-hex ledger.Entry.MarshalBinary
	EndEntry        string        `json:"endEntry"`
	Anchor          *Anchoring    `json:"anchor,omitempty"`
}

// IDToken returns the id_token a session-begin entry records ("id_token=…" in its detail), or "".
func IDToken(begin *ledger.Entry) string {
	for _, f := range strings.Fields(begin.Detail) {
		if v, ok := strings.CutPrefix(f, "id_token="); ok {
			return v
		}
	}
	return ""
}

// AuthorizationOf reads how a session-begin entry says its session was authorized: the access
// decision detail (gateway/access: "auth=<source> tok=<hex SHA-256> [kid=…]"), or the id_token
// older entries record ("id_token=…").
func AuthorizationOf(begin *ledger.Entry) Authorization {
	a := Authorization{Method: "id_token"}
	tok, idToken := "", ""
	for _, f := range strings.Fields(begin.Detail) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "auth":
			a.Method = v
		case "tok":
			tok = v
		case "kid":
			a.IssuerKeyID = v
		case "id_token":
			idToken = v
		}
	}
	if tok != "" {
		a.TokenHash = "sha256:" + tok
	} else {
		a.TokenHash = TokenHash(idToken)
	}
	return a
}

// TokenHash is the authorization's token hash: "sha256:" + hex SHA-256 of the id_token.
func TokenHash(idToken string) string {
	h := sha256.Sum256([]byte(idToken))
	return "sha256:" + hex.EncodeToString(h[:])
}

func point(e *ledger.Entry) Point {
	return Point{Seq: e.Seq, Time: e.Time.UTC().Format(time.RFC3339Nano), TimeStatus: string(rune(e.TimeStatus)), ImportMWh: e.ImportMWh, ExportMWh: e.ExportMWh}
}

func hex0x(b []byte) string { return "0x" + hex.EncodeToString(b) }

// NewEvidence checks that s's entries are the begin and end of one session of one device and
// builds the evidence.
func NewEvidence(s Session) (*Evidence, error) {
	b, e := &s.Begin, &s.End
	switch {
	case b.Kind != ledger.KindSessionBegin || e.Kind != ledger.KindSessionEnd:
		return nil, fmt.Errorf("%w: entries %d and %d are %s and %s", ErrInput, b.Seq, e.Seq, b.Kind, e.Kind)
	case b.SessionID == "" || b.SessionID != e.SessionID:
		return nil, fmt.Errorf("%w: entries belong to sessions %q and %q", ErrInput, b.SessionID, e.SessionID)
	case !bytes.Equal(b.DeviceKey, e.DeviceKey):
		return nil, fmt.Errorf("%w: entries of two devices", ErrInput)
	case e.Seq <= b.Seq:
		return nil, fmt.Errorf("%w: end seq %d not after begin seq %d", ErrInput, e.Seq, b.Seq)
	case (s.OCMF == "") != (len(s.OCMFKey) == 0):
		return nil, fmt.Errorf("%w: an OCMF record needs its key, and a key its record", ErrInput)
	case (s.BeginProof == nil) != (s.EndProof == nil):
		return nil, fmt.Errorf("%w: proofs for one entry only", ErrInput)
	}
	be, err := b.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	ee, err := e.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	ev := &Evidence{
		Format: Format, Device: ledger.DeviceID(b.DeviceKey), SessionID: b.SessionID, EVSEID: s.EVSEID, MeterSerial: e.MeterSerial,
		Authorization: AuthorizationOf(b),
		Start:         point(b), End: point(e),
		EnergyImportMWh: e.ImportMWh - b.ImportMWh, EnergyExportMWh: e.ExportMWh - b.ExportMWh,
		EndReason: e.Event, OCMF: s.OCMF, BeginEntry: hex0x(be), EndEntry: hex0x(ee),
	}
	if len(s.OCMFKey) > 0 {
		ev.OCMFPublicKey = hex0x(s.OCMFKey)
	}
	if s.BeginProof != nil {
		ev.Anchor = &Anchoring{BlockID: s.EndProof.BlockID, Begin: s.BeginProof, End: s.EndProof}
	}
	return ev, nil
}

// strictUnmarshal decodes JSON refusing unknown fields and trailing data. iota.go's block
// decoding (inside the embedded anchor proofs) panics on some hostile input; the embedded
// inclusion proofs decode under anchor's guard (anchor.PoI.UnmarshalJSON), so that becomes a
// decoding error here too.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// checkKey refuses a signing key that is not the entries' device key.
func checkKey(key ed25519.PrivateKey, s *Session) error {
	if len(key) != ed25519.PrivateKeySize || !bytes.Equal(key.Public().(ed25519.PublicKey), s.Begin.DeviceKey) {
		return fmt.Errorf("%w: the signing key is not the entries' device key", ErrInput)
	}
	return nil
}
