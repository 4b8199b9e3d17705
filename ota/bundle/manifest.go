package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
)

// Format is the value of Manifest.Format for this version of the bundle format.
const Format = "chargegate-bundle/1"

// Payload types. A rootfs payload is a whole system image written to a slot's root
// partition; an app payload is the chargegate binary (app-only installs, file slots).
const (
	TypeRootfs = "rootfs"
	TypeApp    = "app"
)

// Limits on what a parser accepts from outside bytes.
const (
	MaxManifestSize  = 1 << 20  // bytes of manifest.json
	MaxSignatureSize = 64 << 10 // bytes of manifest.sig
	MinChunkSize     = 512
	MaxChunkSize     = 64 << 20
	MaxPayloadSize   = 1 << 40
	maxPayloads      = 8
)

var (
	namePattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	versionPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`)
)

// Manifest describes a bundle: what it is, where it may be installed and the exact bytes of
// each payload. Its JSON encoding, byte for byte as stored in the bundle, is what is signed.
type Manifest struct {
	Format          string    `json:"format"`
	Version         string    `json:"version"`
	SecurityVersion uint64    `json:"security_version"`
	Compatible      []string  `json:"compatible"`
	Payloads        []Payload `json:"payloads"`
}

// Payload is one file of a bundle, stored as the tar entry "payloads/" + Name.
type Payload struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Size      int64    `json:"size"`
	SHA256    string   `json:"sha256"`
	ChunkSize int64    `json:"chunk_size"`
	Chunks    []string `json:"chunks"`
}

// ParseManifest decodes and validates a manifest. It does not check signatures; use Open or
// VerifyManifest for bytes from outside.
func ParseManifest(raw []byte) (Manifest, error) {
	var m Manifest
	if len(raw) > MaxManifestSize {
		return m, fmt.Errorf("%w: manifest is %d bytes, limit %d", ErrMalformed, len(raw), MaxManifestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: decode manifest: %v", ErrMalformed, err)
	}
	if dec.More() {
		return Manifest{}, fmt.Errorf("%w: trailing data after manifest", ErrMalformed)
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// Validate checks the manifest's fields against the format's rules.
func (m Manifest) Validate() error {
	if m.Format != Format {
		return fmt.Errorf("%w: format %q, want %q", ErrMalformed, m.Format, Format)
	}
	if !versionPattern.MatchString(m.Version) {
		return fmt.Errorf("%w: bad version %q", ErrMalformed, m.Version)
	}
	if len(m.Compatible) == 0 {
		return fmt.Errorf("%w: empty compatible list", ErrMalformed)
	}
	for _, c := range m.Compatible {
		if !namePattern.MatchString(c) {
			return fmt.Errorf("%w: bad compatible entry %q", ErrMalformed, c)
		}
	}
	if len(m.Payloads) == 0 || len(m.Payloads) > maxPayloads {
		return fmt.Errorf("%w: %d payloads, want 1..%d", ErrMalformed, len(m.Payloads), maxPayloads)
	}
	var names, types []string
	for _, p := range m.Payloads {
		if err := p.validate(); err != nil {
			return err
		}
		if slices.Contains(names, p.Name) {
			return fmt.Errorf("%w: duplicate payload name %q", ErrMalformed, p.Name)
		}
		if slices.Contains(types, p.Type) {
			return fmt.Errorf("%w: two payloads of type %q", ErrMalformed, p.Type)
		}
		names, types = append(names, p.Name), append(types, p.Type)
	}
	return nil
}

func (p Payload) validate() error {
	if !namePattern.MatchString(p.Name) {
		return fmt.Errorf("%w: bad payload name %q", ErrMalformed, p.Name)
	}
	if p.Type != TypeRootfs && p.Type != TypeApp {
		return fmt.Errorf("%w: payload %s: unknown type %q", ErrMalformed, p.Name, p.Type)
	}
	if p.Size < 0 || p.Size > MaxPayloadSize {
		return fmt.Errorf("%w: payload %s: size %d out of range", ErrMalformed, p.Name, p.Size)
	}
	if p.ChunkSize < MinChunkSize || p.ChunkSize > MaxChunkSize || p.ChunkSize%MinChunkSize != 0 {
		return fmt.Errorf("%w: payload %s: chunk size %d not a multiple of %d in [%d, %d]",
			ErrMalformed, p.Name, p.ChunkSize, MinChunkSize, MinChunkSize, MaxChunkSize)
	}
	if want := p.NumChunks(); int64(len(p.Chunks)) != want {
		return fmt.Errorf("%w: payload %s: %d chunk hashes, want %d", ErrMalformed, p.Name, len(p.Chunks), want)
	}
	if !isSHA256Hex(p.SHA256) {
		return fmt.Errorf("%w: payload %s: bad sha256 %q", ErrMalformed, p.Name, p.SHA256)
	}
	for i, c := range p.Chunks {
		if !isSHA256Hex(c) {
			return fmt.Errorf("%w: payload %s: chunk %d: bad sha256 %q", ErrMalformed, p.Name, i, c)
		}
	}
	return nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// NumChunks returns how many chunks the payload has (the last one may be short).
func (p Payload) NumChunks() int64 {
	if p.ChunkSize <= 0 {
		return 0
	}
	return (p.Size + p.ChunkSize - 1) / p.ChunkSize
}

// ChunkLen returns the length of chunk i.
func (p Payload) ChunkLen(i int64) int64 {
	return min(p.ChunkSize, p.Size-i*p.ChunkSize)
}

// VerifyChunk checks data against the hash of chunk i.
func (p Payload) VerifyChunk(i int64, data []byte) error {
	if i < 0 || i >= int64(len(p.Chunks)) {
		return fmt.Errorf("%w: payload %s: chunk %d out of range", ErrChunkMismatch, p.Name, i)
	}
	if int64(len(data)) != p.ChunkLen(i) {
		return fmt.Errorf("%w: payload %s: chunk %d is %d bytes, want %d", ErrChunkMismatch, p.Name, i, len(data), p.ChunkLen(i))
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != p.Chunks[i] {
		return fmt.Errorf("%w: payload %s: chunk %d", ErrChunkMismatch, p.Name, i)
	}
	return nil
}

// IsCompatible reports whether the bundle may be installed on hardware.
func (m Manifest) IsCompatible(hardware string) bool {
	return slices.Contains(m.Compatible, hardware)
}

// encode returns the canonical JSON encoding written into bundles.
func (m Manifest) encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(b, '\n'), nil
}
