package node

import (
	"bytes"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/merklehasher"
)

// poiResponse is the answer of inx-poi's GET /api/poi/v1/create/{blockId} and the body of its
// POST /api/poi/v1/validate: the milestone that referenced the block, the block, and the
// audit path from the block ID to the milestone's InclusionMerkleRoot (iota.go merklehasher
// JSON). For a milestone that referenced a single block the path is {"value":"0x…"}, which
// merklehasher cannot produce (its ComputeProofForIndex needs two leaves).
type poiResponse struct {
	Milestone *iotago.Milestone `json:"milestone"`
	Block     *iotago.Block     `json:"block"`
	Proof     json.RawMessage   `json:"proof"`
}

// referencedBlocks returns the blocks milestone index referenced, in white-flag order. A
// database of an earlier version marked each milestone's own block as referenced by itself,
// outside its inclusion root: such a block is left out.
func (d *database) referencedBlocks(index uint32) (iotago.BlockIDs, error) {
	rows, err := d.db.Query(`SELECT id FROM blocks WHERE ref_ms = ? AND ms_index != ? ORDER BY wf_index`, index, index)
	if err != nil {
		return nil, fmt.Errorf("blocks of milestone %d: %w", index, err)
	}
	defer rows.Close()
	var ids iotago.BlockIDs
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("blocks of milestone %d: %w", index, err)
		}
		var id iotago.BlockID
		copy(id[:], b)
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// InclusionProof builds the inx-poi proof of a referenced block: its milestone, the block, and
// the audit path. ok is false when the node does not know the block, has pruned it, or no
// milestone references it yet.
func (n *Node) InclusionProof(id iotago.BlockID) (ms *iotago.Milestone, blk *iotago.Block, path json.RawMessage, ok bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, nil, nil, false, ErrClosed
	}
	m, known := n.blocks[id]
	if !known || m.refMs == 0 {
		return nil, nil, nil, false, nil
	}
	ids, err := n.db.referencedBlocks(m.refMs)
	if err != nil {
		return nil, nil, nil, false, err
	}
	if int(m.wfIndex) >= len(ids) || ids[m.wfIndex] != id {
		return nil, nil, nil, false, fmt.Errorf("block %s: white-flag index %d does not match milestone %d's blocks", id.ToHex(), m.wfIndex, m.refMs)
	}
	data, _, err := n.db.blockData(id)
	if err != nil {
		return nil, nil, nil, false, err
	}
	if blk, err = decodeStoredBlock(data); err != nil {
		return nil, nil, nil, false, err
	}
	msData, found, err := n.db.blockData(n.milestones[m.refMs-1].blockID)
	if err != nil || !found {
		return nil, nil, nil, false, fmt.Errorf("milestone %d block: found %v: %v", m.refMs, found, err)
	}
	msBlk, err := decodeStoredBlock(msData)
	if err != nil {
		return nil, nil, nil, false, err
	}
	ms, isMs := msBlk.Payload.(*iotago.Milestone)
	if !isMs {
		return nil, nil, nil, false, fmt.Errorf("milestone %d block carries no milestone", m.refMs)
	}
	if len(ids) == 1 {
		path, err = json.Marshal(map[string]string{"value": id.ToHex()})
	} else {
		var p *merklehasher.Proof
		p, err = merklehasher.NewHasher(crypto.BLAKE2b_256).ComputeProofForIndex(ids, int(m.wfIndex))
		if err == nil {
			path, err = json.Marshal(p)
		}
	}
	if err != nil {
		return nil, nil, nil, false, fmt.Errorf("inclusion path of %s: %w", id.ToHex(), err)
	}
	return ms, blk, path, true, nil
}

func (n *Node) handlePoICreate(w http.ResponseWriter, r *http.Request) {
	id, err := parseBlockID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ms, blk, path, ok, err := n.InclusionProof(id)
	switch {
	case err != nil:
		writeError(w, statusOf(err), err.Error())
	case !ok:
		writeError(w, http.StatusNotFound, "block not found or not referenced by a milestone: "+id.ToHex())
	default:
		writeJSON(w, http.StatusOK, poiResponse{Milestone: ms, Block: blk, Proof: path})
	}
}

// handlePoIValidate checks a proof as inx-poi does, against this node's coordinator keys:
// the milestone's signatures, the block in the path, the path's root. {"valid":bool}.
func (n *Node) handlePoIValidate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	var req poiResponse
	if err := json.Unmarshal(body, &req); err != nil || req.Milestone == nil || req.Block == nil || len(req.Proof) == 0 {
		writeError(w, http.StatusBadRequest, "invalid proof")
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"valid": n.validPoI(&req)})
}

func (n *Node) validPoI(req *poiResponse) bool {
	id, err := req.Block.ID()
	if err != nil {
		return false
	}
	n.mu.Lock()
	keys := iotago.MilestonePublicKeySet{}
	for _, k := range n.coordKeys {
		if k.rng().validFor(req.Milestone.Index) {
			pubs, _ := signers([]coordKey{k}, req.Milestone.Index)
			keys[pubs[0]] = struct{}{}
		}
	}
	threshold := n.threshold
	n.mu.Unlock()
	if req.Milestone.VerifySignatures(threshold, keys) != nil {
		return false
	}
	h := merklehasher.NewHasher(crypto.BLAKE2b_256)
	var leaf struct {
		Value string `json:"value"`
	}
	if json.Unmarshal(req.Proof, &leaf) == nil && leaf.Value != "" {
		return leaf.Value == id.ToHex() && bytes.Equal(h.HashBlockIDs(iotago.BlockIDs{id}), req.Milestone.InclusionMerkleRoot[:])
	}
	var p merklehasher.Proof
	if json.Unmarshal(req.Proof, &p) != nil {
		return false
	}
	contains, _ := p.ContainsValue(id)
	return contains && bytes.Equal(p.Hash(h), req.Milestone.InclusionMerkleRoot[:])
}

// Prune forgets every block referenced by a milestone below index, milestone blocks included,
// as a Hornet node prunes its database: afterwards the node answers 404 for them, and its
// pruning index (in /info) is index−1. It returns how many blocks were pruned.
func (n *Node) Prune(index uint32) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return 0, ErrClosed
	}
	if index > n.confirmedIndex() {
		return 0, fmt.Errorf("prune below %d: only %d milestones", index, n.confirmedIndex())
	}
	res, err := n.db.db.Exec(`DELETE FROM blocks WHERE ref_ms != 0 AND ref_ms < ?`, index)
	if err != nil {
		return 0, fmt.Errorf("prune below milestone %d: %w", index, err)
	}
	k, _ := res.RowsAffected()
	for id, m := range n.blocks {
		if m.refMs != 0 && m.refMs < index {
			delete(n.blocks, id)
			delete(n.tips, id)
		}
	}
	n.pruned = max(n.pruned, index)
	return int(k), nil
}
