//go:build chargegate_lossysync

package sqlite

// LossySync is true in this test build: the database runs with synchronous=OFF, so SQLite never
// fsyncs and a power cut loses committed transactions, as storage that acknowledges flushes
// early would. The power-cut harness builds chargegate with -tags chargegate_lossysync to prove
// that it detects lost entries. The head file is still fsynced: the reserved high-water mark is
// what keeps sequence numbers from being reused even then. Never ship this build.
const LossySync = true

const (
	syncMode  = "OFF"
	syncLevel = 0
)
