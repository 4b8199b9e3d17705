package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCreateAndVerifySayWhatTheyDo: issue 14 — create defaulted the security version to 0
// and took an empty payload; verify named neither the signing key nor the security
// version; a .pub given as the signing key failed with a file-mode error.
func TestCreateAndVerifySayWhatTheyDo(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	prefix := filepath.Join(dir, "rel")
	if code := run([]string{"keygen", "-out", prefix}, &out, &errb); code != 0 {
		t.Fatalf("keygen: %d %s", code, errb.String())
	}
	id := strings.TrimSuffix(strings.Fields(out.String())[1], ":") // "key ID: ..."
	app := filepath.Join(dir, "chargegate")
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(app, bytes.Repeat([]byte("arm64 "), 500), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(dir, "u.bundle")
	create := func(key string, extra []string, payload string) (int, string) {
		out.Reset()
		errb.Reset()
		args := append([]string{"create", "-key", key, "-version", "3.0.0", "-compatible", "rpi4", "-chunk-size", "1024", "-o", b}, extra...)
		code := run(append(args, "app="+payload), &out, &errb)
		return code, errb.String()
	}
	cases := []struct {
		name     string
		key      string
		extra    []string
		payload  string
		code     int
		say, not string
	}{
		{"no security version", prefix + ".key", nil, app, 2, "-security-version is required", ""},
		{"empty payload", prefix + ".key", []string{"-security-version", "4"}, empty, 1, "empty", ""},
		{"public key to sign", prefix + ".pub", []string{"-security-version", "4"}, app, 1, "it is a public key", "mode"},
		{"negative security version", prefix + ".key", []string{"-security-version", "-1"}, app, 2, "non-negative", ""},
	}
	for _, c := range cases {
		code, msg := create(c.key, c.extra, c.payload)
		if code != c.code || !strings.Contains(msg, c.say) || (c.not != "" && strings.Contains(msg, c.not)) {
			t.Errorf("%s: exit %d, %q; want exit %d saying %q", c.name, code, msg, c.code, c.say)
		}
		if _, err := os.Stat(b); err == nil {
			t.Fatalf("%s: a bundle was written", c.name)
		}
	}
	if code, msg := create(prefix+".key", []string{"-security-version", "4"}, app); code != 0 {
		t.Fatalf("create: %d %s", code, msg)
	}
	out.Reset()
	if code := run([]string{"verify", "-key", prefix + ".pub", b}, &out, &errb); code != 0 {
		t.Fatalf("verify: %d %s", code, errb.String())
	}
	if want := "signed by " + id + " (" + prefix + ".pub); security version 4\n"; !strings.Contains(out.String(), want) {
		t.Fatalf("verify output:\n%s\nlacks %q", out.String(), want)
	}
	errb.Reset()
	if code := run([]string{"verify", "-key", prefix + ".key", b}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "it is a private key") {
		t.Fatalf("verify with the private key: exit %d, %q", code, errb.String())
	}
}
