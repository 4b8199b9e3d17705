package node_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	iotago "github.com/iotaledger/iota.go/v3"

	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/node"
)

// TestPoIUnderRotatedKeys issues milestones signed by three coordinator keys (threshold 2),
// rotates the keys, and checks the inx-poi proofs of blocks on both sides of the rotation with
// the node's published keys file alone (anchor.PoI.VerifyInclusion, the offline verifier), and
// that the proofs fail under the wrong range, a threshold the milestone does not meet, and after
// the node pruned or lost sync (unavailable, never invalid).
func TestPoIUnderRotatedKeys(t *testing.T) {
	dir := t.TempDir()
	n, srv, c := newNode(t, node.Config{Dir: dir, NoPoW: true, CoordinatorKeys: 3, SignatureThreshold: 2})
	ctx := context.Background()
	submit := func(data string) iotago.BlockID {
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.SubmitBlock(ctx, taggedBlock(t, c, data), &info.Protocol)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	before := []iotago.BlockID{submit("a"), submit("b"), submit("c")}
	if _, err := n.IssueMilestone(ctx); err != nil {
		t.Fatal(err)
	}
	from, err := n.RotateKeys()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := n.IssueMilestone(ctx); err != nil {
			t.Fatal(err)
		}
	}
	single := submit("alone")
	msAfter, err := n.IssueMilestone(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if msAfter < from {
		t.Fatalf("milestone %d is not after the rotation at %d", msAfter, from)
	}
	keys, err := anchor.LoadCoordinatorKeys(filepath.Join(dir, node.KeysFileName))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.PublicKeyRanges) != 6 || keys.MilestonePublicKeyCount != 2 {
		t.Fatalf("keys file %+v: want 6 ranges (3 rotated out), threshold 2", keys)
	}
	httpc := &http.Client{}
	for _, id := range append(before, single) {
		poi, err := anchor.FetchPoI(ctx, httpc, srv.URL, id)
		if err != nil {
			t.Fatalf("PoI of %s: %v", id.ToHex(), err)
		}
		if err := poi.VerifyInclusion(id, keys); err != nil {
			t.Errorf("PoI of %s under milestone %d: %v", id.ToHex(), poi.Milestone.Index, err)
		}
		// Only the keys of the other side of the rotation: the milestone is not trusted.
		other := *keys
		other.PublicKeyRanges = nil
		for _, r := range keys.PublicKeyRanges {
			if (r.Start >= from) != (poi.Milestone.Index >= from) {
				r.Start, r.End = 0, 0 // claim "always", yet the milestone's signers are absent
				other.PublicKeyRanges = append(other.PublicKeyRanges, r)
			}
		}
		if err := poi.VerifyInclusion(id, &other); !errors.Is(err, anchor.ErrMilestone) {
			t.Errorf("PoI under milestone %d with the other keys: %v, want ErrMilestone", poi.Milestone.Index, err)
		}
		strict := *keys
		strict.MilestonePublicKeyCount = 4
		if err := poi.VerifyInclusion(id, &strict); !errors.Is(err, anchor.ErrMilestone) {
			t.Errorf("threshold 4 of 3 signatures: %v, want ErrMilestone", err)
		}
	}
	// A block the node never saw, a node out of sync, a pruned block: undecided.
	if _, err := anchor.FetchPoI(ctx, httpc, srv.URL, iotago.BlockID{9}); !errors.Is(err, anchor.ErrUnavailable) {
		t.Errorf("unknown block: %v, want ErrUnavailable", err)
	}
	n.SetSynced(false)
	if _, err := anchor.FetchPoI(ctx, httpc, srv.URL, before[0]); !errors.Is(err, anchor.ErrUnavailable) {
		t.Errorf("unsynced node: %v, want ErrUnavailable", err)
	}
	if _, err := c.BlockByBlockID(ctx, before[0], nil); err == nil {
		t.Error("an unsynced node served a block")
	}
	n.SetSynced(true)
	pruned, err := n.Prune(msAfter)
	if err != nil || pruned < 3 {
		t.Fatalf("prune: %d blocks, %v", pruned, err)
	}
	if _, err := anchor.FetchPoI(ctx, httpc, srv.URL, before[0]); !errors.Is(err, anchor.ErrUnavailable) {
		t.Errorf("pruned block: %v, want ErrUnavailable", err)
	}
	info, err := c.Info(ctx)
	if err != nil || info.Status.PruningIndex != msAfter-1 {
		t.Errorf("info after pruning: %+v %v", info.Status, err)
	}
	if _, err := os.Stat(filepath.Join(dir, node.KeysFileName)); err != nil {
		t.Error(err)
	}
}
