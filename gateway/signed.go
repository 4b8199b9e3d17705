package gateway

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
)

// SignedCommand is the envelope of an operator-signed command: the command's JSON, base64, and
// an Ed25519 signature over CommandSigningInput. Binding the device and the command name means a
// captured command cannot be replayed to another charger or as another command; the request ID
// and the validity window inside the payload (see Operator) keep it from being replayed to the
// same one, also after a restart.
type SignedCommand struct {
	Payload string `json:"payload"` // base64 of the command JSON
	Sig     string `json:"sig"`     // base64 Ed25519 signature
}

// CommandSigningInput is the byte string an operator signs for one command.
func CommandSigningInput(device, name string, payload []byte) []byte {
	return []byte("chargegate-command-v1\n" + device + "\n" + name + "\n" + string(payload))
}

// CommandVerifier checks operator-signed commands for one device.
type CommandVerifier struct {
	device string
	keys   []ed25519.PublicKey
}

// NewCommandVerifier trusts the given operator keys for commands to device.
func NewCommandVerifier(device string, keys []ed25519.PublicKey) *CommandVerifier {
	return &CommandVerifier{device: device, keys: keys}
}

// Open verifies the envelope and returns the command JSON inside it.
func (v *CommandVerifier) Open(name string, envelope []byte) ([]byte, error) {
	var env SignedCommand
	dec := json.NewDecoder(strings.NewReader(string(envelope)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || env.Payload == "" || env.Sig == "" {
		return nil, fmt.Errorf("%w: want {\"payload\":base64,\"sig\":base64}", ErrCommandSignature)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrCommandSignature, err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: malformed signature", ErrCommandSignature)
	}
	msg := CommandSigningInput(v.device, name, payload)
	for _, k := range v.keys {
		if ed25519.Verify(k, msg, sig) {
			return payload, nil
		}
	}
	return nil, fmt.Errorf("%w: no trusted operator key signed this command for this device", ErrCommandSignature)
}

// LoadOperatorKey reads an Ed25519 public key from a PEM file (PKIX "PUBLIC KEY").
func LoadOperatorKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 public key", path)
	}
	return pub, nil
}
