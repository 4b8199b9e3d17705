package anchor

import (
	"bytes"
	"crypto"
	"encoding/json"
	"fmt"
	"math/bits"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/merklehasher"
	"golang.org/x/crypto/blake2b" // also registers BLAKE2b-256 with crypto
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

// pathNode is one node of a path in iota.go's proof JSON, decoded in one pass.
type pathNode struct {
	L     *pathNode `json:"l"`
	R     *pathNode `json:"r"`
	H     string    `json:"h"`
	Value string    `json:"value"`
}

// decodePath decodes a path strictly (no unknown fields) in one pass; iota.go's
// merklehasher.Proof.UnmarshalJSON re-parses every subtree at every level, which made it the
// bulk of a proof's verification time.
func decodePath(raw json.RawMessage, sentinel error) (*pathNode, error) {
	var n pathNode
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return nil, fmt.Errorf("decode path: %v: %w", err, sentinel)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode path: trailing data: %w", sentinel)
	}
	return &n, nil
}

// Leaf and node hashes of iota.go's merklehasher (TIP-4, RFC 6962 prefixes) over BLAKE2b-256;
// TestPathHashingMatchesMerklehasher checks them against merklehasher's own.
func hashLeaf(v []byte) [32]byte {
	return blake2b.Sum256(append([]byte{0x00}, v...))
}

func hashNode(l, r [32]byte) [32]byte {
	b := make([]byte, 0, 65)
	b = append(append(append(b, 0x01), l[:]...), r[:]...)
	return blake2b.Sum256(b)
}

// VerifyPath checks that path proves leaf at position index in a tree of size leaves with the
// given root. It checks the shape strictly (one leaf, at the position the index implies, every
// sibling a 32-byte hash) and recomputes the root as iota.go's merklehasher does. Errors wrap
// ErrPath.
func VerifyPath(path json.RawMessage, leaf [32]byte, index, size uint64, root [32]byte) error {
	if size == 0 || index >= size {
		return fmt.Errorf("index %d of %d: %w", index, size, ErrPath)
	}
	n, err := decodePath(path, ErrPath)
	if err != nil {
		return err
	}
	got, err := walkShape(n, leaf, index, size, 0)
	if err != nil {
		return err
	}
	if got != root {
		return fmt.Errorf("path leads to root %x, anchor has %x: %w", got, root, ErrPath)
	}
	return nil
}

// maxDepth bounds recursion on hostile input: a tree of 2^64 leaves is 64 levels deep.
const maxDepth = 64

// walkShape walks the path as merklehasher builds it and returns the subtree's hash: a subtree
// of n ≥ 2 leaves splits at the largest power of two below n; the side holding index is a path
// node (or the leaf itself when it has one leaf), the other side a hash.
func walkShape(node *pathNode, leaf [32]byte, index, n uint64, depth int) ([32]byte, error) {
	if depth > maxDepth {
		return [32]byte{}, fmt.Errorf("path deeper than %d: %w", maxDepth, ErrPath)
	}
	if node == nil {
		return [32]byte{}, fmt.Errorf("missing path node at depth %d: %w", depth, ErrPath)
	}
	if n == 1 {
		if node.Value == "" || node.H != "" || node.L != nil || node.R != nil {
			return [32]byte{}, fmt.Errorf("expected the leaf at depth %d: %w", depth, ErrPath)
		}
		v, err := iotago.DecodeHex(node.Value)
		if err != nil || !bytes.Equal(v, leaf[:]) {
			return [32]byte{}, fmt.Errorf("leaf in path is not the entry's hash: %w", ErrPath)
		}
		return hashLeaf(v), nil
	}
	if node.L == nil || node.R == nil || node.H != "" || node.Value != "" {
		return [32]byte{}, fmt.Errorf("expected an inner node at depth %d: %w", depth, ErrPath)
	}
	k := uint64(1) << (bits.Len64(n-1) - 1)
	if index < k {
		r, err := siblingHash(node.R, ErrPath)
		if err != nil {
			return [32]byte{}, err
		}
		l, err := walkShape(node.L, leaf, index, k, depth+1)
		if err != nil {
			return [32]byte{}, err
		}
		return hashNode(l, r), nil
	}
	l, err := siblingHash(node.L, ErrPath)
	if err != nil {
		return [32]byte{}, err
	}
	r, err := walkShape(node.R, leaf, index-k, n-k, depth+1)
	if err != nil {
		return [32]byte{}, err
	}
	return hashNode(l, r), nil
}

// siblingHash requires a sibling node {"h":"0x…"} with 32 bytes and returns it.
func siblingHash(node *pathNode, sentinel error) ([32]byte, error) {
	var h [32]byte
	if node == nil || node.Value != "" || node.L != nil || node.R != nil {
		return h, fmt.Errorf("sibling is not a hash: %w", sentinel)
	}
	b, err := iotago.DecodeHex(node.H)
	if err != nil || len(b) != 32 {
		return h, fmt.Errorf("sibling is not a 32-byte hash: %w", sentinel)
	}
	copy(h[:], b)
	return h, nil
}
