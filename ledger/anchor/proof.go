package anchor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger"
)

// Proof file formats. ProofFormat (/2) carries the milestone inclusion proof and verifies
// offline; ProofFormatV1 proofs need a node that still has the block.
const (
	ProofFormat   = "chargegate-proof/2"
	ProofFormatV1 = "chargegate-proof/1"
)

// callTimeout bounds each call to a node during verification.
const callTimeout = 15 * time.Second

// Proof is a self-contained proof that one entry is covered by an anchor in a ledger block.
// Binary fields are 0x-prefixed lowercase hex, as in the IOTA node API. Seq, Device, EntryHash,
// Signature and Tag repeat what the binary fields imply, for readers; Check rejects a proof
// whose repeated fields disagree.
type Proof struct {
	Format    string          `json:"format"`
	Device    string          `json:"device"`    // ledger.DeviceID of the entry's key
	Seq       uint64          `json:"seq"`       // the entry's sequence number
	Entry     string          `json:"entry"`     // ledger.Entry.MarshalBinary: encoding + signature
	EntryHash string          `json:"entryHash"` // SHA-256 of the encoding: the Merkle leaf
	Signature string          `json:"signature"` // the entry's Ed25519 signature
	Anchor    string          `json:"anchor"`    // the signed anchor payload (the block's data)
	Index     uint64          `json:"index"`     // leaf index: Seq − anchor First
	Size      uint64          `json:"size"`      // leaves: anchor Last − First + 1
	Path      json.RawMessage `json:"path"`      // Merkle path, iota.go merklehasher JSON
	BlockID   string          `json:"blockId"`   // the block carrying the anchor
	Tag       string          `json:"tag"`       // the block's TaggedData tag
	Milestone uint32          `json:"milestone,omitempty"`
	PoI       *PoI            `json:"poi,omitempty"` // format /2 only: the milestone inclusion proof
}

// NewProof builds the proof for entry e, one of the entries whose hashes are leaves (in sequence
// order, leaves[0] being the anchor's First), anchored by payload in block blockID. Without a
// PoI (nil) it is a ProofFormatV1 proof, with one a ProofFormat (/2) proof.
func NewProof(e ledger.Entry, leaves [][32]byte, payload []byte, blockID [32]byte, milestone uint32, poi *PoI) (*Proof, error) {
	a, err := Decode(payload)
	if err != nil {
		return nil, err
	}
	if e.Seq < a.First || e.Seq > a.Last || uint64(len(leaves)) != a.Count() {
		return nil, fmt.Errorf("build proof: seq %d, %d leaves, anchor %d..%d: %w", e.Seq, len(leaves), a.First, a.Last, ErrFormat)
	}
	index := e.Seq - a.First
	if leaves[index] != e.Hash() {
		return nil, fmt.Errorf("build proof: leaf %d is not the hash of entry %d: %w", index, e.Seq, ErrPath)
	}
	if Root(leaves) != a.Root {
		return nil, fmt.Errorf("build proof: leaves do not give the anchor's root: %w", ErrPath)
	}
	path, err := Path(leaves, int(index))
	if err != nil {
		return nil, err
	}
	entry, err := e.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("build proof: encode entry: %w", err)
	}
	devID := ledger.DeviceID(e.DeviceKey)
	tag, err := Tag(devID)
	if err != nil {
		return nil, err
	}
	h := e.Hash()
	format := ProofFormatV1
	if poi != nil {
		format = ProofFormat
		milestone = poi.Milestone.Index
	}
	return &Proof{
		Format: format, Device: devID, Seq: e.Seq,
		Entry: iotago.EncodeHex(entry), EntryHash: iotago.EncodeHex(h[:]), Signature: iotago.EncodeHex(e.Signature),
		Anchor: iotago.EncodeHex(payload), Index: index, Size: a.Count(), Path: path,
		BlockID: iotago.EncodeHex(blockID[:]), Tag: iotago.EncodeHex(tag), Milestone: milestone, PoI: poi,
	}, nil
}

// Checked is a proof whose offline part holds: the entry, the anchor and the block it names.
type Checked struct {
	Entry   ledger.Entry
	Anchor  Anchor
	Payload []byte
	BlockID iotago.BlockID
	Tag     []byte
}

// decodeHexField decodes a 0x-hex field, naming it in the error.
func decodeHexField(name, s string) ([]byte, error) {
	b, err := iotago.DecodeHex(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("proof field %s: not 0x-hex: %w", name, ErrFormat)
	}
	return b, nil
}

