// Package ledger defines the trust chain: signed, hash-chained entries, their canonical encoding, device keys and chain verification.
//
// # Entry encoding (version 1)
//
// An Entry is stored and transmitted as its canonical encoding followed by the signature. All
// integers are big-endian; strings are UTF-8 with a length prefix and no terminator.
//
//	offset  size  field
//	0       1     version (1)
//	1       1     kind: 1 reading, 2 session begin, 3 session end, 4 gap, 5 event
//	2       1     time status, the OCMF letter: 'U', 'I', 'S' or 'R'
//	3       32    device public key (Ed25519)
//	35      8     sequence number (uint64, first entry of a device is 1, never reused)
//	43      32    prev: SHA-256 of the previous entry's encoding (zero for a device's first entry)
//	75      8     time: nanoseconds since 1970-01-01 UTC (int64, two's complement)
//	83      8     import energy, milliwatt-hours (int64)
//	91      8     export energy, milliwatt-hours (int64)
//	99      32    attachment: SHA-256 of an attached record, e.g. an OCMF string (zero = none)
//	131     1+n   session ID (n ≤ 64)
//	.       1+n   meter serial (n ≤ 64)
//	.       1+n   event code (n ≤ 32; required for gap and event entries)
//	.       2+n   detail, free text (n ≤ 1024)
//	.       64    signature (MarshalBinary only, not part of the encoding)
//
// Hash = SHA-256(encoding without signature); signature = Ed25519(device key, Hash). A decoder
// accepts only this exact layout: known version, kind and time status, bounded UTF-8 strings, no
// trailing bytes, sequence number ≥ 1. testdata/golden.json freezes the layout with a fixed test
// key (regenerate with go test ./ledger -update, and only on purpose).
//
// # Chain rules
//
// Entry n+1 has sequence number n+1 and Prev = Hash(entry n), signed by the same device key.
// The one declared exception is an event entry with code "store_replaced": written when a
// corrupt or rolled-back database was moved aside, it continues after the highest sequence number
// the device ever reserved and links to the last head the device knew, so numbers are never
// reused and the break is signed and visible. A missed meter poll is a gap entry, never a
// silent hole.
//
// # Device keys
//
// Keys are generated on the device at first start (LoadOrCreateKeys): entry.key (Ed25519, for
// entries and anchors) and ocmf.key (ECDSA P-256, for gateway-signed OCMF), each PKCS#8 PEM with
// mode 0600; files readable by group or others are refused. DeviceID is the lowercase hex of
// the first 8 bytes of SHA-256 of the Ed25519 public key.
package ledger
