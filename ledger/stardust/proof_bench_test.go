package stardust_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/node"
)

// BenchmarkProofFromNode measures what a verifier gets from the real pipeline: 20,000 entries
// anchored in batches of 10,000 on a ledger node (2 coordinator keys, PoW score 1500 skipped:
// NoPoW keeps the bench short; the block bytes are the same size), the inclusion proofs kept by
// the publisher, and a /2 proof of one entry: its size as JSON and its offline verification time.
func BenchmarkProofFromNode(b *testing.B) {
	key := deviceKey("bench-proof")
	st := openStore(b, b.TempDir(), key, 20_000)
	nodeDir := filepath.Join(b.TempDir(), "node")
	tn := startNode(b, node.Config{Dir: nodeDir, NoPoW: true, MilestoneInterval: 50 * time.Millisecond, CoordinatorKeys: 2})
	cfg := fastPublisher(tn.srv.URL, 10_000)
	cfg.ProofDir = filepath.Join(b.TempDir(), "proofs")
	_, stop := startPublisher(b, st, key, cfg)
	waitAnchored(b, st, 2*time.Minute)
	stop()
	kb, err := os.ReadFile(filepath.Join(nodeDir, node.KeysFileName))
	if err != nil {
		b.Fatal(err)
	}
	keys, err := anchor.ParseCoordinatorKeys(kb)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rec, err := st.AnchorFor(ctx, 15_000)
	if err != nil {
		b.Fatal(err)
	}
	ap, err := anchor.ReadAnchorProof(cfg.ProofDir, rec.First, rec.Last)
	if err != nil {
		b.Fatal(err)
	}
	p, err := anchor.ProofFor(ctx, st, 15_000, ap.PoI)
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := json.MarshalIndent(p, "", "  ")
	for b.Loop() {
		var q anchor.Proof
		if err := json.Unmarshal(raw, &q); err != nil {
			b.Fatal(err)
		}
		if _, err := anchor.VerifyOffline(&q, keys); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/proof")
	b.ReportMetric(float64(len(raw)), "proof_bytes")
}