// Check verifies everything a proof states without a ledger: the entry decodes strictly and its
// signature holds, the anchor decodes and is signed by the entry's device key, the entry lies in
// the anchor's range at the stated index, the Merkle path leads from the entry's hash to the
// anchor's root, and the repeated fields agree. Errors wrap ErrFormat, ErrSignature or ErrPath.
func (p *Proof) Check() (*Checked, error) {
	switch {
	case p.Format == ProofFormatV1 && p.PoI != nil:
		return nil, fmt.Errorf("a %s proof carries no inclusion proof: %w", ProofFormatV1, ErrFormat)
	case p.Format == ProofFormat && p.PoI == nil:
		return nil, fmt.Errorf("a %s proof without its inclusion proof: %w", ProofFormat, ErrFormat)
	case p.Format != ProofFormat && p.Format != ProofFormatV1:
		return nil, fmt.Errorf("proof format %q, want %q or %q: %w", p.Format, ProofFormat, ProofFormatV1, ErrFormat)
	}
	entryBytes, err := decodeHexField("entry", p.Entry)
	if err != nil {
		return nil, err
	}
	e, err := ledger.DecodeEntry(entryBytes)
	if err != nil {
		return nil, fmt.Errorf("decode entry: %v: %w", err, ErrFormat)
	}
	if err := e.Verify(); err != nil {
		return nil, fmt.Errorf("entry %d: %v: %w", e.Seq, err, ErrSignature)
	}
	h := e.Hash()
	devID := ledger.DeviceID(e.DeviceKey)
	switch {
	case p.Seq != e.Seq:
		return nil, fmt.Errorf("proof says seq %d, entry has %d: %w", p.Seq, e.Seq, ErrFormat)
	case p.Device != devID:
		return nil, fmt.Errorf("proof says device %q, entry key gives %q: %w", p.Device, devID, ErrFormat)
	case p.EntryHash != iotago.EncodeHex(h[:]):
		return nil, fmt.Errorf("proof's entryHash is not the entry's hash: %w", ErrFormat)
	case p.Signature != iotago.EncodeHex(e.Signature):
		return nil, fmt.Errorf("proof's signature is not the entry's: %w", ErrFormat)
	}
	payload, err := decodeHexField("anchor", p.Anchor)
	if err != nil {
		return nil, err
	}
	a, err := Decode(payload)
	if err != nil {
		return nil, err
	}
	if err := a.Verify(e.DeviceKey); err != nil {
		return nil, fmt.Errorf("anchor not signed by the entry's device: %w", err)
	}
	if e.Seq < a.First || e.Seq > a.Last {
		return nil, fmt.Errorf("entry %d outside anchor %d..%d: %w", e.Seq, a.First, a.Last, ErrPath)
	}
	if p.Index != e.Seq-a.First || p.Size != a.Count() {
		return nil, fmt.Errorf("index %d of %d does not match entry %d in anchor %d..%d: %w", p.Index, p.Size, e.Seq, a.First, a.Last, ErrPath)
	}
	if e.Seq == a.Last && h != a.LastHash {
		return nil, fmt.Errorf("entry %d is the anchor's last but its hash differs: %w", e.Seq, ErrPath)
	}
	if err := VerifyPath(p.Path, h, p.Index, p.Size, a.Root); err != nil {
		return nil, err
	}
	idBytes, err := decodeHexField("blockId", p.BlockID)
	if err != nil {
		return nil, err
	}
	if len(idBytes) != iotago.BlockIDLength {
		return nil, fmt.Errorf("blockId of %d bytes: %w", len(idBytes), ErrFormat)
	}
	tag, err := Tag(devID)
	if err != nil {
		return nil, err
	}
	if p.Tag != iotago.EncodeHex(tag) {
		return nil, fmt.Errorf("proof's tag is not the device's anchor tag: %w", ErrFormat)
	}
	c := &Checked{Entry: e, Anchor: a, Payload: payload, Tag: tag}
	copy(c.BlockID[:], idBytes)
	return c, nil
}

// VerifyBlock checks that blk is the block the proof names and carries its anchor: the block's
// ID (recomputed here, never taken from the node), a TaggedData payload with the device's tag
// and exactly the anchor payload as data, and a PoW score of at least minScore (0 skips the
// check). Errors wrap ErrBlock or ErrPoW.
func (c *Checked) VerifyBlock(blk *iotago.Block, minScore uint32) error {
	id, err := blk.ID()
	if err != nil {
		return fmt.Errorf("block id: %v: %w", err, ErrBlock)
	}
	if id != c.BlockID {
		return fmt.Errorf("block has ID %s, proof names %s: %w", id.ToHex(), c.BlockID.ToHex(), ErrBlock)
	}
	td, ok := blk.Payload.(*iotago.TaggedData)
	if !ok {
		return fmt.Errorf("block %s carries no tagged data: %w", id.ToHex(), ErrBlock)
	}
	if !bytes.Equal(td.Tag, c.Tag) {
		return fmt.Errorf("block tag %q, want %q: %w", td.Tag, c.Tag, ErrBlock)
	}
	if !bytes.Equal(td.Data, c.Payload) {
		return fmt.Errorf("block data is not the proof's anchor: %w", ErrBlock)
	}
	if minScore > 0 {
		score, err := blk.POW()
		if err != nil {
			return fmt.Errorf("pow score: %v: %w", err, ErrBlock)
		}
		if score < float64(minScore) {
			return fmt.Errorf("score %.1f below the node's minimum %d: %w", score, minScore, ErrPoW)
		}
	}
	return nil
}

