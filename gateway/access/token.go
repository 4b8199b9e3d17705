package access

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TokenType is the JWS "typ" header every capability token carries (doc.go, "Capability tokens").
const TokenType = "chargegate-cap+jwt"

// MaxTokenSize is the longest compact JWS the verifier parses, in bytes: a token with a dozen EVSE
// IDs is about 600 bytes, and a QR code of version 25 at level M holds about 1,200 characters.
const MaxTokenSize = 2048

// DefaultSkew is the clock skew allowed on nbf and exp: the box's clock may be minutes off while
// it has no time source.
const DefaultSkew = 5 * time.Minute

// Refusal reasons of a capability token. Each is a sentinel an error wraps (errors.Is) and, by its
// text, the Reason of a refused Decision.
var (
	ErrTooLarge       = errors.New("too_large")
	ErrMalformed      = errors.New("malformed")
	ErrAlgorithm      = errors.New("bad_algorithm")
	ErrNoKeyID        = errors.New("no_key_id")
	ErrType           = errors.New("bad_type")
	ErrUnknownIssuer  = errors.New("unknown_issuer")
	ErrBadSignature   = errors.New("bad_signature")
	ErrExpired        = errors.New("expired")
	ErrNotYetValid    = errors.New("not_yet_valid")
	ErrWrongEVSE      = errors.New("wrong_evse")
	ErrReplayed       = errors.New("replayed")
	ErrNoSubject      = errors.New("no_subject")
	ErrWrongIDToken   = errors.New("wrong_id_token")
	ErrHolderProof    = errors.New("bad_holder_proof")
	ErrMissingExpiry  = errors.New("no_expiry")
	ErrMissingTokenID = errors.New("no_token_id")
)

// Limits bound a session. Zero means no limit from this source.
type Limits struct {
	// MaxEnergyWh is the most energy the session may import, in Wh.
	MaxEnergyWh int64 `json:"max_wh,omitempty"`
	// MaxDurationS is the longest the session may charge, in seconds.
	MaxDurationS int64 `json:"max_s,omitempty"`
	// MaxPowerW is the highest power the session may draw, in W.
	MaxPowerW int64 `json:"max_w,omitempty"`
}

// MaxDuration returns MaxDurationS as a time.Duration (0: no limit).
func (l Limits) MaxDuration() time.Duration { return time.Duration(l.MaxDurationS) * time.Second }

// Claims are the payload of a capability token (doc.go, "Capability tokens").
type Claims struct {
	// Issuer names the issuer for people; the key ID in the header decides trust.
	Issuer string `json:"iss,omitempty"`
	// Subject is the id_token the token is bound to (an RFID UID, an eMAID).
	Subject string `json:"sub,omitempty"`
	// HolderKey is a base64url Ed25519 public key; whoever presents the token must sign the box's
	// challenge with it. A token names Subject, HolderKey or both.
	HolderKey string `json:"hk,omitempty"`
	// EVSEs are the EVSE IDs where the token is valid.
	EVSEs []string `json:"evse,omitempty"`
	// EVSEGroup is a group of EVSEs (a site) where the token is valid, as configured on the box.
	EVSEGroup string `json:"evse_grp,omitempty"`
	// Group is the driver's group: a token of the same group may stop the session.
	Group string `json:"grp,omitempty"`
	// NotBefore, Expiry and IssuedAt are Unix seconds (RFC 7519 NumericDate). Expiry is required.
	NotBefore int64 `json:"nbf,omitempty"`
	Expiry    int64 `json:"exp"`
	IssuedAt  int64 `json:"iat,omitempty"`
	// ID is the token ID (jti), required when SingleUse.
	ID string `json:"jti,omitempty"`
	// SingleUse makes the token good for one session: its ID is remembered until expiry.
	SingleUse bool `json:"once,omitempty"`
	// Limits bound the session the token starts.
	Limits
}

