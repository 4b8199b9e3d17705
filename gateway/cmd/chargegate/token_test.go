package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chargegate/chargegate/gateway/access"
)

// TestTokenRoundTrip runs the operator's tools end to end: keygen, issue, verify, and the
// refusals an operator meets (wrong EVSE, foreign key, tampered token).
func TestTokenRoundTrip(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "emsp")
	if code, _, stderr := run(t, "", "token", "keygen", "--out", prefix); code != 0 {
		t.Fatalf("keygen: %d %s", code, stderr)
	}
	st, err := os.Stat(prefix + ".key")
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode = %v, %v", st.Mode(), err)
	}
	if code, _, _ := run(t, "", "token", "keygen", "--out", prefix); code != 1 {
		t.Errorf("keygen over an existing key: exit %d, want 1", code)
	}
	code, tok, stderr := run(t, "", "token", "issue", "--key", prefix+".key", "--kid", "emsp-1", "--id-token", "04A1B2C3",
		"--evse", "DE*CGT*E0001*1", "--evse", "DE*CGT*E0001*2", "--expires", "24h", "--max-energy-wh", "15000",
		"--max-duration", "2h", "--single-use", "--group", "fleet")
	if code != 0 {
		t.Fatalf("issue: %d %s", code, stderr)
	}
	tok = strings.TrimSpace(tok)
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("issue printed %q", tok)
	}

	code, out, stderr := run(t, "", "token", "verify", "--issuer-key", "emsp-1="+prefix+".pub", "--evse", "DE*CGT*E0001*2", tok)
	if code != 0 {
		t.Fatalf("verify: %d %s %s", code, out, stderr)
	}
	var got struct {
		KeyID     string `json:"kid"`
		TokenHash string `json:"token_hash"`
		access.Claims
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(out, "valid\n")), &got); err != nil {
		t.Fatalf("verify output %q: %v", out, err)
	}
	if got.KeyID != "emsp-1" || got.Subject != "04A1B2C3" || got.MaxEnergyWh != 15000 || got.MaxDurationS != 7200 ||
		!got.SingleUse || len(got.ID) != 24 || got.Group != "fleet" || got.Expiry-got.IssuedAt != 86400 ||
		got.TokenHash != access.TokenHash("04A1B2C3") {
		t.Errorf("claims = %+v", got)
	}
	// Unnamed key: registered under the token's kid; stdin as the token.
	if code, out, _ := run(t, tok+"\n", "token", "verify", "--issuer-key", prefix+".pub", "-"); code != 0 {
		t.Errorf("verify from stdin: %d %s", code, out)
	}

	run(t, "", "token", "keygen", "--out", filepath.Join(dir, "other"))
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong EVSE", []string{"--issuer-key", "emsp-1=" + prefix + ".pub", "--evse", "DE*CGT*E0009*1", tok}, "refused: wrong_evse"},
		{"foreign key", []string{"--issuer-key", "emsp-1=" + filepath.Join(dir, "other.pub"), tok}, "refused: bad_signature"},
		{"other key ID", []string{"--issuer-key", "emsp-2=" + prefix + ".pub", tok}, "refused: unknown_issuer"},
		{"tampered", []string{"--issuer-key", prefix + ".pub", tok[:len(tok)-4] + "AAAA"}, "refused: bad_signature"},
	} {
		code, out, _ := run(t, "", append([]string{"token", "verify"}, tt.args...)...)
		if code != 1 || !strings.HasPrefix(out, tt.want) {
			t.Errorf("%s: exit %d %q, want 1 %q", tt.name, code, out, tt.want)
		}
	}
	for _, args := range [][]string{
		{"token"},
		{"token", "mint"},
		{"token", "keygen"},
		{"token", "issue", "--key", prefix + ".key", "--kid", "k"},
		{"token", "verify", tok},
		{"token", "issue", "--key", prefix + ".key", "--kid", "k", "--id-token", "A", "--expires", "1h", "--not-before", "tomorrow"},
	} {
		if code, _, _ := run(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
