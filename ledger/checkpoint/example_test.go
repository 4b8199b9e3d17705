package checkpoint_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/chargegate/chargegate/ledger/checkpoint"
)

// A device signs a checkpoint of its chain; a verifier opens it and checks an entry's inclusion.
func Example() {
	seed := sha256.Sum256([]byte("example device"))
	dev := ed25519.NewKeyFromSeed(seed[:])
	tree := &checkpoint.Tree{}
	for seq := uint64(1); seq <= 5; seq++ {
		tree.Append(seq, sha256.Sum256([]byte(fmt.Sprint("entry ", seq))))
	}
	size, root, _ := tree.Root()
	c := checkpoint.Checkpoint{Origin: checkpoint.Origin(dev.Public().(ed25519.PublicKey)), Size: size, Hash: root}
	signed, _ := checkpoint.Sign(c, checkpoint.DeviceSigner(dev))

	vkey, _ := checkpoint.DeviceVerifierKey(dev.Public().(ed25519.PublicKey))
	v, _ := note.NewVerifier(vkey)
	got, _, err := checkpoint.Open(signed, v)
	fmt.Println(got.Origin, got.Size, err)

	proof, _ := tree.InclusionProof(3, size)
	leaf := sha256.Sum256([]byte("entry 3"))
	fmt.Println("entry 3 included:", tlog.CheckRecord(proof, got.Size, got.Hash, 2, tlog.RecordHash(leaf[:])) == nil)
	// Output:
	// chargegate/5649f27c30118f04 5 <nil>
	// entry 3 included: true
}
