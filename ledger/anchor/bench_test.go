package anchor_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"testing"

	iotago "github.com/iotaledger/iota.go/v3"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

// referencedAround returns n block IDs with id at position at (white-flag order of a milestone
// that referenced n blocks).
func referencedAround(id iotago.BlockID, n, at int) iotago.BlockIDs {
	ids := make(iotago.BlockIDs, n)
	for i := range ids {
		binary.BigEndian.PutUint64(ids[i][:8], uint64(i)+1)
	}
	ids[at] = id
	return ids
}

// benchProof builds a /2 proof of one entry in an anchor of batch entries, whose block is one
// of blocks referenced by a milestone signed by signers coordinator keys.
func benchProof(b *testing.B, batch, blocks, signers int) (*anchor.Proof, *anchor.CoordinatorKeys) {
	b.Helper()
	key := ledgertest.NamedKey(nil, "anchor")
	es := chain(key, batch)
	_, payload := signedAnchor(b, key, es, [32]byte{1})
	blk := blockFor(b, key, payload)
	id := blk.MustID()
	privs := make([]ed25519.PrivateKey, signers)
	keys := &anchor.CoordinatorKeys{MilestonePublicKeyCount: signers}
	for i := range privs {
		privs[i] = ledgertest.NamedKey(nil, fmt.Sprintf("anchor bench coordinator %d", i))
		keys.PublicKeyRanges = append(keys.PublicKeyRanges, anchor.KeyRange{Key: iotago.EncodeHex(privs[i].Public().(ed25519.PublicKey))})
	}
	ref := referencedAround(id, blocks, blocks/2)
	ms := milestoneOverSorted(b, 100, ref, privs)
	poi, err := anchor.NewPoI(ms, blk, ref, blocks/2)
	if err != nil {
		b.Fatal(err)
	}
	p, err := anchor.NewProof(es[batch/2], leavesOf(es), payload, id, 100, poi)
	if err != nil {
		b.Fatal(err)
	}
	return p, keys
}

// milestoneOverSorted is milestoneOver for any number of signers (signatures in key order).
func milestoneOverSorted(b testing.TB, index uint32, ref iotago.BlockIDs, privs []ed25519.PrivateKey) *iotago.Milestone {
	sorted := append([]ed25519.PrivateKey{}, privs...)
	for i := range sorted {
		for j := i + 1; j < len(sorted); j++ {
			if string(sorted[j].Public().(ed25519.PublicKey)) < string(sorted[i].Public().(ed25519.PublicKey)) {
				sorted[i], sorted[j] = sorted[j], sorted[i]
			}
		}
	}
	return milestoneOver(b, index, ref, sorted)
}

// BenchmarkVerifyOffline measures offline verification of one /2 proof (entry signature, Merkle
// path, anchor signature, block ID, milestone signatures, inclusion path) and reports the
// proof's size as JSON. Cases: anchor batch size, blocks under the milestone, coordinator keys.
func BenchmarkVerifyOffline(b *testing.B) {
	for _, c := range []struct{ batch, blocks, signers int }{
		{10, 2, 1}, {1000, 100, 1}, {10000, 1000, 3}, {10000, 20000, 3},
	} {
		b.Run(fmt.Sprintf("batch=%d/blocks=%d/keys=%d", c.batch, c.blocks, c.signers), func(b *testing.B) {
			p, keys := benchProof(b, c.batch, c.blocks, c.signers)
			raw, _ := json.Marshal(p)
			for b.Loop() {
				var q anchor.Proof
				if err := json.Unmarshal(raw, &q); err != nil {
					b.Fatal(err)
				}
				if _, err := anchor.VerifyOffline(&q, keys); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/proof")
			b.ReportMetric(float64(len(raw)), "proof_bytes")
		})
	}
}

// BenchmarkChainOffline walks the anchors of 10^5 entries from stored anchor proofs only
// (verify-proof --offline --chain): every anchor's signature, block, milestone signatures and
// inclusion path, and the links between them.
func BenchmarkChainOffline(b *testing.B) {
	const entries = 100_000
	for _, batch := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("entries=%d/batch=%d", entries, batch), func(b *testing.B) {
			key := ledgertest.NamedKey(nil, "anchor")
			pub := key.Public().(ed25519.PublicKey)
			tag, _ := anchor.Tag(ledger.DeviceID(pub))
			priv := ledgertest.NamedKey(nil, "anchor bench coordinator 0")
			keys := &anchor.CoordinatorKeys{MilestonePublicKeyCount: 1,
				PublicKeyRanges: []anchor.KeyRange{{Key: iotago.EncodeHex(priv.Public().(ed25519.PublicKey))}}}
			stored := anchor.AnchorProofs{}
			var prev iotago.BlockID
			for first := 1; first <= entries; first += batch {
				leaves := make([][32]byte, batch)
				for i := range leaves {
					leaves[i] = sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(first+i)))
				}
				a := anchor.Anchor{First: uint64(first), Last: uint64(first + batch - 1), Root: anchor.Root(leaves), LastHash: leaves[batch-1], Prev: prev}
				a.Sign(key)
				payload, _ := a.MarshalBinary()
				blk := &iotago.Block{ProtocolVersion: 2, Parents: iotago.BlockIDs{prev}, Payload: &iotago.TaggedData{Tag: tag, Data: payload}}
				id := blk.MustID()
				ref := referencedAround(id, 50, 25)
				poi, err := anchor.NewPoI(milestoneOver(b, uint32(first/batch+1), ref, []ed25519.PrivateKey{priv}), blk, ref, 25)
				if err != nil {
					b.Fatal(err)
				}
				stored[id] = anchor.NewAnchorProof(pub, payload, id, poi)
				prev = id
			}
			for b.Loop() {
				res, err := anchor.VerifyChainWith(context.Background(), nil, pub, prev, stored, keys)
				if err != nil || res.Through != entries {
					b.Fatalf("%+v %v", res, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/chain")
			b.ReportMetric(float64(len(stored)), "anchors")
		})
	}
}
