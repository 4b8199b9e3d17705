package ledger_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

// BenchmarkVerifyChain: chain verification of entries in memory (hash, signature, link,
// sequence; signatures on all CPUs) side by side with bare Ed25519 verification of the same
// hashes in one goroutine. A ratio above 1 is the parallelism.
func BenchmarkVerifyChain(b *testing.B) {
	const n = 2000
	key := ledgertest.Key(b)
	es := chainOf(key, readings(n, time.Second))
	hashes := make([][32]byte, n)
	for i := range es {
		hashes[i] = es[i].Hash()
	}
	pub := key.Public().(ed25519.PublicKey)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := ledger.VerifyChain(slicesSeq(es), ledger.ChainOptions{Key: pub}); err != nil {
			b.Fatal(err)
		}
	}
	chain := time.Since(start)
	start = time.Now()
	for range b.N {
		for i := range es {
			if !ed25519.Verify(pub, hashes[i][:], es[i].Signature) {
				b.Fatal("bad signature")
			}
		}
	}
	raw := time.Since(start)
	b.ReportMetric(float64(b.N*n)/chain.Seconds(), "chain_entries/s")
	b.ReportMetric(float64(b.N*n)/raw.Seconds(), "raw_ed25519/s")
	b.ReportMetric(raw.Seconds()/chain.Seconds(), "ratio")
}
