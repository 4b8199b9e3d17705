package anchor_test

import (
	"crypto/ed25519"
	"fmt"

	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

// A device anchors a batch of entries: the Merkle root over their hashes, the range, the last
// hash and the previous anchor's block ID, signed with the device key. Anyone holding one entry,
// its path and the anchor can check the entry is in the batch.
func Example() {
	key := ledgertest.NamedKey(nil, "anchor")
	entries := chain(key, 5)
	leaves := make([][32]byte, len(entries))
	for i := range entries {
		leaves[i] = entries[i].Hash()
	}
	a := anchor.Anchor{First: 1, Last: 5, Root: anchor.Root(leaves), LastHash: leaves[4]}
	a.Sign(key)
	payload, _ := a.MarshalBinary()

	// The verifier's side: decode the payload from the block, check its signature and the path.
	got, _ := anchor.Decode(payload)
	fmt.Println("anchor signature:", got.Verify(key.Public().(ed25519.PublicKey)))
	path, _ := anchor.Path(leaves, 2)
	fmt.Println("entry 3 in batch:", anchor.VerifyPath(path, leaves[2], 2, 5, got.Root))
	fmt.Println("payload bytes:", len(payload))
	// Output:
	// anchor signature: <nil>
	// entry 3 in batch: <nil>
	// payload bytes: 177
}
