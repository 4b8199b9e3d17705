// Package ledger defines the trust chain: signed, hash-chained entries, their canonical encoding, device keys and chain verification.
//
// # Entry encoding (versions 1 and 2)
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
//	.       1     EVSE, 1..255 (version 2 only)
//	.       64    signature (MarshalBinary only, not part of the encoding)
//
// Version 2 differs from version 1 only by the EVSE byte: the charging point of a box with several
// that the entry belongs to. Entries of the box as a whole (an emergency stop, the store, an
// update) and every entry of a box with one EVSE are written in version 1, so each record has
// exactly one encoding; a version 2 entry naming EVSE 0 is malformed.
//
// Hash = SHA-256(encoding without signature); signature = Ed25519(device key, Hash). A decoder
// accepts only this exact layout: known version, kind and time status, bounded UTF-8 strings, no
// trailing bytes, sequence number ≥ 1. testdata/golden.json freezes the layout with a fixed test
// key (regenerate with go test ./ledger -update, and only on purpose).
//
// # Chain rules
//
// Entry n+1 has sequence number n+1 and Prev = Hash(entry n), signed by the same device key.
// A missed meter poll is a gap entry, never a silent hole. Three signed events declare the only
// accepted exceptions (holes); ChainStats.Holes lists each one verified:
//
//   - store_replaced: written when a corrupt or rolled-back database was moved aside; it continues
//     after the highest sequence number the device ever reserved and links to the last head the
//     device knew, so numbers are never reused and the break is signed and visible.
//   - seq_skipped: written at the first start after an unclean shutdown across a reboot (a power
//     cut); it continues after the reserved high-water mark (numbers that may have been handed
//     out before the cut, on storage that lost what it confirmed) and links to the stored head. Its Detail starts with "seq FROM-TO:" naming exactly the numbers skipped.
//   - entries_lost: written after salvage of a damaged database kept the entries around damaged
//     ones. The surviving entry after the hole cannot link (its predecessor is gone); the event,
//     later in the chain, names the hole "seq FROM-TO:" and the verifier accepts exactly that
//     range (an entries_lost naming numbers before the first verified entry is listed too). A
//     jump that no event declares is ErrSeqGap; a link that breaks without a jump in
//     the sequence numbers is ErrBrokenLink, always.
//
// # Event codes
//
// Every code written into Record.Event is declared in events.go. Auditors' list:
//
//	code                 kind          written when
//	started              event         the gateway started
//	store_replaced       event         a damaged or rolled-back database was moved aside (declared break)
//	entries_lost         event         salvage skipped entries that no longer verify; "seq FROM-TO:" (declared hole)
//	seq_skipped          event         first start after a power cut; "seq FROM-TO:" numbers skipped (declared hole)
//	disk_budget          event         disk budget reached or disk full; new sessions refused (from the reserve)
//	disk_recovered       event         space is available again
//	store_refused        event         the store refused an entry; what was not stored (from the reserve)
//	poll_missed          gap           meter polls brought no reading
//	poll_late            gap           a poll came later than its interval plus tolerance
//	meter_implausible    gap           meter values that cannot be true (fall, too fast a rise, all zeros/ones)
//	meter_reset          event         a counter reset, consistent long enough to be accepted; alarm latched
//	meter_counter_reset  event         older name of meter_reset
//	meter_replaced       event         the meter's serial number changed
//	emergency_stop       event         the emergency stop was pressed
//	rcd_trip             event         the residual-current device tripped
//	relay_fault          event         the contactor welded or did not close
//	tamper               event         the lid switch changed
//	fault_cleared        event         an operator cleared a latched fault or alarm
//	session_paused       event         a session was paused: relay open, session kept (Detail: by=who)
//	session_resumed      event         a paused session was resumed: relay closed (Detail: by=who)
//	update_health_check  event         a trial boot of an update passed its health check
//	update_committed     event         an update was committed
//	rolled_back          event         a checkpoint witness saw a larger chain: the data was restored from an older copy
//	auth_refused         event         an attempt to charge was refused (gateway/access decision detail, rate-limited)
//	allow_list           event         the operator changed the local allow-list (version, operation, count)
//	current_limit        event         the current an EVSE may draw changed: "current=A from=A reason=R[ coalesced=N]" (gateway/site)
//
// Session end reasons, the event code of a session_end entry: local, remote, energy_limit,
// time_limit, emergency_stop, rcd_trip, relay_fault, relay_not_closed, meter_lost,
// meter_replaced, meter_counter_reset, meter_implausible, power_failure, shutdown, disk_full,
// unplugged (the vehicle left: control-pilot state A).
// Sink names (the store's outbox readers): ledger (anchoring), mqtt (operator link).
//
// Closing records — session ends, gaps, and the events disk_budget, store_refused,
// entries_lost, seq_skipped, store_replaced (Record.Closing) — are committed from a reserve
// when a full disk refuses ordinary ones, so a session never stays open in the chain.
//
// # Device keys
//
// Keys are generated on the device at first start (LoadOrCreateKeys): entry.key (Ed25519, for
// entries and anchors) and ocmf.key (ECDSA P-256, for gateway-signed OCMF), each PKCS#8 PEM with
// mode 0600; files readable by group or others are refused. DeviceID is the lowercase hex of
// the first 8 bytes of SHA-256 of the Ed25519 public key.
package ledger
