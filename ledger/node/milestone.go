package node

import (
	"context"
	"crypto"
	"fmt"

	"github.com/iotaledger/hive.go/serializer/v2"
	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/merklehasher"
	_ "golang.org/x/crypto/blake2b" // registers BLAKE2b-256 for merklehasher
)

// maxMilestoneParents bounds the tips one milestone references (a block has at most 8 parents).
const maxMilestoneParents = iotago.BlockMaxParents

// IssueMilestone issues the next milestone now, as Hornet's inx-coordinator does: it references
// the previous milestone's block and up to 7 tips, marks every block in their past cone that no
// milestone referenced yet (in white-flag order: post-order depth-first over the parents in
// order, TIP-2), commits the Merkle root of those block IDs as the InclusionMerkleRoot (TIP-29),
// signs it with every coordinator key valid for its index and stores it as a block of its own.
// That block is referenced by the next milestone, not by its own. It returns the new index.
func (n *Node) IssueMilestone(_ context.Context) (uint32, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return 0, ErrClosed
	}
	index := n.confirmedIndex() + 1
	parents := n.milestoneParents()

	// White-flag traversal of the past cone.
	var order []*blockMeta
	visited := map[iotago.BlockID]bool{}
	var visit func(id iotago.BlockID)
	visit = func(id iotago.BlockID) {
		if visited[id] {
			return
		}
		visited[id] = true
		m, ok := n.blocks[id]
		if !ok || m.refMs != 0 {
			return // the entry point, or referenced by an earlier milestone
		}
		for _, p := range m.parents {
			visit(p)
		}
		order = append(order, m)
	}
	// Iterative would avoid deep recursion; cones between milestones are small here, and a
	// block is referenced at most once, so the depth is bounded by the blocks of one interval.
	for _, p := range parents {
		visit(p)
	}
	ids := make(iotago.BlockIDs, len(order))
	for i, m := range order {
		ids[i] = m.id
	}
	hasher := merklehasher.NewHasher(crypto.BLAKE2b_256)
	var inclusion, applied iotago.MilestoneMerkleProof
	copy(inclusion[:], hasher.HashBlockIDs(ids))
	copy(applied[:], hasher.EmptyRoot()) // no transactions: nothing mutates a ledger here

	var prev iotago.MilestoneID
	if index > 1 {
		prev = n.milestones[index-2].id
	}
	ts := uint32(n.now().Unix())
	ms := iotago.NewMilestone(index, ts, n.params.Version, prev, parents, inclusion, applied)
	pubs, privs := signers(n.coordKeys, index)
	if len(pubs) < n.threshold {
		return 0, fmt.Errorf("sign milestone %d: %d keys valid, threshold %d", index, len(pubs), n.threshold)
	}
	if err := ms.Sign(pubs, iotago.InMemoryEd25519MilestoneSigner(privs)); err != nil {
		return 0, fmt.Errorf("sign milestone %d: %w", index, err)
	}
	msID, err := ms.ID()
	if err != nil {
		return 0, fmt.Errorf("milestone %d id: %w", index, err)
	}
	// Milestone blocks carry nonce 0: their signatures, not PoW, admit them (TIP-29).
	blk := &iotago.Block{ProtocolVersion: n.params.Version, Parents: parents, Payload: ms}
	data, err := blk.Serialize(serializer.DeSeriModePerformValidation, &n.params)
	if err != nil {
		return 0, fmt.Errorf("serialize milestone block %d: %w", index, err)
	}
	blkID, err := blk.ID()
	if err != nil {
		return 0, fmt.Errorf("milestone block %d id: %w", index, err)
	}
	// Its parents are all referenced by now: its cone roots are this milestone.
	msBlock := &blockMeta{id: blkID, parents: parents, msIndex: index, ycri: index, ocri: index}
	for i, m := range order {
		m.refMs, m.wfIndex = index, uint32(i)
	}
	info := milestoneInfo{index: index, timestamp: ts, id: msID, blockID: blkID}
	if err := n.db.commitMilestone(info, msBlock, data, order); err != nil {
		for _, m := range order {
			m.refMs, m.wfIndex = 0, 0
		}
		return 0, err
	}
	n.blocks[blkID] = msBlock
	for _, p := range parents {
		if pm, ok := n.blocks[p]; ok {
			pm.children++
			delete(n.tips, p)
		}
	}
	n.tips[blkID] = struct{}{}
	n.milestones = append(n.milestones, info)
	n.log.Debug("milestone issued", "index", index, "referenced", len(order))
	return index, nil
}

// milestoneParents chooses the parents of a new milestone: the previous milestone's block
// (inx-coordinator always approves it, so milestones form a chain) and up to 7 more
// non-orphaned tips, unreferenced ones first; the all-zero entry point for the very first
// milestone. Callers hold n.mu.
func (n *Node) milestoneParents() iotago.BlockIDs {
	var fresh, old iotago.BlockIDs
	var prev iotago.BlockIDs
	if k := len(n.milestones); k > 0 {
		prev = iotago.BlockIDs{n.milestones[k-1].blockID}
	}
	for id := range n.tips {
		if len(prev) > 0 && id == prev[0] {
			continue
		}
		if n.blocks[id].refMs == 0 {
			fresh = append(fresh, id)
		} else {
			old = append(old, id)
		}
	}
	fresh = fresh.RemoveDupsAndSort()
	old = old.RemoveDupsAndSort()
	parents := append(append(prev, fresh...), old...)
	if len(parents) > maxMilestoneParents {
		parents = parents[:maxMilestoneParents]
	}
	if len(parents) == 0 {
		parents = iotago.BlockIDs{iotago.EmptyBlockID()}
	}
	return parents.RemoveDupsAndSort()
}
