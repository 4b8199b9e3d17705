package anchor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/iotaledger/hive.go/serializer/v2"
	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/merklehasher"
	"github.com/iotaledger/iota.go/v3/nodeclient"
)

// Errors of the milestone side of a proof.
var (
	// ErrMilestone means a milestone's signatures do not satisfy the network's coordinator keys.
	ErrMilestone = errors.New("milestone not validly signed")
	// ErrInclusion means the inclusion path does not lead from the block to the milestone's
	// InclusionMerkleRoot.
	ErrInclusion = errors.New("milestone inclusion proof mismatch")
	// ErrUnavailable means the node could not answer what a verdict needs (unreachable, not
	// synced, block pruned or unknown, no PoI API): nothing is proven either way.
	ErrUnavailable = errors.New("cannot decide")
)

// PoI is a milestone inclusion proof in the format of the inx-poi plugin
// (GET /api/poi/v1/create/{blockId}): the block, the milestone that referenced it, and the
// Merkle audit path from the block's ID to the milestone's InclusionMerkleRoot, in iota.go's
// merklehasher JSON. A milestone that referenced a single block has the path {"value":"0x…"}.
type PoI struct {
	Milestone *iotago.Milestone `json:"milestone"`
	Block     *iotago.Block     `json:"block"`
	Proof     json.RawMessage   `json:"proof"`
}

