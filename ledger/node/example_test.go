package node_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger/node"
)

// A node in memory, served over HTTP, used with iota.go's own client: submit a tagged-data
// block, issue a milestone, and read the block's metadata.
func Example() {
	n, err := node.New(node.Config{NoPoW: true}) // no Dir: in memory
	if err != nil {
		panic(err)
	}
	defer n.Close()
	srv := httptest.NewServer(n.Handler())
	defer srv.Close()

	ctx := context.Background()
	c := nodeclient.New(srv.URL)
	info, _ := c.Info(ctx)
	tips, _ := c.Tips(ctx)
	parents, _ := tips.Tips()
	blk := &iotago.Block{ProtocolVersion: 2, Parents: parents, Payload: &iotago.TaggedData{Tag: []byte("hello"), Data: []byte("world")}}
	id, err := c.SubmitBlock(ctx, blk, &info.Protocol)
	if err != nil {
		panic(err)
	}
	ms, _ := n.IssueMilestone(ctx)
	meta, _ := c.BlockMetadataByBlockID(ctx, id)
	fmt.Println("milestone:", ms)
	fmt.Println("referenced by:", meta.ReferencedByMilestoneIndex, meta.LedgerInclusionState)
	// Output:
	// milestone: 2
	// referenced by: 2 noTransaction
}
