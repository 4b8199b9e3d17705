package anchor

import (
	"context"
	"crypto/ed25519"
	"errors"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/nodeclient"
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
	return VerifyChainWith(ctx, client, pub, start, nil, nil)
}
