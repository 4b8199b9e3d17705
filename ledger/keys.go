package ledger

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Key file names inside the data directory.
const (
	EntryKeyFile = "entry.key" // Ed25519, PKCS#8 PEM: signs entries and anchors
	OCMFKeyFile  = "ocmf.key"  // ECDSA P-256, PKCS#8 PEM: signs gateway OCMF records
)

// Errors about key files.
var (
	ErrKeyPermissions = errors.New("key file readable by group or others")
	ErrNoKeys         = errors.New("no device keys")
)

// Keys are the device's private keys. They are generated on the device and never leave it.
type Keys struct {
	Entry ed25519.PrivateKey // entries and anchors
	OCMF  *ecdsa.PrivateKey  // gateway-signed OCMF records (P-256); never the entry key
}

// LoadOrCreateKeys loads the keys from dir, generating any that are missing (first start). Key
// files are written with mode 0600 and fsynced; existing files readable by group or others are
// refused with ErrKeyPermissions rather than used.
func LoadOrCreateKeys(dir string) (*Keys, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	k := &Keys{}
	edRaw, err := loadOrCreate(filepath.Join(dir, EntryKeyFile), func() (any, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	})
	if err != nil {
		return nil, err
	}
	ecRaw, err := loadOrCreate(filepath.Join(dir, OCMFKeyFile), func() (any, error) {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	})
	if err != nil {
		return nil, err
	}
	if k.Entry, k.OCMF, err = typedKeys(edRaw, ecRaw); err != nil {
		return nil, err
	}
	return k, nil
}

// LoadKeys loads existing keys from dir without creating any; ErrNoKeys if a file is missing.
func LoadKeys(dir string) (*Keys, error) {
	edRaw, err := loadKeyFile(filepath.Join(dir, EntryKeyFile))
	if err != nil {
		return nil, err
	}
	ecRaw, err := loadKeyFile(filepath.Join(dir, OCMFKeyFile))
	if err != nil {
		return nil, err
	}
	k := &Keys{}
	if k.Entry, k.OCMF, err = typedKeys(edRaw, ecRaw); err != nil {
		return nil, err
	}
	return k, nil
}

func typedKeys(edRaw, ecRaw any) (ed25519.PrivateKey, *ecdsa.PrivateKey, error) {
	ed, ok := edRaw.(ed25519.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s holds a %T, want an Ed25519 key", EntryKeyFile, edRaw)
	}
	ec, ok := ecRaw.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, nil, fmt.Errorf("%s holds a %T, want an ECDSA P-256 key", OCMFKeyFile, ecRaw)
	}
	return ed, ec, nil
}

func loadOrCreate(path string, gen func() (any, error)) (any, error) {
	k, err := loadKeyFile(path)
	if err == nil || !errors.Is(err, ErrNoKeys) {
		return k, err
	}
	key, err := gen()
	if err != nil {
		return nil, fmt.Errorf("generate %s: %w", filepath.Base(path), err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := writeFileSync(path, data); err != nil {
		return nil, err
	}
	return key, nil
}

func loadKeyFile(path string) (any, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s missing", ErrNoKeys, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v, want 0600", ErrKeyPermissions, path, st.Mode().Perm())
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("key file %s: no PKCS#8 PEM block", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse key file %s: %w", path, err)
	}
	return key, nil
}

// writeFileSync creates path exclusively with mode 0600, writes data, fsyncs it and its directory.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close key file: %w", err)
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory so that a created or renamed file in it survives power loss.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory for sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// DeviceID returns the device's short stable ID: the lowercase hex of the first 8 bytes of
// SHA-256 of the 32-byte Ed25519 entry public key (16 characters, [0-9a-f]). It is safe in MQTT
// topics and IOTA tags and changes only when the entry key changes.
func DeviceID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}
