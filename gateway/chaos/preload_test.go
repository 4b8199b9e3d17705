package chaos_test

import (
	"context"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// preload appends n signed 1 Hz readings ending now to the store in dataDir, under the device
// key the gateway will use (created there if absent), as if the gateway had recorded them with
// nothing to deliver them to. It returns the head sequence number.
func preload(tb testing.TB, dataDir string, n int) uint64 {
	tb.Helper()
	ctx := context.Background()
	keys, err := ledger.LoadOrCreateKeys(dataDir)
	if err != nil {
		tb.Fatalf("device keys: %v", err)
	}
	s, err := sqlite.Open(ctx, dataDir, sqlite.Options{Key: keys.Entry, Reserve: 1 << 20})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	defer s.Close()
	start := time.Now().Add(-time.Duration(n) * time.Second)
	const group = 5000
	recs := make([]ledger.Record, 0, group)
	for i := 0; i < n; i += group {
		recs = recs[:0]
		for j := i; j < min(n, i+group); j++ {
			recs = append(recs, ledger.Record{
				Time: start.Add(time.Duration(j) * time.Second), TimeStatus: ledger.TimeSynchronised,
				Kind: ledger.KindReading, MeterSerial: "71000042", ImportMWh: int64(j) * 3,
			})
		}
		if _, err := s.Append(ctx, recs...); err != nil {
			tb.Fatalf("preload entry %d: %v", i, err)
		}
	}
	head, _ := s.Head()
	return head
}
