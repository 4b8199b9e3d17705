package checkpoint

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Cosigner signs checkpoints as a witness per C2SP tlog-cosignature (cosignature/v1, note key
// type 0x04): the signature is the 8-byte big-endian timestamp followed by Ed25519 over
// "cosignature/v1\ntime <timestamp>\n" ‖ checkpoint body.
type Cosigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
	now  func() time.Time
}

// NewCosigner returns the cosigner of a witness named name (a note key name: no spaces or '+').
// now is the clock; nil means time.Now.
func NewCosigner(name string, key ed25519.PrivateKey, now func() time.Time) *Cosigner {
	if now == nil {
		now = time.Now
	}
	pub := key.Public().(ed25519.PublicKey)
	return &Cosigner{name: name, hash: keyHash(name, append([]byte{algCosignature}, pub...)), key: key, now: now}
}

// Name returns the witness's name.
func (c *Cosigner) Name() string { return c.name }

// KeyHash returns the note key ID of the witness key.
func (c *Cosigner) KeyHash() uint32 { return c.hash }

// Sign returns timestamp ‖ Ed25519 signature over the cosigned message of msg.
func (c *Cosigner) Sign(msg []byte) ([]byte, error) {
	ts := uint64(c.now().Unix())
	sig := ed25519.Sign(c.key, cosignedMessage(ts, msg))
	return append(binary.BigEndian.AppendUint64(nil, ts), sig...), nil
}

// VerifierKey returns the witness's verifier key in note form: "<name>+<hash>+<base64(0x04 ‖ pub)>".
func (c *Cosigner) VerifierKey() string {
	return verifierKey(c.name, c.hash, append([]byte{algCosignature}, c.key.Public().(ed25519.PublicKey)...))
}

func cosignedMessage(ts uint64, body []byte) []byte {
	return append([]byte("cosignature/v1\ntime "+strconv.FormatUint(ts, 10)+"\n"), body...)
}

// CosignatureVerifier verifies a witness's cosignatures.
type CosignatureVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

// NewCosignatureVerifier parses a witness verifier key as written by Cosigner.VerifierKey.
func NewCosignatureVerifier(vkey string) (*CosignatureVerifier, error) {
	name, hash, key, err := parseVerifierKey(vkey)
	if err != nil {
		return nil, err
	}
	if len(key) != 1+ed25519.PublicKeySize || key[0] != algCosignature {
		return nil, fmt.Errorf("witness key %q is not a cosignature/v1 key: %w", name, ErrFormat)
	}
	if keyHash(name, key) != hash {
		return nil, fmt.Errorf("witness key %q: hash does not match: %w", name, ErrFormat)
	}
	return &CosignatureVerifier{name: name, hash: hash, pub: ed25519.PublicKey(key[1:])}, nil
}

// Name returns the witness's name.
func (v *CosignatureVerifier) Name() string { return v.name }

// KeyHash returns the note key ID.
func (v *CosignatureVerifier) KeyHash() uint32 { return v.hash }

// Verify checks a cosignature (timestamp ‖ signature) over msg.
func (v *CosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	return ed25519.Verify(v.pub, cosignedMessage(ts, msg), sig[8:])
}

var _ note.Verifier = (*CosignatureVerifier)(nil)
var _ note.Signer = (*Cosigner)(nil)
