package anchor

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger"
)

// ErrChain means the anchors on the ledger do not form one unbroken chain.
var ErrChain = errors.New("anchor chain broken")

// ChainResult is what VerifyChain established.
type ChainResult struct {
	Anchors int    // anchors walked, the starting one included
	Through uint64 // Last of the starting anchor: entries 1..Through are covered, except declared holes
	// Skipped lists the ranges between consecutive anchors that the declared holes passed to
	// VerifyChain cover, oldest first; each is [From, To] of missing sequence numbers.
	Skipped []ledger.Hole
}

// VerifyChain walks a device's anchors on the ledger backwards from the block start, using only
// the node's core API: every block must carry the device's tag and an anchor signed by pub, be
// referenced by a milestone and meet the node's PoW minimum, and each anchor's First must follow
// its predecessor's Last, down to the device's first anchor (First 1, Prev zero). So the ledger
// itself shows that entries 1..Through were anchored without a gap or an overlap. Errors wrap
// ErrChain, or those of VerifyBlock.
//
// holes are the declared holes of the device's chain (ledger.ChainStats.Holes from verifying its
// entries): a gap between two anchors is accepted exactly when these cover every number in it,
// as the publisher anchors across a declared hole; any other gap is ErrChain.
func VerifyChain(ctx context.Context, client *nodeclient.Client, pub ed25519.PublicKey, start iotago.BlockID, holes ...ledger.Hole) (*ChainResult, error) {
	tag, err := Tag(ledger.DeviceID(pub))
	if err != nil {
		return nil, err
	}
	params, err := nodeParams(ctx, client)
	if err != nil {
		return nil, err
	}
	res := &ChainResult{}
	id := start
	var next *Anchor // the anchor that named id as its Prev
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		blk, err := fetchBlock(ctx, client, id, params)
		if err != nil {
			return nil, err
		}
		td, ok := blk.Payload.(*iotago.TaggedData)
		if !ok {
			return nil, fmt.Errorf("block %s carries no tagged data: %w", id.ToHex(), ErrChain)
		}
		a, err := Decode(td.Data)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w: %w", id.ToHex(), ErrChain, err)
		}
		if err := a.Verify(pub); err != nil {
			return nil, fmt.Errorf("block %s: %w: %w", id.ToHex(), ErrChain, err)
		}
		c := &Checked{Anchor: a, Payload: td.Data, BlockID: id, Tag: tag}
		if err := c.VerifyBlock(blk, params.MinPoWScore); err != nil {
			return nil, err
		}
		if _, err := referencedBy(ctx, client, id); err != nil {
			return nil, err
		}
		if next == nil {
			res.Through = a.Last
		} else if a.Last+1 != next.First {
			if a.Last >= next.First || !covered(holes, a.Last+1, next.First-1) {
				return nil, fmt.Errorf("anchor %d..%d precedes %d..%d: %w", a.First, a.Last, next.First, next.Last, ErrChain)
			}
			res.Skipped = append([]ledger.Hole{{From: a.Last + 1, To: next.First - 1}}, res.Skipped...)
		}
		res.Anchors++
		if a.Prev == ([32]byte{}) {
			if a.First != 1 && covered(holes, 1, a.First-1) {
				res.Skipped = append([]ledger.Hole{{From: 1, To: a.First - 1}}, res.Skipped...)
				return res, nil
			}
			if a.First != 1 {
				return nil, fmt.Errorf("first anchor starts at %d, not 1: %w", a.First, ErrChain)
			}
			return res, nil
		}
		next, id = &a, a.Prev
	}
}

// covered reports whether the holes together contain every number from..to.
func covered(holes []ledger.Hole, from, to uint64) bool {
	for seq := from; seq <= to; {
		advanced := false
		for _, h := range holes {
			if h.From <= seq && seq <= h.To {
				if h.To >= to {
					return true
				}
				seq, advanced = h.To+1, true
			}
		}
		if !advanced {
			return false
		}
	}
	return true
}
