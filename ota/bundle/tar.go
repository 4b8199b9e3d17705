package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// Entry names, in the only order a bundle may hold them.
const (
	ManifestEntry  = "manifest.json"
	SignatureEntry = "manifest.sig"
	PayloadPrefix  = "payloads/"
)

// tarBlock is the tar record alignment: headers are one block, data is padded to a block.
const tarBlock = 512

// Meta is what the operator chooses for a new bundle.
type Meta struct {
	Version         string
	SecurityVersion uint64
	Compatible      []string
}

// Input is one payload to put into a new bundle. Data is read twice (hash, then copy).
type Input struct {
	Name string
	Type string
	Data io.ReadSeeker
}

// Create writes a bundle to w: the manifest built from meta and the inputs, its signatures
// by every key, then the payloads. The output is deterministic for the same inputs and keys
// (Ed25519 signatures are deterministic and tar headers carry no time or owner).
func Create(w io.Writer, meta Meta, inputs []Input, chunkSize int64, keys []ed25519.PrivateKey) (Manifest, error) {
	m := Manifest{Format: Format, Version: meta.Version, SecurityVersion: meta.SecurityVersion, Compatible: meta.Compatible}
	for _, in := range inputs {
		p, err := describe(in, chunkSize)
		if err != nil {
			return Manifest{}, err
		}
		m.Payloads = append(m.Payloads, p)
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	if len(keys) == 0 {
		return Manifest{}, fmt.Errorf("create bundle: %w: no signing key", ErrUnsigned)
	}
	raw, err := m.encode()
	if err != nil {
		return Manifest{}, err
	}
	sig, err := sign(raw, keys)
	if err != nil {
		return Manifest{}, err
	}
	tw := tar.NewWriter(w)
	if err := writeEntry(tw, ManifestEntry, int64(len(raw)), bytes.NewReader(raw)); err != nil {
		return Manifest{}, err
	}
	if err := writeEntry(tw, SignatureEntry, int64(len(sig)), bytes.NewReader(sig)); err != nil {
		return Manifest{}, err
	}
	for i, in := range inputs {
		if _, err := in.Data.Seek(0, io.SeekStart); err != nil {
			return Manifest{}, fmt.Errorf("rewind payload %s: %w", in.Name, err)
		}
		if err := writeEntry(tw, PayloadPrefix+in.Name, m.Payloads[i].Size, in.Data); err != nil {
			return Manifest{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return Manifest{}, fmt.Errorf("finish bundle: %w", err)
	}
	return m, nil
}

func describe(in Input, chunkSize int64) (Payload, error) {
	p := Payload{Name: in.Name, Type: in.Type, ChunkSize: chunkSize}
	if _, err := in.Data.Seek(0, io.SeekStart); err != nil {
		return p, fmt.Errorf("rewind payload %s: %w", in.Name, err)
	}
	whole := sha256.New()
	buf := make([]byte, max(chunkSize, 1))
	for {
		n, err := io.ReadFull(in.Data, buf)
		if n > 0 {
			sum := sha256.Sum256(buf[:n])
			p.Chunks = append(p.Chunks, hex.EncodeToString(sum[:]))
			whole.Write(buf[:n])
			p.Size += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return p, fmt.Errorf("read payload %s: %w", in.Name, err)
		}
	}
	p.SHA256 = hex.EncodeToString(whole.Sum(nil))
	return p, nil
}

func writeEntry(tw *tar.Writer, name string, size int64, r io.Reader) error {
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s header: %w", name, err)
	}
	if n, err := io.CopyN(tw, r, size); err != nil {
		return fmt.Errorf("write %s (%d of %d bytes): %w", name, n, size, err)
	}
	return nil
}

// Reader reads a bundle as a stream, enforcing the entry order and names. It never uses an
// entry name as a path: anything but the expected names is rejected, so a tar crafted with
// "../" names, links or devices cannot reach the filesystem.
type Reader struct {
	cr   *countingReader
	tr   *tar.Reader
	m    Manifest
	next int   // index of the payload the next entry must hold
	end  int64 // offset just past the current entry's padded data
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// NewReader reads a bundle from its first byte.
func NewReader(r io.Reader) *Reader {
	cr := &countingReader{r: r}
	return &Reader{cr: cr, tr: tar.NewReader(cr)}
}

// ResumeReader continues reading a bundle whose manifest m is already verified, from offset,
// which must be the start of the tar header of payload next (see PaddedEnd).
func ResumeReader(r io.Reader, offset int64, m Manifest, next int) *Reader {
	cr := &countingReader{r: r, n: offset}
	return &Reader{cr: cr, tr: tar.NewReader(cr), m: m, next: next}
}

// PaddedEnd returns the offset of the header following an entry whose data of size bytes
// starts at dataOffset.
func PaddedEnd(dataOffset, size int64) int64 {
	return dataOffset + (size+tarBlock-1)/tarBlock*tarBlock
}

// Offset returns how many bytes of the bundle have been consumed.
func (r *Reader) Offset() int64 { return r.cr.n }

// NextHeader returns the offset of the header after the current entry: where a
// ResumeReader can start once the current entry is done.
func (r *Reader) NextHeader() int64 { return r.end }

func (r *Reader) nextEntry(name string, limit int64) (*tar.Header, error) {
	hdr, err := r.tr.Next()
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: expected %s", ErrTruncated, name)
	}
	if errors.Is(err, tar.ErrHeader) || errors.Is(err, tar.ErrInsecurePath) || errors.Is(err, tar.ErrFieldTooLong) {
		return nil, fmt.Errorf("%w: read entry header: %v", ErrMalformed, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read entry header: %w", err) // the underlying reader failed
	}
	if hdr.Name != name {
		return nil, fmt.Errorf("%w: entry %q where %q belongs", ErrMalformed, hdr.Name, name)
	}
	if hdr.Typeflag != tar.TypeReg || len(hdr.PAXRecords) != 0 {
		return nil, fmt.Errorf("%w: entry %q is not a plain file", ErrMalformed, hdr.Name)
	}
	if hdr.Size < 0 || hdr.Size > limit {
		return nil, fmt.Errorf("%w: entry %q is %d bytes, limit %d", ErrMalformed, hdr.Name, hdr.Size, limit)
	}
	r.end = PaddedEnd(r.cr.n, hdr.Size)
	return hdr, nil
}

func (r *Reader) readSmall(name string, limit int64) ([]byte, error) {
	hdr, err := r.nextEntry(name, limit)
	if err != nil {
		return nil, err
	}
	b := make([]byte, hdr.Size)
	if _, err := io.ReadFull(r.tr, b); err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrTruncated, name, err)
	}
	return b, nil
}

// Manifest reads and verifies the manifest and its signatures (see VerifyManifest). It must
// be the first call on a Reader from NewReader. It returns the manifest's raw bytes and the
// signature file, which a resuming reader can verify again.
func (r *Reader) Manifest(trusted map[string]ed25519.PublicKey) (m Manifest, raw, sig []byte, err error) {
	m, raw, sig, _, err = r.manifest(trusted)
	return m, raw, sig, err
}

// manifest is Manifest that also returns the IDs of the keys whose signatures verified.
func (r *Reader) manifest(trusted map[string]ed25519.PublicKey) (m Manifest, raw, sig []byte, signers []string, err error) {
	if raw, err = r.readSmall(ManifestEntry, MaxManifestSize); err != nil {
		return Manifest{}, nil, nil, nil, err
	}
	if sig, err = r.readSmall(SignatureEntry, MaxSignatureSize); err != nil {
		return Manifest{}, nil, nil, nil, err
	}
	if m, signers, err = VerifyManifest(raw, sig, trusted); err != nil {
		return Manifest{}, nil, nil, nil, err
	}
	r.m = m
	return m, raw, sig, signers, nil
}

// NextPayload advances to the next payload's data and returns its description and the bundle
// offset of its first byte. Read then returns the payload's bytes. After the last payload it
// checks that the bundle ends there and returns io.EOF.
func (r *Reader) NextPayload() (Payload, int64, error) {
	if r.m.Format == "" {
		return Payload{}, 0, fmt.Errorf("%w: payload before verified manifest", ErrMalformed)
	}
	if r.next < 0 {
		return Payload{}, 0, fmt.Errorf("%w: payload index %d", ErrMalformed, r.next)
	}
	if r.next >= len(r.m.Payloads) {
		hdr, err := r.tr.Next()
		if errors.Is(err, io.EOF) {
			return Payload{}, 0, io.EOF
		}
		if errors.Is(err, tar.ErrHeader) {
			return Payload{}, 0, fmt.Errorf("%w: read end of bundle: %v", ErrMalformed, err)
		}
		if err != nil {
			return Payload{}, 0, fmt.Errorf("read end of bundle: %w", err)
		}
		return Payload{}, 0, fmt.Errorf("%w: unexpected entry %q after the last payload", ErrMalformed, hdr.Name)
	}
	p := r.m.Payloads[r.next]
	hdr, err := r.nextEntry(PayloadPrefix+p.Name, MaxPayloadSize)
	if err != nil {
		return Payload{}, 0, err
	}
	if hdr.Size != p.Size {
		return Payload{}, 0, fmt.Errorf("%w: entry %q is %d bytes, manifest says %d", ErrMalformed, hdr.Name, hdr.Size, p.Size)
	}
	r.next++
	return p, r.cr.n, nil
}

// Read reads the current payload's data.
func (r *Reader) Read(b []byte) (int, error) {
	n, err := r.tr.Read(b)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("%w: %v", ErrTruncated, err)
	}
	return n, err
}