// Result is what Verify established.
type Result struct {
	Seq       uint64
	Device    string
	First     uint64
	Last      uint64
	BlockID   iotago.BlockID
	Milestone uint32 // milestone that referenced the block
	// MilestoneTime is the milestone's timestamp (offline verification only).
	MilestoneTime time.Time
	Score         float64 // the block's PoW score
	MinScore      uint32  // the node's minimum
}

// Verify checks a proof against any node speaking the core REST API v2: the offline checks of
// Check, then the block fetched from the node (VerifyBlock against the node's minPowScore from
// /info), then the block's metadata: a milestone must reference it. Each call has a deadline.
// Errors wrap ErrFormat, ErrSignature, ErrPath, ErrBlock, ErrPoW or ErrNotConfirmed; errors
// reaching the node are returned wrapped as they come.
func Verify(ctx context.Context, client *nodeclient.Client, p *Proof) (*Result, error) {
	c, err := p.Check()
	if err != nil {
		return nil, err
	}
	params, err := nodeParams(ctx, client)
	if err != nil {
		return nil, err
	}
	blk, err := fetchBlock(ctx, client, c.BlockID, params)
	if err != nil {
		return nil, err
	}
	if err := c.VerifyBlock(blk, params.MinPoWScore); err != nil {
		return nil, err
	}
	ms, err := referencedBy(ctx, client, c.BlockID)
	if err != nil {
		return nil, err
	}
	score, _ := blk.POW()
	return &Result{
		Seq: c.Entry.Seq, Device: p.Device, First: c.Anchor.First, Last: c.Anchor.Last, BlockID: c.BlockID,
		Milestone: ms, Score: score, MinScore: params.MinPoWScore,
	}, nil
}

// nodeParams reads the node's protocol parameters (minPowScore) from /info.
func nodeParams(ctx context.Context, client *nodeclient.Client) (*iotago.ProtocolParameters, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	info, err := client.Info(cctx)
	if err != nil {
		return nil, fmt.Errorf("node info: %w", unavailable(err))
	}
	return &info.Protocol, nil
}

// fetchBlock fetches a block in its binary form, deserialized with validation; a block the
// node does not know is ErrBlock.
func fetchBlock(ctx context.Context, client *nodeclient.Client, id iotago.BlockID, params *iotago.ProtocolParameters) (*iotago.Block, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var blk *iotago.Block
	err := guard("block from the node", func() (err error) {
		blk, err = client.BlockByBlockID(cctx, id, params)
		return err
	})
	if errors.Is(err, nodeclient.ErrHTTPNotFound) {
		// Absence proves nothing: the node may have pruned the block or never seen it.
		return nil, fmt.Errorf("block %s unknown to the node (pruned, or never seen): %w", id.ToHex(), ErrUnavailable)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch block %s: %w", id.ToHex(), unavailable(err))
	}
	return blk, nil
}

