// Package anchor defines the anchor payload that commits a batch of entries to a ledger, its Merkle proofs and their verification.
//
// # Anchor payload (version 1)
//
// An anchor summarises the consecutive entries First..Last of one device. It travels as the
// Data of a Stardust TaggedData payload (ledger/stardust builds the block). Fixed layout, 177 bytes,
// integers big-endian:
//
//	offset size field
//	0      1    version = 1
//	1      8    First: sequence number of the first entry covered (≥ 1)
//	9      8    Last: sequence number of the last entry covered (≥ First)
//	17     32   Root: Merkle root over the entries' hashes, in sequence order
//	49     32   LastHash: hash of entry Last (ledger.Entry.Hash, SHA-256)
//	81     32   Prev: block ID of the device's previous anchor; zero for its first anchor
//	113    64   Ed25519 signature by the device's entry key over
//	            "chargegate anchor v1\n" ‖ bytes 0..112
//
// The context string keeps anchor signatures apart from entry signatures (which sign a bare
// 32-byte hash) made with the same key. The device public key is not in the payload: it is in
// every entry, and the tag names the device.
//
// Tag: "chargegate/a1/" followed by ledger.DeviceID of the entry key (16 hex digits), 30 bytes,
// so every anchor of a device can be found by tag (iota.go limit: 64 bytes).
//
// An anchor is identified by its range and root. The payload is deterministic (Ed25519 is), and
// the store never holds two anchors for one range; a reattached block carries the very same
// payload bytes, so a second block with the same payload is the same anchor, not a second one.
//
// # Merkle tree
//
// iota.go's merklehasher with BLAKE2b-256, the hasher Hornet uses for milestone inclusion roots
// (TIP-4, RFC 6962 style): leaf = H(0x00 ‖ leaf), node = H(0x01 ‖ left ‖ right), the split at the
// largest power of two below n. The leaves are the entries' 32-byte hashes (ledger.Entry.Hash),
// never the entries themselves: iota.go's proofs are typed on 32-byte values.
//
// # Proof file (format "chargegate-proof/1")
//
// A JSON object, binary values as 0x-prefixed lowercase hex as in the IOTA node API:
//
//	format     "chargegate-proof/1"
//	device     ledger.DeviceID of the entry's key
//	seq        the entry's sequence number
//	entry      the entry as stored and transmitted (ledger.Entry.MarshalBinary: encoding + signature)
//	entryHash  SHA-256 of the entry's encoding: the Merkle leaf
//	signature  the entry's Ed25519 signature
//	anchor     the anchor payload (177 bytes), exactly the block's TaggedData data
//	index      the leaf index, seq − First
//	size       the number of leaves, Last − First + 1
//	path       the Merkle path in iota.go's JSON: {"l":…,"r":…} inner nodes, {"h":"0x…"} sibling
//	           hashes, {"value":"0x…"} the leaf; a one-leaf tree is just {"value":"0x…"}
//	blockId    the ID of the block carrying the anchor
//	tag        the block's tag
//	milestone  the milestone index that referenced the block, when known (informational)
//
// The fields device, seq, entryHash, signature and tag repeat what entry implies, for human
// readers; a verifier rejects a proof where they disagree. Checking a proof needs no database:
// decode the entry strictly and check its signature; decode the anchor and check its signature
// under the entry's key; check First ≤ seq ≤ Last, index and size, and that the path's single
// leaf sits at index and equals entryHash and leads to Root; then fetch the block by ID from any
// node (core REST API v2), recompute its ID, check its tag and data, its PoW score against the
// node's minPowScore, and that a milestone references it (Verify).
//
// # The chain of anchors
//
// Each anchor names its predecessor's block (Prev), so the ledger alone shows continuity:
// VerifyChain walks a device's anchors back from any anchor block to its first (First 1, Prev
// zero), checking every signature, tag, PoW score, confirmation and that each First follows the
// previous Last (chargegate verify-proof --chain). Where the device's chain has a declared hole
// (ledger.Hole: entries lost to damage, numbers skipped after an unclean shutdown, the jump of a
// replaced store), the publisher anchors across it: anchors cover consecutive entries only, so
// the next anchor starts after the hole. VerifyChain accepts such a gap between anchors exactly
// when the holes passed to it (ledger.ChainStats.Holes of the verified entries) cover it, and
// lists it in ChainResult.Skipped.
//
// Golden vectors of the payload and the proof format are in testdata/golden_v1.json
// (regenerate with go test -update).
package anchor
