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
// # Proof file (format "chargegate-proof/2", and "chargegate-proof/1")
//
// A JSON object, binary values as 0x-prefixed lowercase hex as in the IOTA node API:
//
//	format     "chargegate-proof/2" (or "chargegate-proof/1": the same without poi)
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
//	milestone  the milestone index that referenced the block (in /2: poi.milestone.index)
//	poi        /2 only: the milestone inclusion proof, exactly as the inx-poi plugin answers
//	           GET /api/poi/v1/create/{blockId}:
//	             milestone  the milestone payload in iota.go JSON (index, timestamp,
//	                        protocolVersion, previousMilestoneId, parents,
//	                        inclusionMerkleRoot, appliedMerkleRoot, options, signatures)
//	             block      the anchor block in iota.go JSON; its ID is recomputed from it
//	             proof      the audit path from the block ID to inclusionMerkleRoot, in the
//	                        same merklehasher JSON as path (leaves: the block IDs the milestone
//	                        referenced, in white-flag order, TIP-2/TIP-4/TIP-29); {"value":…}
//	                        when the milestone referenced one block only
//
// poi is decoded strictly (no other field) and under a guard: iota.go v3.0.0-rc.3 panics
// decoding some hostile blocks (a payload typed transaction that is not one), and such a poi is
// a malformed proof (ErrFormat), wherever it comes from (proof file, anchor proof, receipt, node).
//
// The fields device, seq, entryHash, signature, tag and milestone repeat what the others imply,
// for human readers; a verifier rejects a proof where they disagree.
//
// Checking a /2 proof needs no node and no database, only the network's coordinator keys
// (VerifyOffline): decode the entry strictly and check its signature; decode the anchor and
// check its signature under the entry's key; check First ≤ seq ≤ Last, index and size, and that
// the path's single leaf sits at index, equals entryHash and leads to Root; recompute the
// block's ID from poi.block, check its tag and data (and its PoW score when the keys file names
// minPowScore); serialize the milestone with full validation and check that it carries at
// least milestonePublicKeyCount signatures, each by a key whose range covers the milestone's
// index (ErrMilestone); check that poi.proof has exactly one leaf, the block ID, and hashes to
// inclusionMerkleRoot (ErrInclusion). A /1 proof is checked against any node instead (Verify):
// the block fetched by ID, its PoW score against the node's minPowScore, and a milestone
// referencing it per the node's metadata — which trusts the node.
//
// Verdicts: Invalid(err) is true only for errors that prove the proof wrong (ErrFormat,
// ErrSignature, ErrPath, ErrBlock, ErrPoW, ErrChain, ErrMilestone, ErrInclusion). A node that
// cannot answer — unreachable, 503 "not synced", 404 because it pruned or never saw the block —
// and a block no milestone references yet give ErrUnavailable or ErrNotConfirmed: nothing is
// proven either way (chargegate verify-proof exits 2, not 1).
//
// # Coordinator keys file
//
// What a Hornet node of the network is configured with (protocol.milestonePublicKeyCount and
// protocol.publicKeyRanges), plus the optional minimum PoW score; ledger/node writes its own as
// coordinator-keys.json in its data directory:
//
//	{"milestonePublicKeyCount": 2,
//	 "publicKeyRanges": [{"key": "0x…32 bytes…", "start": 0, "end": 0}, …],
//	 "minPowScore": 1500}
//
// A key signs milestone i when start ≤ i ≤ end, or start ≤ i when end is 0 ("valid forever",
// as hive.go's keymanager, which Hornet uses, reads the ranges); a rotation ends the old keys'
// ranges and starts new ones. No real Hornet network has been checked here.
//
// # Anchor proof file (format "chargegate-anchor-proof/1")
//
// The publisher keeps one per confirmed anchor in its proof directory (the gateway's
// <data>/proofs), named anchor-<First, 20 digits>-<Last, 20 digits>.json, written atomically
// (temporary file, fsync, rename, fsync of the directory):
//
//	format     "chargegate-anchor-proof/1"
//	device     ledger.DeviceID of deviceKey
//	deviceKey  the device's Ed25519 entry key
//	anchor     the anchor payload
//	blockId    the block carrying it
//	poi        the inclusion proof, as in a /2 proof
//
// chargegate proof turns it and the store's entries into /2 proofs; VerifyChainWith walks the
// chain of anchors from these files where the node has pruned the blocks, or with no node.
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
// VerifyChainWith does the same from a node where it still has the blocks and from stored anchor
// proofs (checked offline under the coordinator keys) where it does not, or with no node at all.
//
// Golden vectors of the payload and the /1 proof are in testdata/golden_v1.json, of the /2
// proof with its coordinator keys in testdata/golden_v2.json (regenerate with go test -update).
package anchor