// FetchMilestone fetches milestone index from the node, decoded under guard: a node's answer
// that makes iota.go panic is an ErrFormat error. Other errors are the client's, wrapped.
func FetchMilestone(ctx context.Context, client *nodeclient.Client, index uint32) (*iotago.Milestone, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var m *iotago.Milestone
	err := guard("milestone from the node", func() (err error) {
		m, err = client.MilestoneByIndex(cctx, iotago.MilestoneIndex(index))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("milestone %d from the node: %w", index, err)
	}
	return m, nil
}

// referencedBy returns the milestone that referenced the block, or ErrNotConfirmed.
func referencedBy(ctx context.Context, client *nodeclient.Client, id iotago.BlockID) (uint32, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	meta, err := client.BlockMetadataByBlockID(cctx, id)
	if err != nil {
		return 0, fmt.Errorf("block %s metadata: %w", id.ToHex(), unavailable(err))
	}
	if meta.ReferencedByMilestoneIndex == 0 {
		return 0, fmt.Errorf("block %s: %w", id.ToHex(), ErrNotConfirmed)
	}
	return meta.ReferencedByMilestoneIndex, nil
}

// unavailable marks an error reaching or asking a node as ErrUnavailable: a node that cannot
// answer (down, 503 "not synced", 404 pruned, a deserialization failure of what it sent) proves
// nothing about the proof.
func unavailable(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Invalid reports whether err proves a proof wrong (a signature, path, hash or block that does
// not hold), as opposed to a verification that could not decide (ErrUnavailable,
// ErrNotConfirmed, or any other failure such as a cancelled context).
func Invalid(err error) bool {
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotConfirmed) {
		return false
	}
	for _, e := range []error{ErrFormat, ErrSignature, ErrPath, ErrBlock, ErrPoW, ErrChain, ErrMilestone, ErrInclusion} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// VerifyOffline checks a /2 proof with nothing but the network's coordinator keys: the offline
// checks of Check, the anchor block carried in the proof (ID, tag, data, and PoW score when
// keys.MinPoWScore is set), the milestone's signatures under the keys valid for its index, and
// the inclusion path from the block to the milestone's InclusionMerkleRoot. Errors wrap ErrFormat,
// ErrSignature, ErrPath, ErrBlock, ErrPoW, ErrMilestone or ErrInclusion.
func VerifyOffline(p *Proof, keys *CoordinatorKeys) (*Result, error) {
	c, err := p.Check()
	if err != nil {
		return nil, err
	}
	if p.PoI == nil {
		return nil, fmt.Errorf("a %s proof needs a node; offline verification needs %s: %w", p.Format, ProofFormat, ErrUnavailable)
	}
	if keys == nil {
		return nil, fmt.Errorf("no coordinator keys: %w", ErrUnavailable)
	}
	if err := c.VerifyBlock(p.PoI.Block, keys.MinPoWScore); err != nil {
		return nil, err
	}
	if err := p.PoI.VerifyInclusion(c.BlockID, keys); err != nil {
		return nil, err
	}
	if p.Milestone != p.PoI.Milestone.Index {
		return nil, fmt.Errorf("proof says milestone %d, its inclusion proof is under %d: %w", p.Milestone, p.PoI.Milestone.Index, ErrFormat)
	}
	score, _ := p.PoI.Block.POW()
	return &Result{
		Seq: c.Entry.Seq, Device: p.Device, First: c.Anchor.First, Last: c.Anchor.Last, BlockID: c.BlockID,
		Milestone: p.PoI.Milestone.Index, MilestoneTime: time.Unix(int64(p.PoI.Milestone.Timestamp), 0).UTC(),
		Score: score, MinScore: keys.MinPoWScore,
	}, nil
}

// Source is what ProofFor reads: the device's store (ledger/sqlite.Store implements it).
type Source interface {
	// AnchorFor returns the anchor covering seq.
	AnchorFor(ctx context.Context, seq uint64) (ledger.AnchorRecord, error)
	// Entries returns up to max entries with Seq >= from in ascending order.
	Entries(ctx context.Context, from uint64, max int) ([]ledger.Entry, error)
}

// ErrNotAnchored means the entry's anchor has no block yet.
var ErrNotAnchored = errors.New("entry not anchored yet")

// ProofFor builds the proof of entry seq from the device's store: the anchor covering it must
// have a block (it need not be confirmed yet; Verify will say so). With a PoI for the anchor's
// block (kept by the publisher, or fetched with FetchPoI) the proof is a /2 proof.
func ProofFor(ctx context.Context, src Source, seq uint64, poi *PoI) (*Proof, error) {
	rec, err := src.AnchorFor(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("anchor for seq %d: %w", seq, err)
	}
	if rec.BlockID == ([32]byte{}) {
		return nil, fmt.Errorf("seq %d in anchor %d..%d (%s): %w", seq, rec.First, rec.Last, rec.State, ErrNotAnchored)
	}
	n := rec.Last - rec.First + 1
	entries, err := src.Entries(ctx, rec.First, int(n))
	if err != nil {
		return nil, fmt.Errorf("entries %d..%d: %w", rec.First, rec.Last, err)
	}
	if uint64(len(entries)) != n {
		return nil, fmt.Errorf("entries %d..%d: store returned %d", rec.First, rec.Last, len(entries))
	}
	leaves := make([][32]byte, n)
	for i := range entries {
		if entries[i].Seq != rec.First+uint64(i) {
			return nil, fmt.Errorf("entries %d..%d: seq %d at position %d", rec.First, rec.Last, entries[i].Seq, i)
		}
		leaves[i] = entries[i].Hash()
	}
	return NewProof(entries[seq-rec.First], leaves, rec.Payload, rec.BlockID, rec.Milestone, poi)
}
