//go:build !chargegate_lossysync

package sqlite

// LossySync is true only in test builds with the tag chargegate_lossysync (sync_lossy.go).
const LossySync = false

// synchronous=FULL: in WAL mode NORMAL may roll back committed transactions after a power cut
// (sqlite.org/pragma.html#pragma_synchronous).
const (
	syncMode  = "FULL"
	syncLevel = 2
)
