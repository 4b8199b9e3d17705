package anchor

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
)

// Layout of the anchor payload (version 1); see the package documentation.
const (
	// Version is the payload format version this package writes and reads.
	Version = 1
	// PayloadSize is the size of an encoded anchor payload in bytes.
	PayloadSize = 1 + 8 + 8 + 32 + 32 + 32 + ed25519.SignatureSize
	// signedSize is the number of leading payload bytes the signature covers.
	signedSize = PayloadSize - ed25519.SignatureSize
	// signingContext prefixes the signed bytes, so an anchor signature can never be taken for a
	// signature over anything else the device key signs (entries sign a bare 32-byte hash).
	signingContext = "chargegate anchor v1\n"
	// TagPrefix starts the TaggedData tag of every anchor block; the device ID follows.
	TagPrefix = "chargegate/a1/"
	// maxTagLen is iota.go's TaggedPayloadTagMaxLength.
	maxTagLen = 64
)

// Errors callers branch on. Verification errors wrap one of these.
var (
	// ErrFormat means bytes are not a valid anchor payload or proof.
	ErrFormat = errors.New("malformed")
	// ErrSignature means a signature does not verify.
	ErrSignature = errors.New("bad signature")
	// ErrPath means a Merkle path does not lead from the entry to the anchor's root.
	ErrPath = errors.New("merkle path mismatch")
	// ErrBlock means the ledger block does not carry this anchor as it should.
	ErrBlock = errors.New("block mismatch")
	// ErrPoW means the block's proof-of-work score is below the node's minimum.
	ErrPoW = errors.New("insufficient proof of work")
	// ErrNotConfirmed means no milestone references the block yet.
	ErrNotConfirmed = errors.New("block not confirmed")
)

// Anchor summarises a batch of consecutive entries of one device: the inclusive sequence range,
// the Merkle root over the entries' hashes, the hash of the last entry, and the block ID of the
// device's previous anchor (zero for its first), signed with the device's entry key.
type Anchor struct {
	First, Last uint64
	Root        [32]byte
	LastHash    [32]byte
	Prev        [32]byte
	Signature   [ed25519.SignatureSize]byte
}

// Count returns the number of entries the anchor covers.
func (a *Anchor) Count() uint64 { return a.Last - a.First + 1 }

// encodeSigned returns the payload bytes the signature covers.
func (a *Anchor) encodeSigned() []byte {
	b := make([]byte, 0, PayloadSize)
	b = append(b, Version)
	b = binary.BigEndian.AppendUint64(b, a.First)
	b = binary.BigEndian.AppendUint64(b, a.Last)
	b = append(b, a.Root[:]...)
	b = append(b, a.LastHash[:]...)
	b = append(b, a.Prev[:]...)
	return b
}

// signingMessage returns what Ed25519 signs: the context string and the signed payload bytes.
func (a *Anchor) signingMessage() []byte {
	return append([]byte(signingContext), a.encodeSigned()...)
}

// Sign signs the anchor with the device's entry key.
func (a *Anchor) Sign(key ed25519.PrivateKey) {
	copy(a.Signature[:], ed25519.Sign(key, a.signingMessage()))
}

// Verify checks the anchor's signature under the device's public key and its range.
// It returns an error wrapping ErrSignature or ErrFormat.
func (a *Anchor) Verify(pub ed25519.PublicKey) error {
	if err := a.validate(); err != nil {
		return err
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("verify anchor: public key of %d bytes: %w", len(pub), ErrFormat)
	}
	if !ed25519.Verify(pub, a.signingMessage(), a.Signature[:]) {
		return fmt.Errorf("verify anchor %d..%d: %w", a.First, a.Last, ErrSignature)
	}
	return nil
}

func (a *Anchor) validate() error {
	if a.First == 0 || a.Last < a.First {
		return fmt.Errorf("anchor range %d..%d: %w", a.First, a.Last, ErrFormat)
	}
	return nil
}

// MarshalBinary returns the payload: the signed bytes followed by the signature.
func (a *Anchor) MarshalBinary() ([]byte, error) {
	if err := a.validate(); err != nil {
		return nil, err
	}
	return append(a.encodeSigned(), a.Signature[:]...), nil
}

// Decode parses a payload strictly: exact size, known version, a valid range. It does not check
// the signature (see Verify).
func Decode(b []byte) (Anchor, error) {
	var a Anchor
	if len(b) != PayloadSize {
		return a, fmt.Errorf("decode anchor: %d bytes, want %d: %w", len(b), PayloadSize, ErrFormat)
	}
	if b[0] != Version {
		return a, fmt.Errorf("decode anchor: version %d: %w", b[0], ErrFormat)
	}
	a.First = binary.BigEndian.Uint64(b[1:9])
	a.Last = binary.BigEndian.Uint64(b[9:17])
	copy(a.Root[:], b[17:49])
	copy(a.LastHash[:], b[49:81])
	copy(a.Prev[:], b[81:113])
	copy(a.Signature[:], b[signedSize:])
	if err := a.validate(); err != nil {
		return Anchor{}, fmt.Errorf("decode anchor: %w", err)
	}
	return a, nil
}

// Tag returns the TaggedData tag of a device's anchor blocks: TagPrefix followed by the device
// ID (ledger.DeviceID), so that every anchor of a device can be found by tag.
func Tag(deviceID string) ([]byte, error) {
	t := TagPrefix + deviceID
	if deviceID == "" || len(t) > maxTagLen {
		return nil, fmt.Errorf("anchor tag %q: must be 1..%d bytes: %w", t, maxTagLen, ErrFormat)
	}
	return []byte(t), nil
}
