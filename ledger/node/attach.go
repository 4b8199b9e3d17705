package node

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/iotaledger/hive.go/serializer/v2"
	iotago "github.com/iotaledger/iota.go/v3"
)

// apiError is an error with the HTTP status the API answers for it.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, a...)}
}

// statusOf returns the HTTP status for err: the apiError's, or 500.
func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status
	}
	return http.StatusInternalServerError
}

// decodeStoredBlock decodes bytes the node itself stored (validated on the way in).
func decodeStoredBlock(data []byte) (*iotago.Block, error) {
	b := &iotago.Block{}
	if _, err := b.Deserialize(data, serializer.DeSeriModeNoValidation, nil); err != nil {
		return nil, err
	}
	return b, nil
}

// Attach validates a submitted block as Hornet 2.0.1 does (pkg/tangle/attacher.go) and stores it.
// blk is the parsed block; raw is its serialized form as received, nil for JSON submissions.
// It returns the block ID; a block the node already has is accepted again with the same ID.
// Validation order: protocol version; node-side tip selection for a block without parents and
// nonce 0; PoW score; full validation (deserialization with validation); payload type; every
// parent known and solid (or the all-zero entry point) and not below max depth.
func (n *Node) Attach(blk *iotago.Block, raw []byte) (iotago.BlockID, error) {
	if blk.ProtocolVersion != n.params.Version {
		return iotago.BlockID{}, badRequest("invalid block, error: protocolVersion invalid: %d", blk.ProtocolVersion)
	}
	if len(blk.Parents) == 0 {
		if blk.Nonce != 0 {
			return iotago.BlockID{}, badRequest("invalid block, error: no parents given but nonce set")
		}
		if n.params.MinPoWScore != 0 {
			// Hornet would do the PoW itself with restAPI.pow.enabled, off by default.
			return iotago.BlockID{}, &apiError{status: http.StatusServiceUnavailable, msg: "proof of work is not enabled on this node"}
		}
		n.mu.Lock()
		blk.Parents = n.selectTips(maxTips)
		n.mu.Unlock()
		raw = nil
	}
	data, err := blk.Serialize(serializer.DeSeriModePerformValidation, &n.params)
	if err != nil {
		return iotago.BlockID{}, badRequest("invalid block, error: %v", err)
	}
	if raw != nil {
		// The bytes as received must deserialize with validation and be exactly canonical.
		check := &iotago.Block{}
		if _, err := check.Deserialize(raw, serializer.DeSeriModePerformValidation, &n.params); err != nil {
			return iotago.BlockID{}, badRequest("invalid block, error: %v", err)
		}
		if string(raw) != string(data) {
			return iotago.BlockID{}, badRequest("invalid block, error: non-canonical serialization")
		}
	}
	switch blk.Payload.(type) {
	case nil, *iotago.TaggedData:
	case *iotago.Milestone:
		return iotago.BlockID{}, badRequest("invalid block, error: milestones are issued by this node's coordinator only")
	default:
		return iotago.BlockID{}, badRequest("invalid block, error: payload type not supported by this node (no UTXO ledger)")
	}
	if min := n.params.MinPoWScore; min > 0 {
		score, err := blk.POW()
		if err != nil {
			return iotago.BlockID{}, badRequest("invalid block, error: %v", err)
		}
		if score < float64(min) {
			if blk.Nonce == 0 {
				return iotago.BlockID{}, &apiError{status: http.StatusServiceUnavailable, msg: "proof of work is not enabled on this node"}
			}
			return iotago.BlockID{}, badRequest("invalid block, error: insufficient PoW score %.1f < %d", score, min)
		}
	}
	id, err := blk.ID()
	if err != nil {
		return iotago.BlockID{}, badRequest("invalid block, error: %v", err)
	}
	orphan := n.chance(n.currentFaults().OrphanRate)

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return iotago.BlockID{}, &apiError{status: http.StatusServiceUnavailable, msg: "node is shutting down"}
	}
	if _, ok := n.blocks[id]; ok {
		return id, nil
	}
	cmi := n.confirmedIndex()
	for _, p := range blk.Parents {
		if p == iotago.EmptyBlockID() {
			continue
		}
		pm, ok := n.blocks[p]
		if !ok {
			return iotago.BlockID{}, badRequest("invalid block, error: block is not solid: parent %s unknown", p.ToHex())
		}
		ocri := pm.ocri
		if pm.refMs != 0 {
			ocri = pm.refMs
		}
		if cmi-ocri > uint32(n.params.BelowMaxDepth) {
			return iotago.BlockID{}, badRequest("invalid block, error: parent %s is below max depth", p.ToHex())
		}
	}
	m := &blockMeta{id: id, parents: blk.Parents, orphan: orphan}
	m.ycri, m.ocri = n.coneRootIndexes(blk.Parents)
	if err := n.db.insertBlock(m, data); err != nil {
		return iotago.BlockID{}, err
	}
	n.blocks[id] = m
	for _, p := range blk.Parents {
		if pm, ok := n.blocks[p]; ok {
			pm.children++
			delete(n.tips, p)
		}
	}
	if !orphan {
		n.tips[id] = struct{}{}
	}
	n.log.Debug("block attached", "id", id.ToHex(), "orphan", orphan)
	return id, nil
}