// Verify reads a whole bundle, checks its signature against trusted keys and every chunk
// and payload hash, and returns the manifest.
func Verify(rd io.Reader, trusted map[string]ed25519.PublicKey) (Manifest, error) {
	m, _, err := VerifySigners(rd, trusted)
	return m, err
}

// VerifySigners is Verify that also returns the IDs of the trusted keys whose signatures
// verified. It is what the operator tool's verify runs.
func VerifySigners(rd io.Reader, trusted map[string]ed25519.PublicKey) (Manifest, []string, error) {
	r := NewReader(rd)
	m, _, _, signers, err := r.manifest(trusted)
	if err != nil {
		return Manifest{}, nil, err
	}
	for {
		p, _, err := r.NextPayload()
		if errors.Is(err, io.EOF) {
			return m, signers, nil
		}
		if err != nil {
			return Manifest{}, nil, err
		}
		if err := CheckPayload(r, p); err != nil {
			return Manifest{}, nil, err
		}
	}
}

// CheckPayload reads p.Size bytes from r and verifies every chunk and the whole-payload hash.
func CheckPayload(r io.Reader, p Payload) error {
	whole := sha256.New()
	buf := make([]byte, p.ChunkSize)
	for i := range p.NumChunks() {
		c := buf[:p.ChunkLen(i)]
		if _, err := io.ReadFull(r, c); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: payload %s chunk %d", ErrTruncated, p.Name, i)
			}
			return fmt.Errorf("read payload %s chunk %d: %w", p.Name, i, err)
		}
		if err := p.VerifyChunk(i, c); err != nil {
			return err
		}
		whole.Write(c)
	}
	if hex.EncodeToString(whole.Sum(nil)) != p.SHA256 {
		return fmt.Errorf("%w: payload %s", ErrHashMismatch, p.Name)
	}
	return nil
}
