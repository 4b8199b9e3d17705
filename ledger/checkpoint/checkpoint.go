package checkpoint

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/chargegate/chargegate/ledger"
)

// OriginPrefix starts the origin of every device's log; the device ID follows.
const OriginPrefix = "chargegate/"

// Errors callers branch on.
var (
	// ErrFormat means bytes are not a checkpoint or request of the documented form.
	ErrFormat = errors.New("malformed checkpoint")
	// ErrSignature means a checkpoint or cosignature does not verify under the expected key.
	ErrSignature = errors.New("bad checkpoint signature")
	// ErrInconsistent means a consistency or inclusion proof fails: the log forked.
	ErrInconsistent = errors.New("inconsistent log")
	// ErrRolledBack means a witness holds a larger tree than the device: the device's data
	// was rolled back.
	ErrRolledBack = errors.New("log rolled back")
)

// Origin returns the checkpoint origin of a device's log: OriginPrefix + ledger.DeviceID.
func Origin(pub ed25519.PublicKey) string { return OriginPrefix + ledger.DeviceID(pub) }

// Checkpoint is the body of a C2SP tlog-checkpoint: origin, tree size, root hash.
type Checkpoint struct {
	Origin string
	Size   int64
	Hash   tlog.Hash
}

// String returns the checkpoint body: "<origin>\n<size>\n<base64 root>\n".
func (c Checkpoint) String() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash[:]))
}

// ParseCheckpoint parses a checkpoint body strictly (no extension lines are written; any are
// refused).
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitAfter(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return Checkpoint{}, fmt.Errorf("checkpoint of %d lines: %w", len(lines)-1, ErrFormat)
	}
	origin := strings.TrimSuffix(lines[0], "\n")
	size, err := strconv.ParseInt(strings.TrimSuffix(lines[1], "\n"), 10, 64)
	if origin == "" || err != nil || size < 0 || strconv.FormatInt(size, 10) != strings.TrimSuffix(lines[1], "\n") {
		return Checkpoint{}, fmt.Errorf("checkpoint origin or size: %w", ErrFormat)
	}
	h, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(lines[2], "\n"))
	if err != nil || len(h) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("checkpoint root hash: %w", ErrFormat)
	}
	c := Checkpoint{Origin: origin, Size: size}
	copy(c.Hash[:], h)
	return c, nil
}

// DeviceSigner signs a device's checkpoints with its Ed25519 entry key as a C2SP signed note
// (note key type 0x01, name = the origin). The signed bytes are the checkpoint text, which can
// never be a 32-byte entry hash nor start with the anchor context, so the key's other
// signatures cannot be replayed as checkpoints.
func DeviceSigner(key ed25519.PrivateKey) note.Signer {
	pub := key.Public().(ed25519.PublicKey)
	name := Origin(pub)
	return &edSigner{name: name, hash: keyHash(name, append([]byte{algEd25519}, pub...)), key: key}
}

// DeviceVerifierKey returns the note verifier key ("<origin>+<hash>+<base64>") of a device.
func DeviceVerifierKey(pub ed25519.PublicKey) (string, error) {
	return note.NewEd25519VerifierKey(Origin(pub), pub)
}

const (
	algEd25519     = 0x01 // note: Ed25519 signature
	algCosignature = 0x04 // C2SP tlog-cosignature: cosignature/v1
)

// keyHash is the note key ID: the first 4 bytes of SHA-256(name ‖ "\n" ‖ alg ‖ key).
func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

type edSigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

func (s *edSigner) Name() string    { return s.name }
func (s *edSigner) KeyHash() uint32 { return s.hash }
func (s *edSigner) Sign(msg []byte) ([]byte, error) {
	return ed25519.Sign(s.key, msg), nil
}

// Sign returns the signed note of c (its text and the signature line).
func Sign(c Checkpoint, signer note.Signer) ([]byte, error) {
	b, err := note.Sign(&note.Note{Text: c.String()}, signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return b, nil
}

// Open verifies a signed checkpoint under the device's verifier and parses it; the origin must
// be the verifier's name. Cosignatures by others are kept in the returned note.
func Open(signed []byte, device note.Verifier) (Checkpoint, *note.Note, error) {
	n, err := note.Open(signed, note.VerifierList(device))
	if err != nil {
		// note's malformed-note error is not exported; anything else is a signature that is
		// missing, unknown or wrong.
		if strings.Contains(err.Error(), "malformed note") {
			return Checkpoint{}, nil, fmt.Errorf("open checkpoint: %v: %w", err, ErrFormat)
		}
		return Checkpoint{}, nil, fmt.Errorf("open checkpoint: %v: %w", err, ErrSignature)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != device.Name() {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint origin %q, signed as %q: %w", c.Origin, device.Name(), ErrSignature)
	}
	return c, n, nil
}

// noteBody returns a signed note's text (up to and including the blank line's first "\n").
func noteBody(signed []byte) ([]byte, bool) {
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 {
		return nil, false
	}
	return signed[:i+1], true
}

// verifierKey formats a note verifier key.
func verifierKey(name string, hash uint32, key []byte) string {
	return fmt.Sprintf("%s+%08x+%s", name, hash, base64.StdEncoding.EncodeToString(key))
}

// parseVerifierKey splits a note verifier key into name, hash and key bytes.
func parseVerifierKey(vkey string) (string, uint32, []byte, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hexHash, b64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || name == "" || len(hexHash) != 8 {
		return "", 0, nil, fmt.Errorf("verifier key %q: %w", vkey, ErrFormat)
	}
	h, err := strconv.ParseUint(hexHash, 16, 32)
	if err != nil {
		return "", 0, nil, fmt.Errorf("verifier key %q: hash: %w", vkey, ErrFormat)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", 0, nil, fmt.Errorf("verifier key %q: key: %w", vkey, ErrFormat)
	}
	return name, uint32(h), key, nil
}