// NewPoI builds the inclusion proof of the block at position index among the block IDs a
// milestone referenced, in white-flag order (what ledger/node and Hornet commit as the
// milestone's InclusionMerkleRoot, TIP-4/TIP-29).
func NewPoI(ms *iotago.Milestone, blk *iotago.Block, referenced iotago.BlockIDs, index int) (*PoI, error) {
	if index < 0 || index >= len(referenced) {
		return nil, fmt.Errorf("inclusion proof: index %d of %d blocks", index, len(referenced))
	}
	var path []byte
	var err error
	if len(referenced) == 1 {
		// merklehasher's ComputeProofForIndex panics for a single leaf; its proof is the leaf.
		path, err = json.Marshal(map[string]string{"value": referenced[0].ToHex()})
	} else {
		var p *merklehasher.Proof
		p, err = hasher().ComputeProofForIndex(referenced, index)
		if err == nil {
			path, err = json.Marshal(p)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	return &PoI{Milestone: ms, Block: blk, Proof: path}, nil
}

// maxInclusionDepth bounds the inclusion path: a milestone references at most a few million
// blocks, far below 2^40.
const maxInclusionDepth = 40

// VerifyInclusion checks that the PoI proves block id under a milestone validly signed for its
// index by keys: the block recomputes to id, the milestone's signatures satisfy keys, and the
// path has exactly one leaf, id, and hashes to the milestone's InclusionMerkleRoot. Errors wrap
// ErrFormat, ErrBlock, ErrMilestone or ErrInclusion.
func (poi *PoI) VerifyInclusion(id iotago.BlockID, keys *CoordinatorKeys) error {
	if err := poi.CheckPath(id); err != nil {
		return err
	}
	return keys.VerifyMilestone(poi.Milestone)
}

// CheckPath checks everything in the PoI except the milestone's signatures: the block
// recomputes to id and the path leads from id to the milestone's InclusionMerkleRoot. It is
// what a holder of the proof can check without the network's keys. Errors wrap ErrFormat,
// ErrBlock or ErrInclusion.
func (poi *PoI) CheckPath(id iotago.BlockID) error {
	if poi == nil || poi.Milestone == nil || poi.Block == nil || len(poi.Proof) == 0 {
		return fmt.Errorf("inclusion proof incomplete: %w", ErrFormat)
	}
	got, err := poi.Block.ID()
	if err != nil {
		return fmt.Errorf("inclusion proof block id: %v: %w", err, ErrBlock)
	}
	if got != id {
		return fmt.Errorf("inclusion proof is for block %s, not %s: %w", got.ToHex(), id.ToHex(), ErrBlock)
	}
	root, err := inclusionRoot(poi.Proof, id)
	if err != nil {
		return err
	}
	if !bytes.Equal(root, poi.Milestone.InclusionMerkleRoot[:]) {
		return fmt.Errorf("path leads to %x, milestone %d commits to %x: %w", root, poi.Milestone.Index, poi.Milestone.InclusionMerkleRoot, ErrInclusion)
	}
	return nil
}

// inclusionRoot checks the path's shape (exactly one leaf, equal to id; every other node a
// 32-byte hash or an inner node; bounded depth) and returns the root it hashes to. The
// milestone's path carries no index or size, so any shape that hashes to the root is accepted:
// the leaf and node prefixes keep a leaf from passing for an inner node.
func inclusionRoot(raw json.RawMessage, id iotago.BlockID) ([]byte, error) {
	n, err := decodePath(raw, ErrInclusion)
	if err != nil {
		return nil, err
	}
	leaves := 0
	h, err := walkInclusion(n, id, 0, &leaves)
	if err != nil {
		return nil, err
	}
	if leaves != 1 {
		return nil, fmt.Errorf("inclusion path has %d leaves, want 1: %w", leaves, ErrInclusion)
	}
	return h[:], nil
}

// walkInclusion hashes a path node, counting its leaves, each of which must be id.
func walkInclusion(node *pathNode, id iotago.BlockID, depth int, leaves *int) ([32]byte, error) {
	if depth > maxInclusionDepth {
		return [32]byte{}, fmt.Errorf("inclusion path deeper than %d: %w", maxInclusionDepth, ErrInclusion)
	}
	switch {
	case node == nil:
		return [32]byte{}, fmt.Errorf("inclusion path node missing: %w", ErrInclusion)
	case node.Value != "" && node.H == "" && node.L == nil && node.R == nil:
		v, err := iotago.DecodeHex(node.Value)
		if err != nil || !bytes.Equal(v, id[:]) {
			return [32]byte{}, fmt.Errorf("inclusion path's leaf is not block %s: %w", id.ToHex(), ErrInclusion)
		}
		*leaves++
		return hashLeaf(v), nil
	case node.H != "" && node.Value == "" && node.L == nil && node.R == nil:
		return siblingHash(node, ErrInclusion)
	case node.L != nil && node.R != nil && node.H == "" && node.Value == "":
		l, err := walkInclusion(node.L, id, depth+1, leaves)
		if err != nil {
			return [32]byte{}, err
		}
		r, err := walkInclusion(node.R, id, depth+1, leaves)
		if err != nil {
			return [32]byte{}, err
		}
		return hashNode(l, r), nil
	}
	return [32]byte{}, fmt.Errorf("inclusion path node is neither leaf, hash nor pair: %w", ErrInclusion)
}

// FetchPoI asks a node's PoI API (inx-poi's GET /api/poi/v1/create/{blockId}, also served by
// ledger/node) for the inclusion proof of a block. A node that is unreachable, not synced, has
// pruned or never saw the block, or has no PoI plugin gives an error wrapping ErrUnavailable.
func FetchPoI(ctx context.Context, client *http.Client, nodeURL string, id iotago.BlockID) (*PoI, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, strings.TrimRight(nodeURL, "/")+"/api/poi/v1/create/"+id.ToHex(), nil)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof request: %w", err)
	}
	req.Header.Set("Accept", nodeclient.MIMEApplicationJSON)
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch inclusion proof of %s: %w: %w", id.ToHex(), ErrUnavailable, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read inclusion proof of %s: %w: %w", id.ToHex(), ErrUnavailable, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch inclusion proof of %s: node answered %s %s: %w", id.ToHex(), res.Status, bytes.TrimSpace(body), ErrUnavailable)
	}
	var poi PoI
	if err := json.Unmarshal(body, &poi); err != nil {
		return nil, fmt.Errorf("decode inclusion proof of %s: %v: %w", id.ToHex(), err, ErrFormat)
	}
	if poi.Milestone == nil || poi.Block == nil || len(poi.Proof) == 0 {
		return nil, fmt.Errorf("inclusion proof of %s incomplete: %w", id.ToHex(), ErrFormat)
	}
	return &poi, nil
}

// KeyRange is one coordinator public key and the milestone indexes it may sign, as in Hornet's
// protocol.publicKeyRanges: valid for start ≤ index ≤ end, and for every index from start on
// when end is 0 (hive.go keymanager, PublicKeysForMilestoneIndex: "EndIndex == 0 means the key
// is valid forever").
type KeyRange struct {
	Key   string `json:"key"` // Ed25519 public key, hex (0x optional)
	Start uint32 `json:"start"`
	End   uint32 `json:"end"`
}

