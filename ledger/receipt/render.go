package receipt

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chargegate/chargegate/ledger/ocmf"
)

// Names of the Verifiable Credential rendering (W3C VC Data Model 2.0).
const (
	ContextV2      = "https://www.w3.org/ns/credentials/v2"
	CredentialType = "ChargingSessionReceipt"
	SubjectType    = "ChargingSession"
)

// Credential is the W3C Verifiable Credential 2.0 rendering. The base context's @vocab
// (issuer-dependent terms) covers the receipt's own terms, so no second context is needed.
type Credential struct {
	Context           []string `json:"@context"`
	ID                string   `json:"id"`
	Type              []string `json:"type"`
	Issuer            string   `json:"issuer"`    // did:key of the device's entry key
	ValidFrom         string   `json:"validFrom"` // the session's end
	CredentialSubject Subject  `json:"credentialSubject"`
	Proof             *DIProof `json:"proof,omitempty"`
}

// Subject is the credential's subject: the session, as Evidence.
type Subject struct {
	Type string `json:"type"` // SubjectType
	Evidence
}

// credentialID names a receipt: one per device and session.
func credentialID(ev *Evidence) string {
	return "urn:chargegate:receipt:" + ev.Device + ":" + ev.SessionID
}

func ocpiTime(rfc string) string {
	t, err := time.Parse(time.RFC3339Nano, rfc)
	if err != nil {
		return rfc
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// NewCredential builds the unsigned VC rendering of ev.
func NewCredential(ev *Evidence, issuer ed25519.PublicKey) *Credential {
	return &Credential{
		Context: []string{ContextV2}, ID: credentialID(ev), Type: []string{"VerifiableCredential", CredentialType},
		Issuer: DIDKey(issuer), ValidFrom: ocpiTime(ev.End.Time), CredentialSubject: Subject{Type: SubjectType, Evidence: *ev},
	}
}

// CPO names the charge point operator and the EVSE for the CDR rendering (OCPI 2.2.1 mod_cdrs).
type CPO struct {
	CountryCode        string // ISO 3166 alpha-2 of the CPO, e.g. "DE"
	PartyID            string // the CPO's OCPI party ID (3 characters)
	Currency           string // ISO 4217, e.g. "EUR"
	LocationID         string // OCPI Location.id; defaults to the EVSE ID
	ConnectorID        string // defaults to "1"
	ConnectorStandard  string // defaults to "IEC_62196_T2"
	ConnectorFormat    string // defaults to "SOCKET"
	ConnectorPowerType string // defaults to "AC_3_PHASE"
	URL                string // where a driver can check the signed data (SignedData.url), optional
}

// CDR is the OCPI 2.2.1 CDR-shaped rendering: the CDR fields a gateway knows (tariffs, costs and
// the address are the CPO back-end's to add), the evidence as the extension member "chargegate",
// and a Data Integrity proof over all of it.
type CDR struct {
	CountryCode     string           `json:"country_code"`
	PartyID         string           `json:"party_id"`
	ID              string           `json:"id"`
	StartDateTime   string           `json:"start_date_time"`
	EndDateTime     string           `json:"end_date_time"`
	SessionID       string           `json:"session_id"`
	CdrToken        CdrToken         `json:"cdr_token"`
	AuthMethod      string           `json:"auth_method"`
	CdrLocation     CdrLocation      `json:"cdr_location"`
	MeterID         string           `json:"meter_id,omitempty"`
	Currency        string           `json:"currency"`
	ChargingPeriods []ChargingPeriod `json:"charging_periods"`
	SignedData      *SignedData      `json:"signed_data,omitempty"`
	TotalEnergy     json.Number      `json:"total_energy"` // kWh
	TotalTime       json.Number      `json:"total_time"`   // hours
	LastUpdated     string           `json:"last_updated"`
	Chargegate      *Evidence        `json:"chargegate"`
	Proof           *DIProof         `json:"proof,omitempty"`
}

// CdrToken is OCPI's CdrToken.
type CdrToken struct {
	CountryCode string `json:"country_code"`
	PartyID     string `json:"party_id"`
	UID         string `json:"uid"`
	Type        string `json:"type"`
	ContractID  string `json:"contract_id"`
}

// CdrLocation is OCPI's CdrLocation, the fields the gateway knows.
type CdrLocation struct {
	ID                 string `json:"id"`
	EVSEUID            string `json:"evse_uid"`
	EVSEID             string `json:"evse_id"`
	ConnectorID        string `json:"connector_id"`
	ConnectorStandard  string `json:"connector_standard"`
	ConnectorFormat    string `json:"connector_format"`
	ConnectorPowerType string `json:"connector_power_type"`
}

// ChargingPeriod is OCPI's ChargingPeriod.
type ChargingPeriod struct {
	StartDateTime string         `json:"start_date_time"`
	Dimensions    []CdrDimension `json:"dimensions"`
}

// CdrDimension is OCPI's CdrDimension.
type CdrDimension struct {
	Type   string      `json:"type"`
	Volume json.Number `json:"volume"`
}

// SignedData is OCPI's SignedData (encoding method "OCMF").
type SignedData struct {
	EncodingMethod string        `json:"encoding_method"`
	PublicKey      string        `json:"public_key,omitempty"` // base64 DER SPKI
	SignedValues   []SignedValue `json:"signed_values"`
	URL            string        `json:"url,omitempty"`
}

// SignedValue is OCPI's SignedValue: plain_data the OCMF payload section, signed_data the whole
// OCMF record base64-encoded.
type SignedValue struct {
	Nature     string `json:"nature"`
	PlainData  string `json:"plain_data"`
	SignedData string `json:"signed_data"`
}

// decimal4 renders n/div (div a multiple of 10000) with at most 4 decimals (OCPI numbers),
// rounding half away from zero; trailing zeros are dropped, as JCS would.
func decimal4(n, div int64) json.Number {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	q := div / 10000
	v := n / q
	if 2*(n%q) >= q {
		v++
	}
	s := strconv.FormatInt(v/10000, 10) + "." + fmt.Sprintf("%04d", v%10000)
	s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	if s == "0" {
		sign = ""
	}
	return json.Number(sign + s)
}

// sessionDuration is the time between the evidence's start and end.
func sessionDuration(ev *Evidence) (time.Duration, error) {
	s, err := time.Parse(time.RFC3339Nano, ev.Start.Time)
	if err != nil {
		return 0, err
	}
	e, err := time.Parse(time.RFC3339Nano, ev.End.Time)
	if err != nil {
		return 0, err
	}
	return e.Sub(s), nil
}

// NewCDR builds the unsigned CDR rendering of ev for cpo, the idToken being the session-begin
// entry's id_token (OCPI's CdrToken.uid).
func NewCDR(ev *Evidence, cpo CPO, idToken string) (*CDR, error) {
	d, err := sessionDuration(ev)
	if err != nil {
		return nil, fmt.Errorf("session times: %w", err)
	}
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	energy := decimal4(ev.EnergyImportMWh, 1_000_000)
	hours := decimal4(d.Milliseconds(), 3_600_000)
	c := &CDR{
		CountryCode: cpo.CountryCode, PartyID: cpo.PartyID, ID: ev.SessionID,
		StartDateTime: ocpiTime(ev.Start.Time), EndDateTime: ocpiTime(ev.End.Time), SessionID: ev.SessionID,
		CdrToken:   CdrToken{CountryCode: cpo.CountryCode, PartyID: cpo.PartyID, UID: idToken, Type: "OTHER", ContractID: idToken},
		AuthMethod: "WHITELIST",
		CdrLocation: CdrLocation{
			ID: def(cpo.LocationID, ev.EVSEID), EVSEUID: ev.EVSEID, EVSEID: ev.EVSEID, ConnectorID: def(cpo.ConnectorID, "1"),
			ConnectorStandard: def(cpo.ConnectorStandard, "IEC_62196_T2"), ConnectorFormat: def(cpo.ConnectorFormat, "SOCKET"),
			ConnectorPowerType: def(cpo.ConnectorPowerType, "AC_3_PHASE"),
		},
		MeterID: ev.MeterSerial, Currency: cpo.Currency,
		ChargingPeriods: []ChargingPeriod{{StartDateTime: ocpiTime(ev.Start.Time), Dimensions: []CdrDimension{{Type: "ENERGY", Volume: energy}, {Type: "TIME", Volume: hours}}}},
		TotalEnergy:     energy, TotalTime: hours, LastUpdated: ocpiTime(ev.End.Time), Chargegate: ev,
	}
	if ev.OCMF != "" {
		rec, err := ocmf.Parse(ev.OCMF)
		if err != nil {
			return nil, fmt.Errorf("OCMF record: %w", err)
		}
		key, err := decodeHex0x(ev.OCMFPublicKey)
		if err != nil {
			return nil, fmt.Errorf("OCMF key: %w", err)
		}
		c.SignedData = &SignedData{
			EncodingMethod: "OCMF", PublicKey: base64.StdEncoding.EncodeToString(key), URL: cpo.URL,
			SignedValues: []SignedValue{{Nature: "End", PlainData: string(rec.Payload), SignedData: base64.StdEncoding.EncodeToString([]byte(ev.OCMF))}},
		}
	}
	return c, nil
}

// Rendering names a receipt's rendering.
type Rendering string

// The two renderings.
const (
	RenderVC  Rendering = "vc"
	RenderCDR Rendering = "cdr"
)

// Build makes the signed receipt of s in rendering r, signed with the device's entry key (which
// must be the entries' key) at created. cpo is used by the CDR rendering only.
func Build(s Session, r Rendering, key ed25519.PrivateKey, cpo CPO, created time.Time) ([]byte, error) {
	if err := checkKey(key, &s); err != nil {
		return nil, err
	}
	ev, err := NewEvidence(s)
	if err != nil {
		return nil, err
	}
	var doc any
	switch r {
	case RenderVC:
		doc = NewCredential(ev, s.Begin.DeviceKey)
	case RenderCDR:
		idToken := s.IDToken
		if idToken == "" {
			idToken = IDToken(&s.Begin)
		}
		if doc, err = NewCDR(ev, cpo, idToken); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: rendering %q", ErrInput, r)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode receipt: %w", err)
	}
	signed, err := Sign(b, key, created)
	if err != nil {
		return nil, err
	}
	return Canonicalize(signed)
}
