package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeygenCreateVerify(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"keygen", "--out", filepath.Join(dir, "keys", "rel")}, &out, &errb); code != 0 {
		t.Fatalf("keygen: %d %s", code, errb.String())
	}
	payload := filepath.Join(dir, "chargegate")
	if err := os.WriteFile(payload, bytes.Repeat([]byte("arm64 "), 1000), 0o755); err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(dir, "u.bundle")
	args := []string{"create", "--key", filepath.Join(dir, "keys", "rel.key"), "--version", "3.0.0", "--security-version", "2",
		"--compatible", "rpi4,rpi5", "--chunk-size", "1024", "--out", b, "app=" + payload}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("create: %d %s", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"verify", "-key", filepath.Join(dir, "keys", "rel.pub"), "-hardware", "rpi5", b}, &out, &errb); code != 0 {
		t.Fatalf("verify: %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "version 3.0.0, security version 2") || !strings.HasSuffix(out.String(), "OK\n") {
		t.Fatalf("verify output: %s", out.String())
	}
	// Wrong hardware, another key, and a flipped byte all fail with exit status 1.
	if code := run([]string{"verify", "-key", filepath.Join(dir, "keys", "rel.pub"), "-hardware", "rpi3", b}, &out, &errb); code != 1 {
		t.Fatalf("verify for rpi3: exit %d", code)
	}
	run([]string{"keygen", "-o", filepath.Join(dir, "keys", "other")}, &out, &errb) // the short alias
	if code := run([]string{"verify", "-key", filepath.Join(dir, "keys", "other.pub"), b}, &out, &errb); code != 1 {
		t.Fatalf("verify with another key: exit %d", code)
	}
	raw, _ := os.ReadFile(b)
	raw[len(raw)-2000] ^= 1
	os.WriteFile(b, raw, 0o644)
	errb.Reset()
	if code := run([]string{"verify", "-key", filepath.Join(dir, "keys", "rel.pub"), b}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "chunk") {
		t.Fatalf("verify a tampered bundle: exit %d, %s", code, errb.String())
	}
	if code := run([]string{"bogus"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
}

// The golden bundle of package bundle verifies with its published test key.
func TestVerifyGolden(t *testing.T) {
	var out, errb bytes.Buffer
	td := filepath.Join("..", "..", "bundle", "testdata")
	if code := run([]string{"verify", "-key", filepath.Join(td, "golden-release.pub"), filepath.Join(td, "golden.bundle")}, &out, &errb); code != 0 {
		t.Fatalf("verify golden: %d %s", code, errb.String())
	}
}

// TestConvention checks the command-line convention: --help succeeds and shows GNU-style flags,
// -o and the old single-dash spellings still work, and bad usage exits 2.
func TestConvention(t *testing.T) {
	var out, errb bytes.Buffer
	for _, cmd := range []string{"keygen", "create", "verify"} {
		errb.Reset()
		if code := run([]string{cmd, "--help"}, &out, &errb); code != 0 {
			t.Errorf("%s --help: exit %d", cmd, code)
		}
		if !strings.Contains(errb.String(), "usage: chargegate-bundle "+cmd+" --") || strings.Contains(errb.String(), "\n  -key") {
			t.Errorf("%s --help:\n%s", cmd, errb.String())
		}
	}
	if !strings.Contains(errb.String(), "\n  --key FILE\n") {
		t.Errorf("verify --help lacks --key FILE:\n%s", errb.String())
	}
	dir := t.TempDir()
	if code := run([]string{"keygen", "-out", filepath.Join(dir, "old")}, &out, &errb); code != 0 {
		t.Fatalf("keygen -out (old spelling): exit %d: %s", code, errb.String())
	}
	payload := filepath.Join(dir, "app")
	os.WriteFile(payload, []byte("app"), 0o644)
	b := filepath.Join(dir, "o.bundle")
	if code := run([]string{"create", "-key", filepath.Join(dir, "old.key"), "-version", "1", "-security-version", "1", "-compatible", "rpi5", "-o", b, "app=" + payload}, &out, &errb); code != 0 {
		t.Fatalf("create -o: exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat(b); err != nil {
		t.Fatalf("create -o wrote no bundle: %v", err)
	}
	for _, args := range [][]string{
		{"keygen"},
		{"keygen", "--out", filepath.Join(dir, "x"), "extra"},
		{"create", "--nope"},
		{"verify", "--key", filepath.Join(dir, "old.pub")},
	} {
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("run %q = %d, want 2", args, code)
		}
	}
}
