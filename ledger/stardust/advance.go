package stardust

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/iotaledger/hive.go/serializer/v2"
	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/nodeclient"
	"github.com/iotaledger/iota.go/v3/pow"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
)

// maxParents caps the parents of an anchor block. PoW work grows with block size in steps of
// 3× (3^ceil(log3(size·score))): with the 30-byte tag and 177-byte payload, three parents keep
// a block at 326 bytes, inside the ≤354-byte step that costs 3^12 hashes at score 1500; a fourth
// would cross into 3^13, three times the work.
const maxParents = 3

// errRejected marks a block the node refused (400): its parents are gone or below max depth.
var errRejected = errors.New("block rejected by node")

// advance moves one in-flight anchor forward: build its block, submit it, follow its metadata,
// reattach or promote it, and record its confirmation.
func (p *Publisher) advance(ctx context.Context, rec ledger.AnchorRecord) (time.Duration, error) {
	params, err := p.params(ctx)
	if err != nil {
		return 0, err
	}
	if rec.State == ledger.AnchorBuilt {
		if len(rec.Block) == 0 {
			if rec, err = p.attachNew(ctx, rec, params); err != nil {
				return 0, err
			}
		}
		// The block is stored: submit it. If a previous run crashed after submitting, the node
		// knows the block ID already and answers its metadata; re-submitting would be harmless
		// too (the node answers the same ID).
		if _, err := p.metadata(ctx, rec.BlockID); err == nil {
			return 0, p.markSubmitted(ctx, rec)
		} else if !errors.Is(err, nodeclient.ErrHTTPNotFound) {
			return 0, err
		}
		err := p.submit(ctx, rec.Block, rec.BlockID, params)
		if errors.Is(err, errRejected) {
			// Stale parents (a long outage, or a node that lost its state): same payload, new block.
			p.log.Warn("stored block rejected; rebuilding", "first", rec.First, "err", err)
			rec.Block, rec.BlockID = nil, [32]byte{}
			if perr := p.put(ctx, rec); perr != nil {
				return 0, perr
			}
			return 0, err
		}
		if err != nil {
			return 0, err
		}
		return 0, p.markSubmitted(ctx, rec)
	}

	// Submitted: follow the block until a milestone references it.
	meta, err := p.metadata(ctx, rec.BlockID)
	switch {
	case errors.Is(err, nodeclient.ErrHTTPNotFound):
		return 0, p.reattach(ctx, rec, "node does not know the block")
	case err != nil:
		return 0, err
	case meta.ReferencedByMilestoneIndex != 0:
		rec.State, rec.Milestone, rec.UpdatedAt = ledger.AnchorConfirmed, meta.ReferencedByMilestoneIndex, p.cfg.Now()
		if err := p.store.PutAnchor(ctx, rec); err != nil {
			return 0, fmt.Errorf("store confirmation of anchor %d..%d: %w", rec.First, rec.Last, err)
		}
		p.log.Info("anchor confirmed", "first", rec.First, "last", rec.Last,
			"block", iotago.EncodeHex(rec.BlockID[:]), "milestone", rec.Milestone)
		p.update(func(s *Status) { s.Confirmed++; s.Pending--; s.Last = statusOf(rec) })
		p.keepProof(ctx, rec)
		return 0, nil
	case meta.ShouldReattach != nil && *meta.ShouldReattach:
		return 0, p.reattach(ctx, rec, "node says shouldReattach")
	case meta.ShouldPromote != nil && *meta.ShouldPromote:
		if err := p.promote(ctx, rec, params); err != nil {
			return 0, err
		}
	}
	return p.cfg.PollInterval, nil
}

// params reads the protocol parameters (minPowScore in particular) from the node's /info.
func (p *Publisher) params(ctx context.Context) (*iotago.ProtocolParameters, error) {
	cctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	info, err := p.client.Info(cctx)
	if err != nil {
		return nil, fmt.Errorf("node info: %w", err)
	}
	return &info.Protocol, nil
}

func (p *Publisher) metadata(ctx context.Context, id [32]byte) (*nodeclient.BlockMetadataResponse, error) {
	cctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	m, err := p.client.BlockMetadataByBlockID(cctx, id)
	if err != nil {
		return nil, fmt.Errorf("block %s metadata: %w", iotago.EncodeHex(id[:]), err)
	}
	return m, nil
}

func (p *Publisher) put(ctx context.Context, rec ledger.AnchorRecord) error {
	rec.UpdatedAt = p.cfg.Now()
	if err := p.store.PutAnchor(ctx, rec); err != nil {
		return fmt.Errorf("store anchor %d..%d: %w", rec.First, rec.Last, err)
	}
	p.update(func(s *Status) { s.Last = statusOf(rec) })
	return nil
}

func (p *Publisher) markSubmitted(ctx context.Context, rec ledger.AnchorRecord) error {
	rec.State = ledger.AnchorSubmitted
	return p.put(ctx, rec)
}

