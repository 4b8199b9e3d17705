// Package node is a small IOTA-compatible node that speaks the subset of the core REST API v2 that chargegate and its verifiers use.
//
// It is the embedded default ledger and the test peer (program ledger/cmd/ledgernode). Blocks are
// (de)serialized, scored and identified by iota.go v3.0.0-rc.3, the library Hornet 2.0.x runs,
// so what it accepts and serves is what a real node accepts and serves.
//
// # Routes
//
//	GET  /health                                  200; 503 with Config.PeerlessHealth, as a Hornet without peers
//	GET  /api/routes                              {"routes":["core/v2","poi/v1"]}
//	GET  /api/core/v2/info                        name, version, status (latest = confirmed milestone),
//	                                              protocol (minPowScore, belowMaxDepth, tokenSupply as a
//	                                              decimal string…), supportedProtocolVersions
//	GET  /api/core/v2/tips                        {"tips":[…]} up to 4; 503 if none
//	POST /api/core/v2/blocks                      JSON or application/vnd.iota.serializer-v1;
//	                                              201, Location: <block ID>, {"blockId":…}
//	GET  /api/core/v2/blocks/{id}                 JSON, or raw bytes for the vendor Accept header; 404
//	GET  /api/core/v2/blocks/{id}/metadata        blockId, parents, isSolid, then referencedByMilestoneIndex,
//	                                              milestoneIndex, ledgerInclusionState "noTransaction",
//	                                              whiteFlagIndex; or shouldPromote/shouldReattach
//	GET  /api/core/v2/milestones/by-index/{index} the milestone payload, JSON or raw
//	GET  /api/core/v2/milestones/{milestoneId}    the same by ID
//	GET  /api/poi/v1/create/{blockId}             inx-poi's proof of inclusion: {milestone, block, proof};
//	                                              404 unknown, pruned or not referenced yet
//	POST /api/poi/v1/validate                     {"valid":bool} for such a proof, under the node's keys
//
// SetSynced(false) makes every route but /health, /api/routes and /info answer 503 "node is not
// synced", as Hornet does while it catches up; Prune(index) forgets the blocks referenced below
// a milestone, as Hornet's pruning does (404 afterwards; pruningIndex in /info).
//
// Errors are {"error":{"code":"400","message":"…"}} with the HTTP status as code.
//
// # Validation of submitted blocks (Hornet's attacher order)
//
// Protocol version ("protocolVersion invalid"); a block without parents and nonce 0 gets
// node-selected tips, and is refused with 503 if it needs PoW (the node does none, like Hornet's
// default); serialization with validation (size ≤ 32,768, 1–8 sorted unique parents, tag ≤ 64);
// the received bytes must be canonical; only TaggedData or no payload (no UTXO ledger here;
// milestones come from the node's own coordinator); PoW score ≥ minPowScore (nonce 0 → 503,
// otherwise 400); every parent known (all stored blocks are solid) or the all-zero entry point
// ("block is not solid"), and not below max depth (CMI − OCRI ≤ belowMaxDepth). A block already
// known is answered 201 with its ID again.
//
// # Milestones
//
// Run issues a milestone every MilestoneInterval (New issues milestone 1 on a fresh node). As
// Hornet's inx-coordinator, a milestone's parents are the previous milestone's block and up to 7
// tips; every block in their past cone not yet referenced — the previous milestone's block
// included, which is referenced by the next milestone, not by its own — gets
// referencedByMilestoneIndex and a whiteFlagIndex in white-flag order (TIP-2: post-order
// depth-first over the parents in order); the milestone's InclusionMerkleRoot is iota.go's
// merklehasher over those block IDs (TIP-4, TIP-29). It is signed by every coordinator key whose
// range covers its index (Config.CoordinatorKeys keys, at least Config.SignatureThreshold
// signatures, in key order); RotateKeys ends the current keys' ranges and starts new ones, as a
// network's key rotation does. The public keys, their ranges, the threshold and minPowScore are
// written to Config.Dir/coordinator-keys.json (KeysFile, Hornet's protocol.publicKeyRanges
// shape): what a verifier of proofs needs to trust the milestones with no node at all.
// Unreferenced blocks carry Hornet's tip score: shouldPromote when CMI − YCRI > 8 or
// CMI − OCRI > 13, shouldReattach when CMI − OCRI > 15.
//
// # Persistence
//
// SQLite in Config.Dir/node.db (WAL, synchronous=FULL): blocks in arrival order with their
// referencing milestone, the milestones, the coordinator keys and their ranges (a database of
// an earlier version keeps its single key, valid for every index). Everything survives a restart;
// block metadata is rebuilt in memory at start.
//
// # Fault injection
//
// Faults: ErrorRate (requests answered 500), LostResponseRate (block stored but answered 500),
// OrphanRate (blocks left out of tips and milestones until promoted or reattached), Latency,
// Outages (windows after start when connections are dropped), and SetDown / SetFaults at run time.
package node