// CoordinatorKeys is what a verifier needs to trust milestones without any node: the network's
// milestone public keys with their ranges, and how many of them must sign each milestone
// (Hornet's protocol.milestonePublicKeyCount). MinPoWScore, when set, is checked against the
// anchor block's score offline.
type CoordinatorKeys struct {
	MilestonePublicKeyCount int        `json:"milestonePublicKeyCount"`
	PublicKeyRanges         []KeyRange `json:"publicKeyRanges"`
	MinPoWScore             uint32     `json:"minPowScore,omitempty"`
}

// ParseCoordinatorKeys decodes and checks a coordinator keys file (JSON, see CoordinatorKeys).
func ParseCoordinatorKeys(b []byte) (*CoordinatorKeys, error) {
	var k CoordinatorKeys
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&k); err != nil {
		return nil, fmt.Errorf("coordinator keys: %w", err)
	}
	if k.MilestonePublicKeyCount < 1 {
		return nil, errors.New("coordinator keys: milestonePublicKeyCount must be at least 1")
	}
	if len(k.PublicKeyRanges) == 0 {
		return nil, errors.New("coordinator keys: publicKeyRanges is empty")
	}
	for i, r := range k.PublicKeyRanges {
		if _, err := r.publicKey(); err != nil {
			return nil, fmt.Errorf("coordinator keys: range %d: %w", i, err)
		}
		if r.End != 0 && r.End < r.Start {
			return nil, fmt.Errorf("coordinator keys: range %d ends (%d) before it starts (%d)", i, r.End, r.Start)
		}
	}
	return &k, nil
}

// LoadCoordinatorKeys reads a coordinator keys file.
func LoadCoordinatorKeys(path string) (*CoordinatorKeys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("coordinator keys: %w", err)
	}
	return ParseCoordinatorKeys(b)
}

func (r KeyRange) publicKey() (iotago.MilestonePublicKey, error) {
	var k iotago.MilestonePublicKey
	s := r.Key
	if !strings.HasPrefix(s, "0x") {
		s = "0x" + s
	}
	b, err := iotago.DecodeHex(s)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("key %q is not a 32-byte hex Ed25519 public key", r.Key)
	}
	copy(k[:], b)
	return k, nil
}

// KeysFor returns the keys that may sign milestone index.
func (k *CoordinatorKeys) KeysFor(index uint32) iotago.MilestonePublicKeySet {
	set := iotago.MilestonePublicKeySet{}
	for _, r := range k.PublicKeyRanges {
		if index >= r.Start && (r.End == 0 || index <= r.End) {
			if pk, err := r.publicKey(); err == nil {
				set[pk] = struct{}{}
			}
		}
	}
	return set
}

// VerifyMilestone checks a milestone as a Hornet node does before it confirms anything: it must
// serialize with full validation, carry at least MilestonePublicKeyCount signatures, and every
// signature must verify under a key valid for its index. Errors wrap ErrFormat or ErrMilestone.
func (k *CoordinatorKeys) VerifyMilestone(ms *iotago.Milestone) error {
	if k == nil {
		return fmt.Errorf("no coordinator keys given: %w", ErrMilestone)
	}
	raw, err := ms.Serialize(serializer.DeSeriModePerformValidation, nil)
	if err != nil {
		return fmt.Errorf("milestone: %v: %w", err, ErrFormat)
	}
	checked := &iotago.Milestone{}
	if _, err := checked.Deserialize(raw, serializer.DeSeriModePerformValidation, nil); err != nil {
		return fmt.Errorf("milestone: %v: %w", err, ErrFormat)
	}
	if err := checked.VerifySignatures(k.MilestonePublicKeyCount, k.KeysFor(checked.Index)); err != nil {
		return fmt.Errorf("milestone %d: %v: %w", checked.Index, err, ErrMilestone)
	}
	return nil
}

// InclusionRoot returns the Merkle root a milestone commits to as its InclusionMerkleRoot over
// the blocks it referenced, in white-flag order (TIP-4 hashing; the empty root for none).
func InclusionRoot(referenced iotago.BlockIDs) []byte {
	return hasher().HashBlockIDs(referenced)
}

// CheckInclusionPath checks that path (merklehasher JSON) leads from block id, its only leaf,
// to root. Errors wrap ErrInclusion.
func CheckInclusionPath(path json.RawMessage, id iotago.BlockID, root iotago.MilestoneMerkleProof) error {
	got, err := inclusionRoot(path, id)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, root[:]) {
		return fmt.Errorf("path leads to %x, not %x: %w", got, root, ErrInclusion)
	}
	return nil
}