// attachNew builds a block for the anchor's payload on fresh tips, does its PoW, and stores
// block and ID (still Built) before anything is sent, so that a crash after sending is
// recognised by the block ID.
func (p *Publisher) attachNew(ctx context.Context, rec ledger.AnchorRecord, params *iotago.ProtocolParameters) (ledger.AnchorRecord, error) {
	_, data, id, err := p.build(ctx, &iotago.TaggedData{Tag: p.tag, Data: rec.Payload}, nil, params)
	if err != nil {
		return rec, fmt.Errorf("build block for anchor %d..%d: %w", rec.First, rec.Last, err)
	}
	rec.Block, rec.BlockID = data, id
	return rec, p.put(ctx, rec)
}

// build assembles a block with payload on the node's tips (plus the given extra parents), does
// the PoW at the node's minimum score with all workers (none when the minimum is 0: iota.go's
// miner panics for a target of 0), and returns the block, its bytes and its ID.
func (p *Publisher) build(ctx context.Context, payload iotago.Payload, extra iotago.BlockIDs, params *iotago.ProtocolParameters) (*iotago.Block, []byte, iotago.BlockID, error) {
	cctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	res, err := p.client.Tips(cctx)
	cancel()
	if err != nil {
		return nil, nil, iotago.BlockID{}, fmt.Errorf("tips: %w", err)
	}
	tips, err := res.Tips()
	if err != nil {
		return nil, nil, iotago.BlockID{}, fmt.Errorf("tips: %w", err)
	}
	parents := append(append(iotago.BlockIDs{}, extra...), tips...).RemoveDupsAndSort()
	if len(parents) > maxParents {
		// Keep the extra parents (the block being promoted), fill up with tips.
		keep := append(iotago.BlockIDs{}, extra...)
		for _, t := range tips.RemoveDupsAndSort() {
			if len(keep) == maxParents {
				break
			}
			keep = append(keep, t)
		}
		parents = keep.RemoveDupsAndSort()
	}
	if len(parents) == 0 {
		return nil, nil, iotago.BlockID{}, errors.New("node returned no tips")
	}
	blk := &iotago.Block{ProtocolVersion: params.Version, Parents: parents, Payload: payload}
	if params.MinPoWScore > 0 {
		data, err := blk.Serialize(serializer.DeSeriModePerformValidation, params)
		if err != nil {
			return nil, nil, iotago.BlockID{}, fmt.Errorf("serialize block: %w", err)
		}
		start := time.Now()
		nonce, err := pow.New(p.cfg.Workers).Mine(ctx, data[:len(data)-serializer.UInt64ByteSize], float64(params.MinPoWScore))
		took := time.Since(start)
		p.update(func(s *Status) { s.PoW += took })
		if err != nil {
			return nil, nil, iotago.BlockID{}, fmt.Errorf("proof of work: %w", err)
		}
		blk.Nonce = nonce
	}
	data, err := blk.Serialize(serializer.DeSeriModePerformValidation, params)
	if err != nil {
		return nil, nil, iotago.BlockID{}, fmt.Errorf("serialize block: %w", err)
	}
	id, err := blk.ID()
	if err != nil {
		return nil, nil, iotago.BlockID{}, fmt.Errorf("block id: %w", err)
	}
	return blk, data, id, nil
}

