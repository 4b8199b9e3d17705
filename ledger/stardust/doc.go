// Package stardust anchors batches of ledger entries on an IOTA Stardust node as TaggedData blocks built with iota.go.
//
// # What the publisher does
//
// A Publisher cuts consecutive unanchored entries into batches (Config.BatchSize entries, default
// 10,000, or fewer once the oldest is Config.BatchAge old, default 60 s), signs an anchor
// (package ledger/anchor: Merkle root, range, last hash, previous anchor's block ID) and sends it
// as the data of a TaggedData block tagged "chargegate/a1/<device ID>":
//
//  1. read the node's protocol parameters from /api/core/v2/info (minPowScore can change by
//     milestone, so it is read for every block; /health is not consulted, a real node without
//     peers answers 503 there while it works);
//  2. take up to three parents from /api/core/v2/tips (three keep the block at 326 bytes, inside
//     the cheapest PoW step at score 1500, 3^12 hashes);
//  3. do the PoW locally at minPowScore on all cores (iota.go pow); none when minPowScore is 0,
//     because iota.go's miner panics for a target of 0;
//  4. submit it (nodeclient, binary serialization) and follow /blocks/{id}/metadata until
//     referencedByMilestoneIndex is set; promote (an empty block approving it and fresh tips)
//     when the node says shouldPromote; reattach (same payload, new parents and PoW) when it
//     says shouldReattach or no longer knows the block;
//  5. store the confirmation, which also acknowledges sink ledger.SinkLedger through the anchor's Last.
//
// One anchor is in flight at a time and the next one is cut only after it is confirmed, so each
// anchor's Prev is the block ID of a confirmed block; that block is also what proofs name.
// Every failure is retried with exponential backoff (PollInterval doubling to MaxBackoff, ±50 %
// jitter, cenkalti/backoff/v5), except a block the node refuses with 400 ("below max depth",
// parents too old): waiting would only age its parents further, so a new block for the same
// payload is built on fresh tips at once. Status.LastError and LastErrorAt say what failed
// last and when, and are cleared by the next successful step. An entry is never skipped and a
// hole in the store stops anchoring with an error.
//
// # Proofs kept on the device
//
// With Config.ProofDir set (the gateway uses <data>/proofs), the publisher fetches each
// confirmed anchor's milestone inclusion proof from the node's PoI API (inx-poi's
// /api/poi/v1/create/{blockId}) right after confirmation, checks that it is about the anchor's
// block and leads to the milestone's inclusion root, and writes it as an anchor proof file
// (ledger/anchor: "chargegate-anchor-proof/1"). Entry proofs built from it
// ("chargegate-proof/2") verify offline, after the node has pruned the block or is gone. A
// failure (no PoI plugin, node busy) is logged and shown in Status.ProofError; anchoring goes
// on, and chargegate proof --node can fetch the proof later while the node still has the block.
//
// A node that wants a token (Hornet's JWT auth) gets it from Config.AuthTokenFile, a file of
// mode 0600 or stricter, sent as "Authorization: Bearer".
//
// # Crash safety and how a re-submission is recognised
//
// Every side effect is preceded by a durable record in the store (ledger.AnchorRecord):
//
//	state   block  meaning                         on resume
//	Built   none   payload signed, nothing sent    build the block (same payload)
//	Built   set    block and ID stored, maybe sent ask the node for the ID's metadata: known → Submitted,
//	                                               unknown → submit the stored bytes; if refused (stale
//	                                               parents) → build a new block for the same payload
//	Submitted set  the node accepted the block     follow metadata, reattach or promote as above
//	Confirmed set  referenced by a milestone       nothing; the next batch starts at Last+1
//
// A block's ID is computed and stored before the block is sent, so a block that reached the node
// just before a crash (or whose 201 answer was lost) is recognised by asking the node for that ID.
// An anchor is identified by its range and root: the store refuses a second anchor for a range,
// the payload of a range is signed once and kept, and a reattachment carries the same payload
// bytes. So a crash at any point resumes without a gap and without a second anchor for any range;
// at worst the same anchor payload exists in two blocks, of which the stored, confirmed one is
// the anchor's block.
package stardust
