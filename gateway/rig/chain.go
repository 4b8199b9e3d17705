package rig

import (
	"context"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// Entries reads the entries after seq from a gateway's data directory, running or stopped,
// read-only (sqlite.OpenReader), in order.
func Entries(tb testing.TB, dataDir string, after uint64) []ledger.Entry {
	tb.Helper()
	ctx := context.Background()
	r, err := sqlite.OpenReader(ctx, dataDir)
	if err != nil {
		tb.Fatalf("open store for reading: %v", err)
	}
	defer r.Close()
	var out []ledger.Entry
	for e, err := range r.All(ctx) {
		if err != nil {
			tb.Fatalf("read entries: %v", err)
		}
		if e.Seq > after {
			out = append(out, e)
		}
	}
	return out
}

// WaitEntry waits up to limit for an entry after seq that satisfies match and returns the first.
func WaitEntry(tb testing.TB, dataDir string, after uint64, limit time.Duration, what string, match func(ledger.Entry) bool) ledger.Entry {
	tb.Helper()
	var found ledger.Entry
	WaitFor(tb, limit, what, func() bool {
		for _, e := range Entries(tb, dataDir, after) {
			if match(e) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}
