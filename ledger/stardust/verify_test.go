package stardust_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/node"
)

// TestVerifyAgainstNodeRejects checks the failures only a node can reveal: a proof naming
// another anchor's block, a block the node does not have, a block below the node's minimum
// PoW score, and a block no milestone references yet.
func TestVerifyAgainstNodeRejects(t *testing.T) {
	key := deviceKey("verify")
	st := openStore(t, t.TempDir(), key, 40)
	nodeDir := t.TempDir()
	rn := &restartableNode{t: t, dir: nodeDir, cfg: node.Config{NoPoW: true, MilestoneInterval: 20 * time.Millisecond}}
	rn.start()
	_, stop := startPublisher(t, st, key, fastPublisher("http://"+rn.addr, 20))
	waitAnchored(t, st, 20*time.Second)
	stop()
	ctx := context.Background()
	client := nodeclient.New("http://" + rn.addr)
	p1, err := anchor.ProofFor(ctx, st, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anchor.Verify(ctx, client, p1); err != nil {
		t.Fatalf("good proof: %v", err)
	}
	second, err := st.AnchorFor(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	wrong := *p1
	wrong.BlockID = iotago.EncodeHex(second.BlockID[:])
	if _, err := anchor.Verify(ctx, client, &wrong); !errors.Is(err, anchor.ErrBlock) {
		t.Errorf("proof naming another anchor's block: %v, want ErrBlock", err)
	}
	unknown := *p1
	unknown.BlockID = iotago.EncodeHex(make([]byte, 31)) + "01"
	// A block the node does not know proves nothing (it may have been pruned): undecided.
	if _, err := anchor.Verify(ctx, client, &unknown); !errors.Is(err, anchor.ErrUnavailable) || anchor.Invalid(err) {
		t.Errorf("proof naming an unknown block: %v, want ErrUnavailable, not invalid", err)
	}

	// The chain walk: from the second anchor back to the first; not under another device key.
	if res, err := anchor.VerifyChain(ctx, client, key.Public().(ed25519.PublicKey), second.BlockID); err != nil || res.Anchors != 2 || res.Through != 40 {
		t.Errorf("chain from the second anchor: %+v %v", res, err)
	}
	if _, err := anchor.VerifyChain(ctx, client, deviceKey("other").Public().(ed25519.PublicKey), second.BlockID); !errors.Is(err, anchor.ErrChain) && !errors.Is(err, anchor.ErrBlock) {
		t.Errorf("chain under another key: %v, want ErrChain or ErrBlock", err)
	}

	// The same blocks on a node that demands PoW: their score (nonce 0) is below its minimum.
	rn.halt()
	rn.cfg = node.Config{MinPoWScore: 1500, MilestoneInterval: time.Hour}
	rn.start()
	if _, err := anchor.Verify(ctx, client, p1); !errors.Is(err, anchor.ErrPoW) {
		t.Errorf("unmined block on a PoW node: %v, want ErrPoW", err)
	}
	// New entries anchored on that node stay unconfirmed: no milestone within the test.
	rn.halt()
	rn.cfg = node.Config{NoPoW: true, MilestoneInterval: time.Hour}
	rn.start()
	defer rn.halt()
	appendReadings(t, st, 5)
	_, stop = startPublisher(t, st, key, fastPublisher("http://"+rn.addr, 20))
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, err := st.AnchorFor(ctx, 45)
		if err == nil && a.State == ledger.AnchorSubmitted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("anchor of 41..45 not submitted: %+v %v", a, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	p2, err := anchor.ProofFor(ctx, st, 43, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anchor.Verify(ctx, client, p2); !errors.Is(err, anchor.ErrNotConfirmed) {
		t.Errorf("unconfirmed anchor: %v, want ErrNotConfirmed", err)
	}
}
