package ledger

import (
	"fmt"
	"time"
)

// AnchorState is where an anchor stands on its way into the ledger.
type AnchorState uint8

// Anchor states; the numeric values are stored.
const (
	AnchorBuilt     AnchorState = 1 // payload signed and block built, not yet accepted by a node
	AnchorSubmitted AnchorState = 2 // a node accepted the block
	AnchorConfirmed AnchorState = 3 // referenced by a milestone; the range may be pruned
)

// String returns the lowercase name of the state.
func (s AnchorState) String() string {
	switch s {
	case AnchorBuilt:
		return "built"
	case AnchorSubmitted:
		return "submitted"
	case AnchorConfirmed:
		return "confirmed"
	}
	return fmt.Sprintf("anchorstate(%d)", uint8(s))
}

// AnchorRecord is the publisher's durable record of one anchor. Its payload format is owned by
// ledger/anchor; to the store it is bytes.
type AnchorRecord struct {
	First, Last uint64   // sequence range covered, inclusive
	Root        [32]byte // Merkle root over the entry hashes
	Payload     []byte   // signed anchor payload bytes
	BlockID     [32]byte // zero until the block is built
	Block       []byte   // serialized block as submitted (for reattach / proofs)
	State       AnchorState
	Milestone   uint32 // confirming milestone index, 0 until confirmed
	UpdatedAt   time.Time
}
