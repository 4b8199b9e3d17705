package ledger_test

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

func TestLoadOrCreateKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := ledger.LoadKeys(dir); !errors.Is(err, ledger.ErrNoKeys) {
		t.Fatalf("LoadKeys on empty dir: %v", err)
	}
	k1, err := ledger.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ledger.EntryKeyFile, ledger.OCMFKeyFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, st.Mode().Perm())
		}
	}
	k2, err := ledger.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Entry.Equal(k2.Entry) || !k1.OCMF.Equal(k2.OCMF) {
		t.Fatal("keys changed on second start")
	}
	k3, err := ledger.LoadKeys(dir)
	if err != nil || !k3.Entry.Equal(k1.Entry) {
		t.Fatalf("LoadKeys: %v", err)
	}
	id := ledger.DeviceID(k1.Entry.Public().(ed25519.PublicKey))
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(id) {
		t.Fatalf("device ID %q", id)
	}
	if id == ledger.DeviceID(ledgertest.Key(t).Public().(ed25519.PublicKey)) {
		t.Fatal("two keys share a device ID")
	}
}

func TestKeysRefuseReadableFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := ledger.LoadOrCreateKeys(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ledger.EntryKeyFile, ledger.OCMFKeyFile} {
		path := filepath.Join(dir, name)
		for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			if _, err := ledger.LoadOrCreateKeys(dir); !errors.Is(err, ledger.ErrKeyPermissions) {
				t.Errorf("%s mode %v: err = %v, want ErrKeyPermissions", name, mode, err)
			}
		}
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKeysRejectGarbage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ledger.EntryKeyFile), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.LoadOrCreateKeys(dir); err == nil {
		t.Fatal("garbage key file accepted")
	}
}