// Issue signs c with key under key ID kid and returns the compact JWS.
func Issue(key ed25519.PrivateKey, kid string, c Claims) (string, error) {
	if kid == "" {
		return "", ErrNoKeyID
	}
	if c.Expiry == 0 {
		return "", ErrMissingExpiry
	}
	if c.SingleUse && c.ID == "" {
		return "", ErrMissingTokenID
	}
	if c.Subject == "" && c.HolderKey == "" {
		return "", ErrNoSubject
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(TokenType))
	if err != nil {
		return "", fmt.Errorf("new signer: %w", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("serialize: %w", err)
	}
	if len(s) > MaxTokenSize {
		return "", fmt.Errorf("%w: %d bytes", ErrTooLarge, len(s))
	}
	return s, nil
}

// Verified is a token that passed Verify.
type Verified struct {
	// KeyID is the issuer key that signed it.
	KeyID string
	// Claims are its payload.
	Claims Claims
}

// Verifier checks capability tokens offline against the trusted issuer keys. It is safe for
// concurrent use; the keys are fixed at construction (rotate by building a new Verifier).
type Verifier struct {
	keys map[string]ed25519.PublicKey
	skew time.Duration
}

// NewVerifier returns a Verifier trusting keys by key ID, with DefaultSkew.
func NewVerifier(keys map[string]ed25519.PublicKey) *Verifier {
	k := make(map[string]ed25519.PublicKey, len(keys))
	for id, pub := range keys {
		k[id] = slices.Clone(pub)
	}
	return &Verifier{keys: k, skew: DefaultSkew}
}

// Where is the EVSE a token is presented at.
type Where struct {
	// EVSEID is this EVSE's ID (empty: not checked, for the operator's verify tool).
	EVSEID string
	// Groups are the EVSE groups this EVSE belongs to.
	Groups []string
}

// Verify parses token and checks, in this order: size, JWS form, alg EdDSA, kid, typ, issuer,
// signature, expiry, not-before, place. A refusal wraps one of the Err sentinels above.
// Single-use replay is the Authorizer's check (it needs the store).
func (v *Verifier) Verify(token string, now time.Time, at Where) (Verified, error) {
	hdr, payload, err := v.verifySignature(token)
	if err != nil {
		return Verified{}, err
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Verified{}, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	out := Verified{KeyID: hdr.KeyID, Claims: c}
	switch {
	case c.Expiry == 0:
		return out, ErrMissingExpiry
	case c.Subject == "" && c.HolderKey == "":
		return out, ErrNoSubject
	case c.SingleUse && c.ID == "":
		return out, ErrMissingTokenID
	case now.Unix() >= c.Expiry+int64(v.skew/time.Second):
		return out, fmt.Errorf("%w: at %s", ErrExpired, time.Unix(c.Expiry, 0).UTC().Format(time.RFC3339))
	case c.NotBefore != 0 && now.Unix() < c.NotBefore-int64(v.skew/time.Second):
		return out, fmt.Errorf("%w: until %s", ErrNotYetValid, time.Unix(c.NotBefore, 0).UTC().Format(time.RFC3339))
	case c.HolderKey != "":
		if k, err := base64.RawURLEncoding.DecodeString(c.HolderKey); err != nil || len(k) != ed25519.PublicKeySize {
			return out, fmt.Errorf("%w: holder key", ErrMalformed)
		}
	}
	if at.EVSEID != "" && !c.validAt(at) {
		return out, fmt.Errorf("%w: %s", ErrWrongEVSE, at.EVSEID)
	}
	return out, nil
}

// validAt reports whether the claims name the EVSE or one of its groups. A token naming neither
// is valid everywhere the issuer is trusted.
func (c Claims) validAt(at Where) bool {
	if len(c.EVSEs) == 0 && c.EVSEGroup == "" {
		return true
	}
	return slices.Contains(c.EVSEs, at.EVSEID) || (c.EVSEGroup != "" && slices.Contains(at.Groups, c.EVSEGroup))
}

func (v *Verifier) verifySignature(token string) (jose.Header, []byte, error) {
	if len(token) > MaxTokenSize {
		return jose.Header{}, nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(token))
	}
	if strings.Count(token, ".") != 2 {
		return jose.Header{}, nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		if strings.Contains(err.Error(), "unexpected signature algorithm") {
			return jose.Header{}, nil, fmt.Errorf("%w: %v", ErrAlgorithm, err)
		}
		return jose.Header{}, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(jws.Signatures) != 1 {
		return jose.Header{}, nil, fmt.Errorf("%w: %d signatures", ErrMalformed, len(jws.Signatures))
	}
	hdr := jws.Signatures[0].Protected
	if hdr.Algorithm != string(jose.EdDSA) {
		return hdr, nil, fmt.Errorf("%w: %q", ErrAlgorithm, hdr.Algorithm)
	}
	if hdr.KeyID == "" {
		return hdr, nil, ErrNoKeyID
	}
	if typ, _ := hdr.ExtraHeaders[jose.HeaderType].(string); typ != TokenType {
		return hdr, nil, fmt.Errorf("%w: %q", ErrType, typ)
	}
	if _, ok := hdr.ExtraHeaders["crit"]; ok {
		return hdr, nil, fmt.Errorf("%w: crit header", ErrMalformed)
	}
	key, ok := v.keys[hdr.KeyID]
	if !ok {
		return hdr, nil, fmt.Errorf("%w: key ID %q", ErrUnknownIssuer, hdr.KeyID)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return hdr, nil, ErrBadSignature
	}
	return hdr, payload, nil
}

// HolderChallenge is what a holder signs to prove possession of the token's holder key: the
// token's SHA-256 and the box's nonce, so a proof cannot be moved to another token or replayed.
func HolderChallenge(token string, nonce []byte) []byte {
	h := sha256.Sum256([]byte(token))
	return append([]byte("chargegate-holder-v1\x00"+hex.EncodeToString(h[:])+"\x00"), nonce...)
}

// TokenHash is the SHA-256 of an id_token, hex: what the chain records instead of the token.
func TokenHash(idToken string) string {
	h := sha256.Sum256([]byte(idToken))
	return hex.EncodeToString(h[:])
}

// Reason returns the short reason code of a refusal error ("expired", "replayed", ...), or
// "error" when err wraps none of the sentinels.
func Reason(err error) string {
	for _, s := range []error{ErrTooLarge, ErrMalformed, ErrAlgorithm, ErrNoKeyID, ErrType,
		ErrUnknownIssuer, ErrBadSignature, ErrExpired, ErrNotYetValid, ErrWrongEVSE, ErrReplayed,
		ErrNoSubject, ErrWrongIDToken, ErrHolderProof, ErrMissingExpiry, ErrMissingTokenID} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "error"
}
