package stardust_test

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/iotaledger/iota.go/v3/pow"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/node"
	"github.com/chargegate/chargegate/ledger/sqlite"
	"github.com/chargegate/chargegate/ledger/stardust"
)

// copyDir copies the files of a store directory (the store is closed).
func copyDir(b *testing.B, from, to string) {
	b.Helper()
	des, err := os.ReadDir(from)
	if err != nil {
		b.Fatal(err)
	}
	for _, de := range des {
		if de.IsDir() {
			continue
		}
		src, err := os.Open(filepath.Join(from, de.Name()))
		if err != nil {
			b.Fatal(err)
		}
		dst, err := os.OpenFile(filepath.Join(to, de.Name()), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			b.Fatal(err)
		}
		src.Close()
		if err := dst.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnchorBacklog anchors a week of 1 Hz readings (604,800 entries; override with
// CHARGEGATE_BENCH_ENTRIES) from the real SQLite store to a ledger node over HTTP at minPowScore
// 1500, with the default batch size (10,000), PoW on all cores and a milestone every 500 ms.
// It reports wall time, blocks, PoW seconds and entries anchored per PoW-second.
func BenchmarkAnchorBacklog(b *testing.B) {
	entries := 604_800
	if s := os.Getenv("CHARGEGATE_BENCH_ENTRIES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		entries = n
	}
	key := deviceKey("bench")
	template := b.TempDir()
	st := openStore(b, template, key, entries)
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	var wall, powTime time.Duration
	blocks := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		copyDir(b, template, dir)
		st, err := sqlite.Open(context.Background(), dir, sqlite.Options{Key: key, Ballast: -1})
		if err != nil {
			b.Fatal(err)
		}
		tn := startNode(b, node.Config{MinPoWScore: 1500, MilestoneInterval: 500 * time.Millisecond})
		b.StartTimer()
		start := time.Now()
		p, stop := startPublisher(b, st, key, stardust.Config{
			NodeURL: tn.srv.URL, BatchAge: time.Millisecond, PollInterval: 20 * time.Millisecond,
		})
		waitAnchoredB(b, st, 30*time.Minute)
		wall += time.Since(start)
		b.StopTimer()
		stop()
		s := p.Status()
		powTime += s.PoW
		blocks += s.Blocks
		tn.stop()
		st.Close()
	}
	n := float64(b.N)
	b.ReportMetric(wall.Seconds()/n, "wall-s/op")
	b.ReportMetric(float64(blocks)/n, "blocks/op")
	b.ReportMetric(powTime.Seconds()/n, "pow-s/op")
	b.ReportMetric(float64(entries)*n/powTime.Seconds(), "entries/pow-s")
	b.ReportMetric(float64(entries)*n/wall.Seconds(), "entries/s")
}

// waitAnchoredB is waitAnchored without the polling noise of a test log.
func waitAnchoredB(b *testing.B, st *sqlite.Store, timeout time.Duration) {
	b.Helper()
	head, _ := st.Head()
	deadline := time.Now().Add(timeout)
	for {
		last, ok, err := st.LastAnchor(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if ok && last.Last >= head && last.State == ledger.AnchorConfirmed {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("backlog not anchored after %v", timeout)
		}
		time.Sleep(10 * time.Millisecond) // polling interval of the wait loop
	}
}

// BenchmarkAnchorBlockPoW mines anchor-sized blocks (3 parents, 30-byte tag, 177-byte payload:
// 326 bytes) at score 1500 on all cores, as the publisher does: seconds per block, and the
// implied hash rate (the target is 12 trailing zero trits, 3^12 hashes expected).
func BenchmarkAnchorBlockPoW(b *testing.B) {
	data := make([]byte, 326-8)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16) // a new block each time
		start := time.Now()
		if _, err := pow.New(runtime.NumCPU()).Mine(context.Background(), data, 1500); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "pow-s/block")
	b.ReportMetric(math.Pow(3, 12)*float64(b.N)/total.Seconds()/1e6, "MH/s")
}
