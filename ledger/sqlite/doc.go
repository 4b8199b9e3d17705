// Package sqlite is the durable offline store and outbox of ledger entries, built on SQLite in WAL mode with synchronous=FULL.
//
// # Files in the data directory
//
//	chargegate.db[-wal,-shm]   the database (mattn/go-sqlite3)
//	head                       sequence high-water mark and chain head, outside the database
//	ballast                    space kept free for the disk-full alarm (Options.Ballast)
//	chargegate.db.quarantine-* damaged databases moved aside, never deleted
//
// # Settings
//
// Every connection is opened with _journal_mode=WAL, _sync=FULL, _txlock=immediate and
// _busy_timeout=5000, and Open reads journal_mode and synchronous back, refusing to run
// (ErrUnsafeSettings) unless they are "wal" and 2. FULL because in WAL mode NORMAL (the driver's
// default) may roll back committed transactions after a power cut; immediate transactions
// because busy_timeout does not apply when a deferred transaction upgrades to a write lock.
// One writer connection; a separate pool of query-only readers. The schema is a list of
// numbered, embedded migrations (migrations/NNNN_*.sql) tracked in PRAGMA user_version.
//
// # Durability contract
//
// Append signs and inserts its records in one transaction and returns only after the commit:
// an entry returned by Append survives a process crash and, if the storage honours fsync, a
// power cut. Sinks (ledger.SinkLedger "ledger", ledger.SinkMQTT "mqtt") read after their cursor (Pending) and move it forward
// (Ack); an entry is deleted (Prune) only when a confirmed anchor covers it, every sink
// acknowledged it, it is older than the retention window, and it is not the head.
//
// # Sequence numbers are never reused
//
// The head file holds two 128-byte slots, written alternately (version 2):
//
//	"CGHD" | version 2 | flags u8 | 2 zero bytes | counter u64 | high-water u64 | head seq u64 | head hash [32] | boot ID [16] | CRC-32C u32
//
// big-endian, CRC-32C (Castagnoli) over the 80 bytes before it, zero padded to 128; flags bit 0
// means "closed cleanly"; the boot ID is the kernel's (/proc/sys/kernel/random/boot_id) of the
// boot that opened the store, zero if unknown. The valid slot with the larger counter wins, so a
// torn write loses at most the newest update. Golden slot (counter 7, high-water 1040, head 16,
// hash 32×0xAB, boot ID 00 01 … 0f, clean):
//
//	43474844 02 01 0000 0000000000000007 0000000000000410 0000000000000010
//	abababababababababababababababababababababababababababababababab
//	000102030405060708090a0b0c0d0e0f c9a0bc6c
//
// Version 1 slots (flags byte zero, no boot ID, CRC over the first 64 bytes) are still read, as
// not clean, from an unknown boot.
//
// Before an append would pass the high-water mark, the store reserves the next Options.Reserve
// numbers with an fsynced write. After every commit it records the exact head without fsync:
// that survives a process crash, and after a power cut is at worst older. Open writes the slot
// with the clean flag cleared (fsynced) before any number is used; only Close, after the
// database is closed, sets it. So at the next Open a missing clean flag means an unclean
// shutdown. If it was only the process that died (the same boot ID), the kernel's page cache
// kept every write and the database holds every acknowledged entry: the store continues at
// head + 1. After a reboot (another or an unknown boot ID: a power cut, a kernel crash), numbers
// up to the high-water mark may have been handed out even where the database does not show them
// (storage that acknowledged a flush it had not made). The store then continues at high-water + 1 with a signed seq_skipped event that links to the stored head
// and names the skipped numbers ("seq FROM-TO: ..."; ledger.VerifyChain accepts exactly that
// jump). A power cut therefore costs at most Options.Reserve numbers, never a reused one.
//
// The build tag chargegate_lossysync (tests only: sync_lossy.go) opens the database with
// synchronous=OFF, so a power cut loses committed transactions; the power-cut harness uses it to
// prove that it detects lost entries. The head file is fsynced in that build too.
//
// At open the database is checked: it must open, pass quick_check, and its newest
// Options.TailCheck entries must decode, verify under the device key and link. A database that
// fails, or whose head is behind (or differs from) the head file's — a truncated or deleted WAL,
// a zero-length file, a restored backup — is moved aside. Entries of the old database that still
// decode, verify and link are copied into a new one, with state, cursors and anchors where they
// read; then a signed event "store_replaced" continues after the high-water mark and links to
// the newest head the device knew. ledger.VerifyChain accepts that declared break and lists it.
// Entries signed by another key are refused (ErrKeyMismatch), never quarantined.
//
// # Full disk
//
// Admit refuses new charging sessions (ErrDiskBudget) when the live pages plus WAL reach
// Options.DiskBudget or after the disk filled, recording one signed disk_budget event per
// episode, and disk_recovered when it admits again. On SQLITE_FULL or ENOSPC, Append deletes the
// ballast file and retries once with a disk_budget event appended, so what the gateway hands in
// is kept whenever the ballast makes room; nothing already stored is ever dropped.
package sqlite
