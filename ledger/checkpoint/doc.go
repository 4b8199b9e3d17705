// Package checkpoint publishes a device's chain as an RFC 6962 Merkle tree in C2SP signed-note checkpoints, and is the witness that cosigns them.
//
// A second trust path beside the ledger anchors, needing no ledger at all: any party that keeps
// a checkpoint it saw (a witness, an operator, a driver's app) can later demand a consistency
// proof, and so detect a device whose data was rolled back (sequence numbers reused) or forked.
// Hashing and proofs are golang.org/x/mod/sumdb/tlog, notes golang.org/x/mod/sumdb/note.
//
// # Tree
//
// Leaf i (0-based) is the entry with sequence number i+1; its record data is the entry's 32-byte
// hash (ledger.Entry.Hash, SHA-256 of the entry's encoding), so the leaf hash is
// SHA-256(0x00 ‖ entry hash) and a node SHA-256(0x01 ‖ left ‖ right) (RFC 6962 §2.1, tlog).
// Inclusion proofs (tlog.RecordProof) and consistency proofs (tlog.TreeProof) are lists of
// 32-byte hashes, base64 one per line where text is needed.
//
// A number the chain does not hold — skipped after an unclean shutdown or a rollback
// (seq_skipped), lost to damage (entries_lost), or pruned before the tree saw it — is a leaf
// whose record data is Placeholder (32 zero bytes), so that leaf i stays the entry numbered i+1.
// The gateway keeps the stored hashes in a file (LogConfig.TreeFile: 32 bytes each, in
// tlog.StoredHashIndex order, beside "<file>.size" naming the tree size made durable before any
// checkpoint of it was signed), so memory stays flat as the chain grows and the tree outlives the
// store's pruning; hashes past the durable size are dropped at open and caught up from the store.
//
// # Checkpoint (C2SP tlog-checkpoint)
//
// The signed note's text is exactly three lines, no extensions:
//
//	chargegate/<device ID>        origin: OriginPrefix + ledger.DeviceID of the entry key
//	<tree size>                   decimal, no leading zeros: the head sequence number
//	<base64 root hash>            standard base64 of the 32-byte tree hash
//
// followed by a blank line and signature lines "— <name> <base64(key hash ‖ signature)>"
// (C2SP signed-note). The device signs with its Ed25519 entry key as note key type 0x01 under
// the name of the origin; its verifier key (DeviceVerifierKey) is
// "<origin>+<8 hex key hash>+<base64(0x01 ‖ public key)>", the key hash being the first four
// bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key). The signed message is the note text, which
// is never a bare 32-byte hash (what entries sign) nor starts with "chargegate anchor v1\n"
// (what anchors sign), so the one key's signatures cannot be confused.
//
// # Cosignature (C2SP tlog-cosignature, cosignature/v1)
//
// A witness signs with note key type 0x04: the signature bytes are an 8-byte big-endian Unix
// timestamp followed by Ed25519 over "cosignature/v1\ntime <timestamp>\n" ‖ checkpoint text. Its
// verifier key is "<name>+<hash>+<base64(0x04 ‖ public key)>".
//
// # Witness protocol (C2SP tlog-witness)
//
// POST <witness>/add-checkpoint with "old <size>\n", the consistency proof from old to the new
// size as base64 lines, an empty line, and the signed checkpoint. 200: the cosignature line;
// 409 with Content-Type text/x.tlog.size and the witness's size when old is not what it holds;
// 404 unknown origin; 403 bad signature; 422 consistency proof fails; 400 malformed. The
// witness stores its latest cosigned checkpoint per origin in a JSON state file, written and
// fsynced before it answers, so that a restart forgets nothing:
//
//	{"chargegate/<device ID>": {"size": N, "hash": "<base64>", "note": "<signed checkpoint>"}}
//
// # Detecting a rollback
//
// CheckWitnesses signs the current checkpoint and offers it to every witness. A witness that
// answers 409 with a size larger than the device's tree holds a checkpoint the device no longer
// has: the data directory was restored from an older copy (ErrRolledBack). A witness that
// refuses the consistency proof saw a different history (ErrInconsistent). Either must raise
// the gateway's alarm and a signed event; the gateway then continues its sequence above the
// witness's size.
//
// Golden vectors (a checkpoint, its signed note, a cosignature, an add-checkpoint request) are
// in testdata/golden.txt (regenerate with go test -update).
package checkpoint
