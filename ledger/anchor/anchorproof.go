package anchor

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger"
)

// AnchorProofFormat names the file format of an anchor's own proof: the anchor, its block and
// the milestone inclusion proof, without any entry. The publisher keeps one per confirmed
// anchor (stardust.Config.ProofDir); entry proofs and offline chain walks are built from them.
const AnchorProofFormat = "chargegate-anchor-proof/1"

// AnchorProof proves that a device's anchor was confirmed by a milestone; see the package
// documentation.
type AnchorProof struct {
	Format    string `json:"format"`
	Device    string `json:"device"`    // ledger.DeviceID of DeviceKey
	DeviceKey string `json:"deviceKey"` // the device's Ed25519 entry key, 0x-hex
	Anchor    string `json:"anchor"`    // the signed anchor payload, exactly the block's data
	BlockID   string `json:"blockId"`
	PoI       *PoI   `json:"poi"`
}

// AnchorProofFileName is the name under which an anchor's proof is kept: sortable by range.
func AnchorProofFileName(first, last uint64) string {
	return fmt.Sprintf("anchor-%020d-%020d.json", first, last)
}

// NewAnchorProof bundles an anchor payload of device pub, its block ID and the block's PoI.
func NewAnchorProof(pub ed25519.PublicKey, payload []byte, blockID iotago.BlockID, poi *PoI) *AnchorProof {
	return &AnchorProof{
		Format: AnchorProofFormat, Device: ledger.DeviceID(pub), DeviceKey: iotago.EncodeHex(pub),
		Anchor: iotago.EncodeHex(payload), BlockID: blockID.ToHex(), PoI: poi,
	}
}

// Verify checks an anchor proof offline: the anchor is signed by the device key it names, the
// PoI's block carries it under the device's tag and recomputes to BlockID (and meets
// keys.MinPoWScore when set), and the milestone and inclusion path hold under keys. It returns
// the anchor, its block ID and the device key.
func (ap *AnchorProof) Verify(keys *CoordinatorKeys) (Anchor, iotago.BlockID, ed25519.PublicKey, error) {
	var id iotago.BlockID
	if ap.Format != AnchorProofFormat {
		return Anchor{}, id, nil, fmt.Errorf("anchor proof format %q, want %q: %w", ap.Format, AnchorProofFormat, ErrFormat)
	}
	pub, err := decodeHexField("deviceKey", ap.DeviceKey)
	if err != nil {
		return Anchor{}, id, nil, err
	}
	if len(pub) != ed25519.PublicKeySize || ledger.DeviceID(pub) != ap.Device {
		return Anchor{}, id, nil, fmt.Errorf("anchor proof's device %q does not match its key: %w", ap.Device, ErrFormat)
	}
	payload, err := decodeHexField("anchor", ap.Anchor)
	if err != nil {
		return Anchor{}, id, nil, err
	}
	a, err := Decode(payload)
	if err != nil {
		return Anchor{}, id, nil, err
	}
	if err := a.Verify(pub); err != nil {
		return Anchor{}, id, nil, err
	}
	idb, err := decodeHexField("blockId", ap.BlockID)
	if err != nil || len(idb) != iotago.BlockIDLength {
		return Anchor{}, id, nil, fmt.Errorf("anchor proof blockId: %w", ErrFormat)
	}
	copy(id[:], idb)
	tag, err := Tag(ap.Device)
	if err != nil {
		return Anchor{}, id, nil, err
	}
	if ap.PoI == nil || ap.PoI.Block == nil {
		return Anchor{}, id, nil, fmt.Errorf("anchor proof without its inclusion proof: %w", ErrFormat)
	}
	c := &Checked{Anchor: a, Payload: payload, BlockID: id, Tag: tag}
	if err := c.VerifyBlock(ap.PoI.Block, keys.minScore()); err != nil {
		return Anchor{}, id, nil, err
	}
	if err := ap.PoI.VerifyInclusion(id, keys); err != nil {
		return Anchor{}, id, nil, err
	}
	return a, id, ed25519.PublicKey(pub), nil
}

func (k *CoordinatorKeys) minScore() uint32 {
	if k == nil {
		return 0
	}
	return k.MinPoWScore
}

