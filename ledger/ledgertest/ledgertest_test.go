package ledgertest_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"

	"github.com/chargegate/chargegate/ledger/ledgertest"
)

// TestKeysFixed pins the public keys: the golden vectors of ledger and ledger/anchor depend on them.
func TestKeysFixed(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  ed25519.PrivateKey
		want string
	}{
		{"Key", ledgertest.Key(t), "6a109270282f0a90040d0e7a2b0d6f6d7eca1cd8c041e2b87a96c929e14b21d6"},
		{"NamedKey anchor", ledgertest.NamedKey(t, "anchor"), "9e07c7723950c2661d3af988a20f01827f2665f5c37220a7f3fb80361a010516"},
	} {
		if got := hex.EncodeToString(tc.key.Public().(ed25519.PublicKey)); got != tc.want {
			t.Errorf("%s: public key %s, want %s", tc.name, got, tc.want)
		}
	}
	if ledgertest.NamedKey(t, "other").Equal(ledgertest.Key(t)) {
		t.Fatal("named keys are not distinct")
	}
}
