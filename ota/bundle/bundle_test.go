package bundle_test

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chargegate/chargegate/ota/bundle"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenKey is the fixed test release key the golden bundle is signed with. Its public key
// is testdata/golden-release.pub. Never use it for anything else.
func goldenKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("chargegate golden bundle test key"))
	return ed25519.NewKeyFromSeed(seed[:])
}

func goldenPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/256)
	}
	return b
}

func goldenBundle(t testing.TB) []byte {
	var buf bytes.Buffer
	_, err := bundle.Create(&buf, bundle.Meta{Version: "1.2.3", SecurityVersion: 7, Compatible: []string{"rpi4", "rpi5"}},
		[]bundle.Input{
			{Name: "rootfs", Type: bundle.TypeRootfs, Data: bytes.NewReader(goldenPayload(2600))},
			{Name: "app", Type: bundle.TypeApp, Data: bytes.NewReader(goldenPayload(700))},
		}, 1024, []ed25519.PrivateKey{goldenKey()})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func trustedGolden() map[string]ed25519.PublicKey {
	pub := goldenKey().Public().(ed25519.PublicKey)
	return map[string]ed25519.PublicKey{bundle.KeyID(pub): pub}
}

// TestGolden freezes the bundle format: the same inputs and key must give the same bytes.
func TestGolden(t *testing.T) {
	got := goldenBundle(t)
	path := filepath.Join("testdata", "golden.bundle")
	pubPath := filepath.Join("testdata", "golden-release.pub")
	if *update {
		der, err := x509.MarshalPKIXPublicKey(goldenKey().Public())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("bundle bytes differ from %s: the format changed (run with -update only if intended)", path)
	}
	keys, err := bundle.ReadTrustedKeys(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := bundle.Verify(bytes.NewReader(want), keys)
	if err != nil {
		t.Fatalf("verify golden bundle: %v", err)
	}
	if m.Version != "1.2.3" || m.SecurityVersion != 7 || len(m.Payloads) != 2 || m.Payloads[0].Size != 2600 || len(m.Payloads[0].Chunks) != 3 {
		t.Fatalf("golden manifest: %+v", m)
	}
	sum := sha256.Sum256(goldenPayload(2600))
	if m.Payloads[0].SHA256 != hexString(sum[:]) {
		t.Fatal("golden rootfs hash differs from the payload's SHA-256")
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(digits[c>>4])
		sb.WriteByte(digits[c&15])
	}
	return sb.String()
}

func TestVerifyRejects(t *testing.T) {
	good := goldenBundle(t)
	other := func() map[string]ed25519.PublicKey {
		seed := sha256.Sum256([]byte("other"))
		pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
		return map[string]ed25519.PublicKey{bundle.KeyID(pub): pub}
	}
	flip := func(at int) []byte { b := bytes.Clone(good); b[at] ^= 1; return b }
	manifestAt := bytes.Index(good, []byte(`"security_version"`))
	cases := []struct {
		name    string
		b       []byte
		trusted map[string]ed25519.PublicKey
		want    error
	}{
		{"untrusted key", good, other(), bundle.ErrUnknownKey},
		{"manifest byte", flip(manifestAt + 3), trustedGolden(), bundle.ErrBadSignature},
		{"payload byte", flip(len(good) - 1024 - 512 - 100), trustedGolden(), bundle.ErrChunkMismatch},
		{"truncated", good[:len(good)-1500], trustedGolden(), bundle.ErrTruncated},
		{"empty", nil, trustedGolden(), bundle.ErrTruncated},
		{"not tar", bytes.Repeat([]byte("x"), 2048), trustedGolden(), bundle.ErrMalformed},
	}
	for _, c := range cases {
		if _, err := bundle.Verify(bytes.NewReader(c.b), c.trusted); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestParseManifestRejects(t *testing.T) {
	var buf bytes.Buffer
	m, err := bundle.Create(&buf, bundle.Meta{Version: "1", Compatible: []string{"rpi4"}},
		[]bundle.Input{{Name: "app", Type: bundle.TypeApp, Data: bytes.NewReader(goldenPayload(1500))}}, 512, []ed25519.PrivateKey{goldenKey()})
	if err != nil {
		t.Fatal(err)
	}
	mutations := map[string]func(*bundle.Manifest){
		"format":        func(m *bundle.Manifest) { m.Format = "other/1" },
		"no compatible": func(m *bundle.Manifest) { m.Compatible = nil },
		"name with /":   func(m *bundle.Manifest) { m.Payloads[0].Name = "../x" },
		"type":          func(m *bundle.Manifest) { m.Payloads[0].Type = "script" },
		"chunk count":   func(m *bundle.Manifest) { m.Payloads[0].Chunks = m.Payloads[0].Chunks[1:] },
		"chunk size":    func(m *bundle.Manifest) { m.Payloads[0].ChunkSize = 100 },
		"hash":          func(m *bundle.Manifest) { m.Payloads[0].SHA256 = "zz" },
		"negative size": func(m *bundle.Manifest) { m.Payloads[0].Size = -1 },
		"duplicate":     func(m *bundle.Manifest) { m.Payloads = append(m.Payloads, m.Payloads[0]) },
	}
	for name, mut := range mutations {
		c := m
		c.Payloads = append([]bundle.Payload(nil), m.Payloads...)
		c.Payloads[0].Chunks = append([]string(nil), m.Payloads[0].Chunks...)
		mut(&c)
		if err := c.Validate(); !errors.Is(err, bundle.ErrMalformed) {
			t.Errorf("%s: Validate = %v, want ErrMalformed", name, err)
		}
	}
	if _, err := bundle.ParseManifest([]byte(`{"format":"chargegate-bundle/1","unknown":1}`)); !errors.Is(err, bundle.ErrMalformed) {
		t.Errorf("unknown field: %v", err)
	}
}

// TestEntryNamesNeverPaths: a tar whose names try to escape is rejected before any data.
func TestEntryNamesNeverPaths(t *testing.T) {
	for _, name := range []string{"/etc/passwd", "../manifest.json", "./manifest.json", "Manifest.json", "payloads/../../x"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 2, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte("{}"))
		tw.Close()
		if _, err := bundle.Verify(&buf, trustedGolden()); !errors.Is(err, bundle.ErrMalformed) {
			t.Errorf("entry %q: %v, want ErrMalformed", name, err)
		}
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	pub, err := bundle.GenerateKey(filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "k.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	priv, err := bundle.ReadPrivateKeyFile(filepath.Join(dir, "k.key"))
	if err != nil || !priv.Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatalf("read back private key: %v", err)
	}
	keys, err := bundle.ReadTrustedKeys(filepath.Join(dir, "k.pub"))
	if err != nil || !keys[bundle.KeyID(pub)].Equal(pub) {
		t.Fatalf("read back public key: %v %v", keys, err)
	}
	if _, err := bundle.GenerateKey(filepath.Join(dir, "k.key"), filepath.Join(dir, "k2.pub")); err == nil {
		t.Fatal("GenerateKey overwrote an existing key")
	}
	if err := os.Chmod(filepath.Join(dir, "k.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := bundle.ReadPrivateKeyFile(filepath.Join(dir, "k.key")); err == nil {
		t.Fatal("read a world-readable private key")
	}
}

// BenchmarkVerify measures reading and checking a 16 MiB bundle in 1 MiB chunks.
func BenchmarkVerify(b *testing.B) {
	var buf bytes.Buffer
	_, err := bundle.Create(&buf, bundle.Meta{Version: "1", Compatible: []string{"rpi4"}},
		[]bundle.Input{{Name: "rootfs", Type: bundle.TypeRootfs, Data: bytes.NewReader(goldenPayload(16 << 20))}}, 1<<20, []ed25519.PrivateKey{goldenKey()})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		if _, err := bundle.Verify(bytes.NewReader(buf.Bytes()), trustedGolden()); err != nil {
			b.Fatal(err)
		}
	}
}
