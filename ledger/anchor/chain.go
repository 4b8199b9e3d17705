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
	Through uint64 // Last of the starting anchor: entries 1..Through are covered without a gap
}

// VerifyChain walks a device's anchors on the ledger backwards from the block start, using only
// the node's core API: every block must carry the device's tag and an anchor signed by pub, be
// referenced by a milestone and meet the node's PoW minimum, and each anchor's First must follow
// its predecessor's Last, down to the device's first anchor (First 1, Prev zero). So the ledger
// itself shows that entries 1..Through were anchored without a gap or an overlap. Errors wrap
// ErrChain, or those of VerifyBlock.
func VerifyChain(ctx context.Context, client *nodeclient.Client, pub ed25519.PublicKey, start iotago.BlockID) (*ChainResult, error) {
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
			return nil, fmt.Errorf("anchor %d..%d precedes %d..%d: %w", a.First, a.Last, next.First, next.Last, ErrChain)
		}
		res.Anchors++
		if a.Prev == ([32]byte{}) {
			if a.First != 1 {
				return nil, fmt.Errorf("first anchor starts at %d, not 1: %w", a.First, ErrChain)
			}
			return res, nil
		}
		next, id = &a, a.Prev
	}
}
