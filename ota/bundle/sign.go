package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Errors callers branch on. Every verification failure wraps exactly one of them.
var (
	ErrMalformed     = errors.New("malformed bundle")
	ErrUnsigned      = errors.New("bundle is not signed")
	ErrUnknownKey    = errors.New("bundle is not signed by a trusted key")
	ErrBadSignature  = errors.New("bad bundle signature")
	ErrChunkMismatch = errors.New("payload chunk does not match its hash")
	ErrHashMismatch  = errors.New("payload does not match its hash")
	ErrTruncated     = errors.New("bundle is truncated")
)

// signContext separates bundle signatures from any other use of a release key.
const signContext = "chargegate-bundle-manifest/1\n"

// Signature is one Ed25519 signature over the manifest by the key KeyID names.
type Signature struct {
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"` // standard base64 of the 64-byte signature
}

type signatureFile struct {
	Signatures []Signature `json:"signatures"`
}

// KeyID names a release key: the first 8 bytes of SHA-256 of the raw public key, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

func signedMessage(manifest []byte) []byte {
	return append([]byte(signContext), manifest...)
}

// sign returns the manifest.sig content for manifest signed by every key.
func sign(manifest []byte, keys []ed25519.PrivateKey) ([]byte, error) {
	var f signatureFile
	for _, k := range keys {
		sig := ed25519.Sign(k, signedMessage(manifest))
		f.Signatures = append(f.Signatures, Signature{
			KeyID:     KeyID(k.Public().(ed25519.PublicKey)),
			Signature: base64.StdEncoding.EncodeToString(sig),
		})
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode signatures: %w", err)
	}
	return append(b, '\n'), nil
}

// VerifyManifest checks that sigFile holds a valid signature over manifest by at least one
// trusted key, then parses the manifest. A signature by a trusted key that does not verify
// is an error even if another one does: it means the manifest or signature was altered.
// It returns the IDs of the keys whose signatures verified.
func VerifyManifest(manifest, sigFile []byte, trusted map[string]ed25519.PublicKey) (Manifest, []string, error) {
	if len(sigFile) > MaxSignatureSize {
		return Manifest{}, nil, fmt.Errorf("%w: signature file is %d bytes", ErrMalformed, len(sigFile))
	}
	var f signatureFile
	dec := json.NewDecoder(bytes.NewReader(sigFile))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Manifest{}, nil, fmt.Errorf("%w: decode signatures: %v", ErrMalformed, err)
	}
	if len(f.Signatures) == 0 {
		return Manifest{}, nil, ErrUnsigned
	}
	var good []string
	msg := signedMessage(manifest)
	for _, s := range f.Signatures {
		pub, ok := trusted[s.KeyID]
		if !ok || len(pub) != ed25519.PublicKeySize || KeyID(pub) != s.KeyID {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(s.Signature)
		if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, sig) {
			return Manifest{}, nil, fmt.Errorf("%w: key %s", ErrBadSignature, s.KeyID)
		}
		good = append(good, s.KeyID)
	}
	if len(good) == 0 {
		return Manifest{}, nil, fmt.Errorf("%w: %d signature(s), none by a trusted key", ErrUnknownKey, len(f.Signatures))
	}
	m, err := ParseManifest(manifest)
	if err != nil {
		return Manifest{}, nil, err
	}
	return m, good, nil
}

// GenerateKey makes a release key pair and writes it as PEM: the private key (PKCS #8) to
// privPath with mode 0600 and the public key (PKIX) to pubPath with mode 0644. Existing files
// are not overwritten.
func GenerateKey(privPath, pubPath string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	if err := writeNew(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return nil, err
	}
	return pub, nil
}

func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close key file %s: %w", path, err)
	}
	return nil
}

// ParsePrivateKey decodes a PEM PKCS #8 Ed25519 private key.
func ParsePrivateKey(pemBytes []byte) (ed25519.PrivateKey, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New("parse private key: no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("parse private key: %T is not Ed25519", k)
	}
	return priv, nil
}

// ParsePublicKey decodes a PEM PKIX Ed25519 public key.
func ParsePublicKey(pemBytes []byte) (ed25519.PublicKey, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, errors.New("parse public key: no PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("parse public key: %T is not Ed25519", k)
	}
	return pub, nil
}

// ErrWrongKeyKind: a public key was given where a private key is needed, or the reverse.
var ErrWrongKeyKind = errors.New("wrong kind of key")

// ReadPrivateKeyFile reads a private key written by GenerateKey. It refuses files readable
// by group or others, and says so plainly when path holds a public key (NAME.pub given
// for NAME.key).
func ReadPrivateKeyFile(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	if p, _ := pem.Decode(b); p != nil && p.Type == "PUBLIC KEY" {
		return nil, fmt.Errorf("read private key %s: %w: it is a public key; sign with the private key (NAME.key), verify with NAME.pub", path, ErrWrongKeyKind)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("read private key %s: mode %v, want 0600", path, st.Mode().Perm())
	}
	return ParsePrivateKey(b)
}

// ReadTrustedKeys reads PEM public keys from files and returns them by key ID, the form
// ota.Config.TrustedKeys takes.
func ReadTrustedKeys(paths ...string) (map[string]ed25519.PublicKey, error) {
	keys := make(map[string]ed25519.PublicKey, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read trusted key: %w", err)
		}
		if blk, _ := pem.Decode(b); blk != nil && blk.Type == "PRIVATE KEY" {
			return nil, fmt.Errorf("trusted key %s: %w: it is a private key; trust the public key (NAME.pub), keep NAME.key offline", p, ErrWrongKeyKind)
		}
		pub, err := ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("trusted key %s: %w", p, err)
		}
		keys[KeyID(pub)] = pub
	}
	return keys, nil
}