// submit sends stored block bytes and checks the node names the same block ID.
// A 400 answer wraps errRejected.
func (p *Publisher) submit(ctx context.Context, data []byte, want [32]byte, params *iotago.ProtocolParameters) error {
	blk := &iotago.Block{}
	if _, err := blk.Deserialize(data, serializer.DeSeriModePerformValidation, params); err != nil {
		return fmt.Errorf("decode stored block: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	id, err := p.client.SubmitBlock(cctx, blk, params)
	if errors.Is(err, nodeclient.ErrHTTPBadRequest) {
		return fmt.Errorf("submit block: %w: %w", errRejected, err)
	}
	if err != nil {
		return fmt.Errorf("submit block: %w", err)
	}
	if id != want {
		return fmt.Errorf("submit block: node answered ID %s, block has %s", id.ToHex(), iotago.EncodeHex(want[:]))
	}
	p.update(func(s *Status) { s.Blocks++ })
	return nil
}

// reattach rebuilds the anchor's block (same signed payload, fresh tips and PoW) and stores it
// as Built, to be submitted by the next step. The payload, and so the anchor's identity (range
// and root), never changes.
func (p *Publisher) reattach(ctx context.Context, rec ledger.AnchorRecord, why string) error {
	p.log.Warn("reattaching anchor", "first", rec.First, "last", rec.Last, "why", why)
	rec.State, rec.Block, rec.BlockID = ledger.AnchorBuilt, nil, [32]byte{}
	if err := p.put(ctx, rec); err != nil {
		return err
	}
	p.update(func(s *Status) { s.Reattached++ })
	return nil
}

// promote issues an empty block approving the anchor's block and fresh tips, so that the next
// milestone's cone reaches it. At most one promotion per four poll intervals.
func (p *Publisher) promote(ctx context.Context, rec ledger.AnchorRecord, params *iotago.ProtocolParameters) error {
	p.mu.Lock()
	recent := p.cfg.Now().Sub(p.lastPromote) < 4*p.cfg.PollInterval
	p.mu.Unlock()
	if recent {
		return nil
	}
	// Counted from the attempt, so that a refused promotion (rebuilt at once by Run) is not
	// retried in a tight loop.
	p.mu.Lock()
	p.lastPromote = p.cfg.Now()
	p.mu.Unlock()
	_, data, id, err := p.build(ctx, nil, iotago.BlockIDs{rec.BlockID}, params)
	if err != nil {
		return fmt.Errorf("build promotion of anchor %d..%d: %w", rec.First, rec.Last, err)
	}
	if err := p.submit(ctx, data, id, params); err != nil {
		return fmt.Errorf("promote anchor %d..%d: %w", rec.First, rec.Last, err)
	}
	p.log.Info("anchor promoted", "first", rec.First, "promotion", id.ToHex())
	p.update(func(s *Status) { s.Promoted++ })
	return nil
}

// keepProof fetches the confirmed anchor's milestone inclusion proof from the node's PoI API,
// checks that it is the proof of this block and that its path leads to the milestone's
// inclusion root, and writes it into Config.ProofDir. A failure is logged and shown in
// Status.ProofError but does not hold up anchoring: "chargegate proof --node" can fetch the
// proof later while the node still has the block.
func (p *Publisher) keepProof(ctx context.Context, rec ledger.AnchorRecord) {
	if p.cfg.ProofDir == "" {
		return
	}
	err := p.fetchProof(ctx, rec)
	if err != nil {
		p.log.Warn("inclusion proof not kept; will retry", "first", rec.First, "last", rec.Last, "err", err)
		p.missingProofs = append(p.missingProofs, rec)
	}
	p.update(func(s *Status) {
		if err != nil {
			s.ProofError = err.Error()
			return
		}
		s.ProofError = ""
		s.Proofs++
	})
}

func (p *Publisher) fetchProof(ctx context.Context, rec ledger.AnchorRecord) error {
	poi, err := anchor.FetchPoI(ctx, p.cfg.HTTPClient, p.cfg.NodeURL, rec.BlockID)
	if err != nil {
		return err
	}
	// The node's keys are not known here; the verifier checks the signatures. What can be
	// checked is that the proof is about this block and consistent with its milestone.
	pub := p.key.Public().(ed25519.PublicKey)
	ap := anchor.NewAnchorProof(pub, rec.Payload, rec.BlockID, poi)
	if err := poi.CheckPath(rec.BlockID); err != nil {
		return err
	}
	return anchor.WriteAnchorProof(p.cfg.ProofDir, rec.First, rec.Last, ap)
}

// findMissingProofs lists the confirmed anchors without a kept inclusion proof (anchored before
// ProofDir was set, or whose fetch failed before a restart), to be fetched by retryProof.
func (p *Publisher) findMissingProofs(ctx context.Context) {
	if p.cfg.ProofDir == "" {
		return
	}
	as, err := p.store.Anchors(ctx, ledger.AnchorConfirmed)
	if err != nil {
		p.log.Warn("list confirmed anchors for their proofs", "err", err)
		return
	}
	for _, a := range as {
		if _, err := os.Stat(filepath.Join(p.cfg.ProofDir, anchor.AnchorProofFileName(a.First, a.Last))); errors.Is(err, fs.ErrNotExist) {
			p.missingProofs = append(p.missingProofs, a)
		}
	}
	if n := len(p.missingProofs); n > 0 {
		p.log.Info("confirmed anchors without a kept inclusion proof", "count", n)
	}
}

// retryProof tries to keep the oldest missing inclusion proof; one that the node can no longer
// give (pruned) is given up with a warning: its entries' proofs need a node that has the block.
func (p *Publisher) retryProof(ctx context.Context) {
	if len(p.missingProofs) == 0 {
		return
	}
	rec := p.missingProofs[0]
	p.missingProofs = p.missingProofs[1:]
	err := p.fetchProof(ctx, rec)
	switch {
	case err == nil:
		p.update(func(s *Status) { s.Proofs++; s.ProofError = "" })
	case errors.Is(err, anchor.ErrUnavailable) && !errors.Is(err, context.Canceled):
		if p.nodeHasBlock(ctx, rec.BlockID) {
			p.missingProofs = append(p.missingProofs, rec) // the node is busy: later
		} else {
			p.log.Warn("inclusion proof lost: the node no longer has the block", "first", rec.First, "last", rec.Last)
			p.update(func(s *Status) { s.ProofError = err.Error() })
		}
	default:
		p.missingProofs = append(p.missingProofs, rec)
		p.update(func(s *Status) { s.ProofError = err.Error() })
	}
}

// nodeHasBlock reports whether the node still answers the block's metadata.
func (p *Publisher) nodeHasBlock(ctx context.Context, id [32]byte) bool {
	_, err := p.metadata(ctx, id)
	return !errors.Is(err, nodeclient.ErrHTTPNotFound)
}
