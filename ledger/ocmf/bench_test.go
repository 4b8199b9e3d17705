package ocmf_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chargegate/chargegate/ledger/ocmf"
)

// BenchmarkVerify: verification of one record per curve (stdlib P-256, decred secp256k1, this
// package's verify-only brainpool).
func BenchmarkVerify(b *testing.B) {
	for _, v := range loadVectors(b, filepath.Join("testdata", "curves.json")) {
		if !strings.HasSuffix(v.Name, "/hex") {
			continue
		}
		key, err := ocmf.ParsePublicKey(v.PublicKey)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strings.TrimSuffix(v.Name, "/hex"), func(b *testing.B) {
			for range b.N {
				if err := ocmf.Verify(v.OCMF, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
