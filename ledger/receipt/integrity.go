package receipt

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Data Integrity names (W3C VC Data Integrity 1.0, vc-di-eddsa 1.0 §3.3).
const (
	ProofType    = "DataIntegrityProof"
	Cryptosuite  = "eddsa-jcs-2022"
	ProofPurpose = "assertionMethod"
)

// ErrSignature means a Data Integrity proof does not verify.
var ErrSignature = errors.New("data integrity proof does not verify")

// DIProof is a Data Integrity proof with the eddsa-jcs-2022 cryptosuite.
type DIProof struct {
	Type               string   `json:"type"`
	Cryptosuite        string   `json:"cryptosuite"`
	Created            string   `json:"created,omitempty"`
	VerificationMethod string   `json:"verificationMethod"`
	ProofPurpose       string   `json:"proofPurpose"`
	Context            []string `json:"@context,omitempty"`
	ProofValue         string   `json:"proofValue,omitempty"`
}

// hashData is vc-di-eddsa §3.3.4 "Hashing (eddsa-jcs-2022)": SHA-256 of the canonical proof
// configuration followed by SHA-256 of the canonical document.
func hashData(doc map[string]json.RawMessage, cfg DIProof) ([]byte, error) {
	cfg.ProofValue = ""
	cb, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode proof configuration: %w", err)
	}
	canonCfg, err := Canonicalize(cb)
	if err != nil {
		return nil, fmt.Errorf("proof configuration: %w", err)
	}
	db, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode document: %w", err)
	}
	canonDoc, err := Canonicalize(db)
	if err != nil {
		return nil, fmt.Errorf("document: %w", err)
	}
	h1, h2 := sha256.Sum256(canonCfg), sha256.Sum256(canonDoc)
	return append(h1[:], h2[:]...), nil
}

// contextOf returns the document's @context as a list of strings (nil when absent).
func contextOf(doc map[string]json.RawMessage) ([]string, error) {
	raw, ok := doc["@context"]
	if !ok {
		return nil, nil
	}
	var ctx []string
	if err := json.Unmarshal(raw, &ctx); err != nil {
		return nil, fmt.Errorf("@context is not a list of URLs: %w", err)
	}
	return ctx, nil
}

// Sign adds an eddsa-jcs-2022 proof to the JSON object doc (which must have none), made with
// key at created, and returns the secured document (vc-di-eddsa §3.3.1 "Create Proof"; the
// proof's @context is the document's, §3.3.5).
func Sign(doc []byte, key ed25519.PrivateKey, created time.Time) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("document is not a JSON object: %w", err)
	}
	if _, ok := m["proof"]; ok {
		return nil, errors.New("document already has a proof")
	}
	ctx, err := contextOf(m)
	if err != nil {
		return nil, err
	}
	p := DIProof{
		Type: ProofType, Cryptosuite: Cryptosuite, Created: created.UTC().Format(time.RFC3339),
		VerificationMethod: VerificationMethod(key.Public().(ed25519.PublicKey)), ProofPurpose: ProofPurpose, Context: ctx,
	}
	hd, err := hashData(m, p)
	if err != nil {
		return nil, err
	}
	p.ProofValue = "z" + EncodeBase58(ed25519.Sign(key, hd))
	pb, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode proof: %w", err)
	}
	m["proof"] = pb
	return json.Marshal(m)
}

// VerifyProof checks the eddsa-jcs-2022 proof of a secured JSON object and returns the key it
// was made with and the proof (vc-di-eddsa §3.3.2 "Verify Proof"): the proof must be a single
// DataIntegrityProof of this cryptosuite for assertionMethod, its verification method a did:key
// (resolved without a network), its @context, when present, a prefix of the document's. Errors
// wrap ErrSignature, ErrMultibase or ErrCanonical.
func VerifyProof(secured []byte) (ed25519.PublicKey, *DIProof, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(secured, &m); err != nil {
		return nil, nil, fmt.Errorf("%w: document is not a JSON object: %v", ErrCanonical, err)
	}
	raw, ok := m["proof"]
	if !ok {
		return nil, nil, fmt.Errorf("%w: no proof", ErrSignature)
	}
	delete(m, "proof")
	var p DIProof
	if err := strictUnmarshal(raw, &p); err != nil {
		return nil, nil, fmt.Errorf("%w: proof: %v", ErrSignature, err)
	}
	if p.Type != ProofType || p.Cryptosuite != Cryptosuite || p.ProofPurpose != ProofPurpose {
		return nil, nil, fmt.Errorf("%w: proof is %s/%s for %s, want %s/%s for %s", ErrSignature, p.Type, p.Cryptosuite, p.ProofPurpose, ProofType, Cryptosuite, ProofPurpose)
	}
	if p.Context != nil {
		ctx, err := contextOf(m)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrSignature, err)
		}
		if len(ctx) < len(p.Context) || !slices.Equal(ctx[:len(p.Context)], p.Context) {
			return nil, nil, fmt.Errorf("%w: the proof's @context is not a prefix of the document's", ErrSignature)
		}
	}
	pub, err := ParseVerificationMethod(p.VerificationMethod)
	if err != nil {
		return nil, nil, err
	}
	b58, ok := cutZ(p.ProofValue)
	if !ok {
		return nil, nil, fmt.Errorf("%w: proofValue is not base58btc multibase", ErrSignature)
	}
	sig, err := DecodeBase58(b58)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, nil, fmt.Errorf("%w: proofValue is not a 64-byte signature", ErrSignature)
	}
	hd, err := hashData(m, p)
	if err != nil {
		return nil, nil, err
	}
	if !ed25519.Verify(pub, hd, sig) {
		return nil, nil, fmt.Errorf("%w: signature by %s", ErrSignature, p.VerificationMethod)
	}
	return pub, &p, nil
}

func cutZ(s string) (string, bool) {
	if len(s) < 2 || s[0] != 'z' {
		return "", false
	}
	return s[1:], true
}