// WriteAnchorProof writes ap into dir under AnchorProofFileName, durably: a temporary file,
// fsync, rename, fsync of the directory. An existing file for the range is replaced.
func WriteAnchorProof(dir string, first, last uint64, ap *AnchorProof) error {
	b, err := json.MarshalIndent(ap, "", "  ")
	if err != nil {
		return fmt.Errorf("encode anchor proof: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create proof directory: %w", err)
	}
	path := filepath.Join(dir, AnchorProofFileName(first, last))
	f, err := os.CreateTemp(dir, ".anchor-*.tmp")
	if err != nil {
		return fmt.Errorf("write anchor proof: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write anchor proof: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync anchor proof: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write anchor proof: %w", err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("write anchor proof: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("store anchor proof: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync proof directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync proof directory: %w", err)
	}
	return nil
}

// ReadAnchorProof reads the proof of anchor first..last from dir; a missing file is
// os.ErrNotExist.
func ReadAnchorProof(dir string, first, last uint64) (*AnchorProof, error) {
	return readAnchorProofFile(filepath.Join(dir, AnchorProofFileName(first, last)))
}

func readAnchorProofFile(path string) (*AnchorProof, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read anchor proof: %w", err)
	}
	var ap AnchorProof
	if err := json.Unmarshal(b, &ap); err != nil {
		return nil, fmt.Errorf("decode anchor proof %s: %v: %w", filepath.Base(path), err, ErrFormat)
	}
	return &ap, nil
}

// AnchorProofs indexes stored anchor proofs by block ID.
type AnchorProofs map[iotago.BlockID]*AnchorProof

// LoadAnchorProofs reads every anchor proof in dir (files named by AnchorProofFileName).
func LoadAnchorProofs(dir string) (AnchorProofs, error) {
	names, err := filepath.Glob(filepath.Join(dir, "anchor-*.json"))
	if err != nil {
		return nil, fmt.Errorf("list anchor proofs: %w", err)
	}
	out := AnchorProofs{}
	for _, name := range names {
		ap, err := readAnchorProofFile(name)
		if err != nil {
			return nil, err
		}
		b, err := iotago.DecodeHex(ap.BlockID)
		if err != nil || len(b) != iotago.BlockIDLength {
			return nil, fmt.Errorf("anchor proof %s: blockId: %w", filepath.Base(name), ErrFormat)
		}
		out[iotago.BlockID(b)] = ap
	}
	return out, nil
}

// VerifyChainWith walks a device's anchors back from block start to its first anchor, like
// VerifyChain, taking each anchor from the node when it still has it (client may be nil) and
// otherwise from stored, verified offline under keys. So a chain stays verifiable where the
// node has pruned, and with no node at all. A block neither the node nor stored has is
// ErrUnavailable; a break in the chain not covered by holes (see VerifyChain) is ErrChain.
func VerifyChainWith(ctx context.Context, client *nodeclient.Client, pub ed25519.PublicKey, start iotago.BlockID, stored AnchorProofs, keys *CoordinatorKeys, holes ...ledger.Hole) (*ChainResult, error) {
	tag, err := Tag(ledger.DeviceID(pub))
	if err != nil {
		return nil, err
	}
	var params *iotago.ProtocolParameters
	if client != nil {
		if params, err = nodeParams(ctx, client); err != nil {
			if len(stored) == 0 {
				return nil, err
			}
			client = nil // an unreachable node: carry on from stored proofs
		}
	}
	res := &ChainResult{}
	id := start
	var next *Anchor
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a, err := chainLink(ctx, client, params, pub, tag, id, stored, keys)
		if err != nil {
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

// chainLink returns the verified anchor in block id: from the node if it can answer, else from
// the stored proofs.
func chainLink(ctx context.Context, client *nodeclient.Client, params *iotago.ProtocolParameters, pub ed25519.PublicKey, tag []byte, id iotago.BlockID, stored AnchorProofs, keys *CoordinatorKeys) (Anchor, error) {
	var nodeErr error
	if client != nil {
		a, err := nodeLink(ctx, client, params, pub, tag, id)
		if err == nil || !errors.Is(err, ErrUnavailable) {
			return a, err
		}
		nodeErr = err
	}
	ap, ok := stored[id]
	if !ok {
		if nodeErr != nil {
			return Anchor{}, fmt.Errorf("no stored proof either: %w", nodeErr)
		}
		return Anchor{}, fmt.Errorf("block %s: no stored anchor proof: %w", id.ToHex(), ErrUnavailable)
	}
	a, gotID, key, err := ap.Verify(keys)
	if err != nil {
		return Anchor{}, fmt.Errorf("stored proof of block %s: %w: %w", id.ToHex(), ErrChain, err)
	}
	if gotID != id || !key.Equal(pub) {
		return Anchor{}, fmt.Errorf("stored proof of block %s is for block %s of device %s: %w", id.ToHex(), gotID.ToHex(), ap.Device, ErrChain)
	}
	return a, nil
}

// nodeLink fetches and checks one anchor block from the node.
func nodeLink(ctx context.Context, client *nodeclient.Client, params *iotago.ProtocolParameters, pub ed25519.PublicKey, tag []byte, id iotago.BlockID) (Anchor, error) {
	blk, err := fetchBlock(ctx, client, id, params)
	if err != nil {
		return Anchor{}, err
	}
	td, ok := blk.Payload.(*iotago.TaggedData)
	if !ok {
		return Anchor{}, fmt.Errorf("block %s carries no tagged data: %w", id.ToHex(), ErrChain)
	}
	a, err := Decode(td.Data)
	if err != nil {
		return Anchor{}, fmt.Errorf("block %s: %w: %w", id.ToHex(), ErrChain, err)
	}
	if err := a.Verify(pub); err != nil {
		return Anchor{}, fmt.Errorf("block %s: %w: %w", id.ToHex(), ErrChain, err)
	}
	c := &Checked{Anchor: a, Payload: td.Data, BlockID: id, Tag: tag}
	if err := c.VerifyBlock(blk, params.MinPoWScore); err != nil {
		return Anchor{}, err
	}
	if _, err := referencedBy(ctx, client, id); err != nil {
		return Anchor{}, err
	}
	return a, nil
}
