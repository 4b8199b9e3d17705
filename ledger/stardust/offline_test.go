package stardust_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/node"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// TestProofsOutliveTheNode anchors entries on a node with two coordinator keys, keeping every
// anchor's inclusion proof in ProofDir; then the node is stopped and its data deleted. Every
// entry's /2 proof still verifies with only the coordinator keys file, and so does the chain of
// anchors; online, the same proofs are undecided (not invalid) once the node is gone.
func TestProofsOutliveTheNode(t *testing.T) {
	key := deviceKey("offline")
	st := openStore(t, t.TempDir(), key, 230)
	nodeDir := filepath.Join(t.TempDir(), "node")
	tn := startNode(t, node.Config{Dir: nodeDir, NoPoW: true, MilestoneInterval: 20 * time.Millisecond, CoordinatorKeys: 2})
	proofDir := filepath.Join(t.TempDir(), "proofs")
	cfg := fastPublisher(tn.srv.URL, 50)
	cfg.ProofDir = proofDir
	p, stop := startPublisher(t, st, key, cfg)
	waitAnchored(t, st, 30*time.Second)
	// The inclusion proof of the last anchor is fetched after its confirmation.
	deadline := time.Now().Add(30 * time.Second)
	for p.Status().Proofs < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if s := p.Status(); s.Proofs != 5 || s.ProofError != "" {
		t.Fatalf("status %+v: want 5 inclusion proofs kept", s)
	}
	keysFile, err := os.ReadFile(filepath.Join(nodeDir, node.KeysFileName))
	if err != nil {
		t.Fatal(err)
	}
	url := tn.srv.URL
	checkPrunedAndUnsynced(t, st, tn, proofDir, keysFile, key.Public().(ed25519.PublicKey))
	tn.stop()
	if err := os.RemoveAll(nodeDir); err != nil {
		t.Fatal(err)
	}

	keys, err := anchor.ParseCoordinatorKeys(keysFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	head, _ := st.Head()
	for seq := uint64(1); seq <= head; seq++ {
		rec, err := st.AnchorFor(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		ap, err := anchor.ReadAnchorProof(proofDir, rec.First, rec.Last)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		pr, err := anchor.ProofFor(ctx, st, seq, ap.PoI)
		if err != nil {
			t.Fatal(err)
		}
		res, err := anchor.VerifyOffline(pr, keys)
		if err != nil {
			t.Fatalf("offline proof of %d: %v", seq, err)
		}
		if res.Seq != seq || res.Milestone == 0 || res.MilestoneTime.IsZero() {
			t.Errorf("result %+v", res)
		}
		if seq == 1 {
			// The node is gone: online verification cannot decide, and says so.
			_, err := anchor.Verify(ctx, nodeclient.New(url), pr)
			if err == nil || anchor.Invalid(err) || !errors.Is(err, anchor.ErrUnavailable) {
				t.Errorf("online verification without a node: %v, want undecided", err)
			}
		}
	}
	stored, err := anchor.LoadAnchorProofs(proofDir)
	if err != nil {
		t.Fatal(err)
	}
	last, _, _ := st.LastAnchor(ctx)
	cr, err := anchor.VerifyChainWith(ctx, nil, key.Public().(ed25519.PublicKey), last.BlockID, stored, keys)
	if err != nil || cr.Through != head || cr.Anchors != 5 {
		t.Fatalf("offline chain: %+v %v, want 5 anchors through %d", cr, err, head)
	}
	// A missing link is undecided; a link under the wrong keys is a broken chain.
	delete(stored, last.BlockID)
	if _, err := anchor.VerifyChainWith(ctx, nil, key.Public().(ed25519.PublicKey), last.BlockID, stored, keys); !errors.Is(err, anchor.ErrUnavailable) || anchor.Invalid(err) {
		t.Errorf("chain with a missing stored proof: %v, want undecided", err)
	}
	as, _ := st.Anchors(ctx, ledger.AnchorConfirmed)
	if len(as) != 5 {
		t.Fatalf("%d anchors", len(as))
	}
}

// checkPrunedAndUnsynced: a node that is not synced, or has pruned the first anchors' blocks,
// makes online verification undecided, never invalid; the chain walk goes on from the stored
// proofs where the node has pruned.
func checkPrunedAndUnsynced(t *testing.T, st *sqlite.Store, tn *testNode, proofDir string, keysFile []byte, pub ed25519.PublicKey) {
	t.Helper()
	ctx := context.Background()
	client := nodeclient.New(tn.srv.URL)
	p1, err := anchor.ProofFor(ctx, st, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	tn.n.SetSynced(false)
	if _, err := anchor.Verify(ctx, client, p1); !errors.Is(err, anchor.ErrUnavailable) || anchor.Invalid(err) {
		t.Errorf("unsynced node: %v, want undecided", err)
	}
	tn.n.SetSynced(true)
	last, _, _ := st.LastAnchor(ctx)
	if _, err := tn.n.Prune(last.Milestone); err != nil {
		t.Fatal(err)
	}
	if _, err := anchor.Verify(ctx, client, p1); !errors.Is(err, anchor.ErrUnavailable) || anchor.Invalid(err) {
		t.Errorf("pruned block: %v, want undecided", err)
	}
	if _, err := anchor.VerifyChain(ctx, client, pub, last.BlockID); !errors.Is(err, anchor.ErrUnavailable) {
		t.Errorf("chain on a pruned node alone: %v, want undecided", err)
	}
	keys, _ := anchor.ParseCoordinatorKeys(keysFile)
	stored, err := anchor.LoadAnchorProofs(proofDir)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := st.Head()
	if cr, err := anchor.VerifyChainWith(ctx, client, pub, last.BlockID, stored, keys); err != nil || cr.Through != head {
		t.Errorf("chain on a pruned node with stored proofs: %+v %v", cr, err)
	}
}

// TestProofsFetchedForEarlierAnchors: anchors confirmed before ProofDir was set get their
// inclusion proofs kept by the next run, while the node still has their blocks.
func TestProofsFetchedForEarlierAnchors(t *testing.T) {
	key := deviceKey("earlier")
	st := openStore(t, t.TempDir(), key, 60)
	tn := startNode(t, node.Config{NoPoW: true, MilestoneInterval: 20 * time.Millisecond})
	_, stop := startPublisher(t, st, key, fastPublisher(tn.srv.URL, 20))
	waitAnchored(t, st, 20*time.Second)
	stop()
	cfg := fastPublisher(tn.srv.URL, 20)
	cfg.ProofDir = filepath.Join(t.TempDir(), "proofs")
	p, stop := startPublisher(t, st, key, cfg)
	deadline := time.Now().Add(20 * time.Second)
	for p.Status().Proofs < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("status %+v: the 3 earlier anchors' proofs were not kept", p.Status())
		}
		time.Sleep(10 * time.Millisecond) // polling interval of the wait loop
	}
	stop()
	stored, err := anchor.LoadAnchorProofs(cfg.ProofDir)
	if err != nil || len(stored) != 3 {
		t.Fatalf("%d stored proofs, %v", len(stored), err)
	}
}
