// Package ledgertest provides the fixed device keys that the ledger packages' tests and golden vectors use.
package ledgertest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
)

// Key returns the fixed test device key of the ledger's golden vectors (ledger/testdata):
// Ed25519 from the seed SHA-256("chargegate ledger test key"). tb may be nil, for a test
// binary running as a child process.
func Key(tb testing.TB) ed25519.PrivateKey {
	if tb != nil {
		tb.Helper()
	}
	return NamedKey(tb, "ledger")
}

// NamedKey returns a fixed key of its own for each name: Ed25519 from the seed
// SHA-256("chargegate " + name + " test key"). NamedKey(tb, "anchor") signs the anchor golden
// vectors (ledger/anchor/testdata); other names give other devices or operators.
func NamedKey(tb testing.TB, name string) ed25519.PrivateKey {
	if tb != nil {
		tb.Helper()
	}
	seed := sha256.Sum256([]byte("chargegate " + name + " test key"))
	return ed25519.NewKeyFromSeed(seed[:])
}
