package anchor

import (
	"bytes"
	"crypto"
	"encoding/json"
	"fmt"
	"math/bits"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/merklehasher"
	_ "golang.org/x/crypto/blake2b" // registers BLAKE2b-256 with crypto
)

// hasher is iota.go's Merkle hasher over BLAKE2b-256 (RFC 6962 style leaf/node prefixes), the
// same one Hornet uses for milestone inclusion roots. Its proofs need 32-byte leaves: the leaves
// here are the entries' SHA-256 hashes (ledger.Entry.Hash), never the raw entries.
func hasher() *merklehasher.Hasher { return merklehasher.NewHasher(crypto.BLAKE2b_256) }

// Root returns the Merkle root over the given entry hashes, in sequence order.
func Root(leaves [][32]byte) [32]byte {
	data := make([][]byte, len(leaves))
	for i := range leaves {
		data[i] = leaves[i][:]
	}
	var root [32]byte
	copy(root[:], hasher().Hash(data))
	return root
}

// Path returns the Merkle path of leaf index within leaves, in iota.go's proof JSON:
// {"l":…,"r":…} nodes, {"h":"0x…"} for sibling hashes and {"value":"0x…"} for the leaf itself.
// A tree of one leaf has the path {"value":"0x…"}.
func Path(leaves [][32]byte, index int) (json.RawMessage, error) {
	if index < 0 || index >= len(leaves) {
		return nil, fmt.Errorf("merkle path: index %d of %d leaves", index, len(leaves))
	}
	if len(leaves) == 1 {
		return json.Marshal(map[string]string{"value": iotago.EncodeHex(leaves[0][:])})
	}
	ids := make(iotago.BlockIDs, len(leaves))
	for i := range leaves {
		ids[i] = leaves[i]
	}
	p, err := hasher().ComputeProofForIndex(ids, index)
	if err != nil {
		return nil, fmt.Errorf("merkle path: %w", err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("merkle path: %w", err)
	}
	return b, nil
}

// pathNode is one node of a path in iota.go's proof JSON.
type pathNode struct {
	L     json.RawMessage `json:"l"`
	R     json.RawMessage `json:"r"`
	H     string          `json:"h"`
	Value string          `json:"value"`
}

// VerifyPath checks that path proves leaf at position index in a tree of size leaves with the
// given root. It checks the shape strictly (one leaf, at the position the index implies, every
// sibling a 32-byte hash) and lets iota.go's merklehasher recompute the root. Errors wrap ErrPath.
func VerifyPath(path json.RawMessage, leaf [32]byte, index, size uint64, root [32]byte) error {
	if size == 0 || index >= size {
		return fmt.Errorf("index %d of %d: %w", index, size, ErrPath)
	}
	if err := checkShape(path, leaf, index, size, 0); err != nil {
		return err
	}
	var got []byte
	if size == 1 {
		got = hasher().Hash([][]byte{leaf[:]})
	} else {
		var p merklehasher.Proof
		if err := json.Unmarshal(path, &p); err != nil {
			return fmt.Errorf("decode path: %v: %w", err, ErrPath)
		}
		got = p.Hash(hasher())
	}
	if !bytes.Equal(got, root[:]) {
		return fmt.Errorf("path leads to root %x, anchor has %x: %w", got, root, ErrPath)
	}
	return nil
}

// maxDepth bounds recursion on hostile input: a tree of 2^64 leaves is 64 levels deep.
const maxDepth = 64

// checkShape walks the path as merklehasher builds it: a subtree of n ≥ 2 leaves splits at the
// largest power of two below n; the side holding index is a path node (or the leaf itself when
// it has one leaf), the other side a hash.
func checkShape(raw json.RawMessage, leaf [32]byte, index, n uint64, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("path deeper than %d: %w", maxDepth, ErrPath)
	}
	var node pathNode
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&node); err != nil {
		return fmt.Errorf("decode path node: %v: %w", err, ErrPath)
	}
	if n == 1 {
		if node.Value == "" || node.H != "" || node.L != nil || node.R != nil {
			return fmt.Errorf("expected the leaf at depth %d: %w", depth, ErrPath)
		}
		v, err := iotago.DecodeHex(node.Value)
		if err != nil || !bytes.Equal(v, leaf[:]) {
			return fmt.Errorf("leaf in path is not the entry's hash: %w", ErrPath)
		}
		return nil
	}
	if node.L == nil || node.R == nil || node.H != "" || node.Value != "" {
		return fmt.Errorf("expected an inner node at depth %d: %w", depth, ErrPath)
	}
	k := uint64(1) << (bits.Len64(n-1) - 1)
	if index < k {
		if err := checkHash(node.R); err != nil {
			return err
		}
		return checkShape(node.L, leaf, index, k, depth+1)
	}
	if err := checkHash(node.L); err != nil {
		return err
	}
	return checkShape(node.R, leaf, index-k, n-k, depth+1)
}

// checkHash requires a sibling node {"h":"0x…"} with 32 bytes.
func checkHash(raw json.RawMessage) error {
	var node pathNode
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&node); err != nil {
		return fmt.Errorf("decode path sibling: %v: %w", err, ErrPath)
	}
	h, err := iotago.DecodeHex(node.H)
	if err != nil || len(h) != 32 || node.Value != "" || node.L != nil || node.R != nil {
		return fmt.Errorf("sibling is not a 32-byte hash: %w", ErrPath)
	}
	return nil
}
