package sqlite

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
)

var huge = flag.Bool("huge", false, "also run the 10^7-entry memory benchmark (minutes, ~3 GB of disk)")

// BenchmarkDurableAppend: one entry per transaction through Store.Append (sign, encode, commit
// with synchronous=FULL, head file) side by side with raw SQLite inserts of the same bytes into
// the same schema with the same DSN settings. Goal: ratio ≥ 0.9.
func BenchmarkDurableAppend(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, b.TempDir(), nil)
	defer s.Close()
	raw, err := sql.Open("sqlite3", dsn(filepath.Join(b.TempDir(), "raw.db"), false))
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	if err := migrate(ctx, raw); err != nil {
		b.Fatal(err)
	}
	// Pre-encode the same entries the store will write, for the raw side.
	bodies := make([][]byte, b.N)
	for i := range bodies {
		es, err := s.Append(ctx, reading(i))
		if err != nil {
			b.Fatal(err)
		}
		bodies[i], _ = es[0].MarshalBinary()
	}
	s2 := openTest(b, b.TempDir(), nil)
	defer s2.Close()

	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if _, err := s2.Append(ctx, reading(i)); err != nil {
			b.Fatal(err)
		}
	}
	storeDur := time.Since(start)
	start = time.Now()
	for i := range b.N {
		tx, err := raw.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO entries (seq, body, created_ns) VALUES (?, ?, ?)", i+1, bodies[i], time.Now().UnixNano()); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	rawDur := time.Since(start)
	b.StopTimer()
	storeRate := float64(b.N) / storeDur.Seconds()
	rawRate := float64(b.N) / rawDur.Seconds()
	b.ReportMetric(storeRate, "store_appends/s")
	b.ReportMetric(rawRate, "raw_inserts/s")
	b.ReportMetric(storeRate/rawRate, "ratio")
}

// BenchmarkGroupCommit: entries per second with groups of 1,000 records per transaction.
// Goal: ≥ 50,000 entries/s on 2 cores.
func BenchmarkGroupCommit(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, b.TempDir(), nil)
	defer s.Close()
	const group = 1000
	recs := readings(0, group)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := s.Append(ctx, recs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*group)/time.Since(start).Seconds(), "entries/s")
}

// BenchmarkStoreMemory reports the process RSS and Go heap with a store holding 10^3 and 10^5
// entries (10^7 with -huge), after reopening and serving the outbox. Goal: flat.
func BenchmarkStoreMemory(b *testing.B) {
	sizes := []int{1_000, 100_000}
	if *huge {
		sizes = append(sizes, 10_000_000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			s := openTest(b, dir, nil)
			for i := 0; i < n; i += 10_000 {
				if _, err := s.Append(ctx, readings(i, min(10_000, n-i))...); err != nil {
					b.Fatal(err)
				}
			}
			must(b, s.Close())
			runtime.GC()
			debug.FreeOSMemory()
			var rss, heap float64
			for range b.N {
				s = openTest(b, dir, nil)
				// What the gateway does all day: append, read the outbox, ack, count.
				for i := range 100 {
					if _, err := s.Append(ctx, reading(n+i)); err != nil {
						b.Fatal(err)
					}
					p, err := s.Pending(ctx, ledger.SinkMQTT, 100)
					if err != nil || len(p) == 0 {
						b.Fatal(err)
					}
					must(b, s.Ack(ctx, ledger.SinkMQTT, p[len(p)-1].Seq))
					if _, err := s.Backlog(ctx, ledger.SinkLedger); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				heap = float64(ms.HeapInuse)
				rss = float64(rssBytes())
				must(b, s.Close())
			}
			b.ReportMetric(rss/(1<<20), "RSS_MiB")
			b.ReportMetric(heap/(1<<20), "heap_MiB")
		})
	}
}

func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkVerifyStored is `chargegate verify`: read every entry from SQLite, decode and verify
// the chain (signatures on all CPUs), side by side with bare Ed25519 verification of the same
// entries in one goroutine.
func BenchmarkVerifyStored(b *testing.B) {
	const n = 20_000
	ctx := context.Background()
	dir := b.TempDir()
	s := openTest(b, dir, nil)
	var sigs [][]byte
	var hashes [][32]byte
	for i := 0; i < n; i += 5000 {
		es, err := s.Append(ctx, readings(i, 5000)...)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range es {
			sigs = append(sigs, e.Signature)
			hashes = append(hashes, e.Hash())
		}
	}
	pub := s.DeviceKey()
	must(b, s.Close())
	r, err := OpenReader(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		st, err := ledger.VerifyChain(r.All(ctx), ledger.ChainOptions{Key: pub})
		if err != nil || st.Entries != n {
			b.Fatal(st.Entries, err)
		}
	}
	chain := time.Since(start)
	start = time.Now()
	for range b.N {
		for i := range sigs {
			if !ed25519.Verify(pub, hashes[i][:], sigs[i]) {
				b.Fatal("bad signature")
			}
		}
	}
	raw := time.Since(start)
	b.ReportMetric(float64(b.N*n)/chain.Seconds(), "verify_entries/s")
	b.ReportMetric(float64(b.N*n)/raw.Seconds(), "raw_ed25519/s")
	b.ReportMetric(raw.Seconds()/chain.Seconds(), "ratio")
}

// BenchmarkDiskRoom: the cost of the free-space check every ordinary append makes (statfs and
// four PRAGMAs on the writer connection), to set against a durable commit's fsync.
func BenchmarkDiskRoom(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, b.TempDir(), func(o *Options) { o.DiskLimit = 64 << 20 })
	defer s.Close()
	if _, err := s.Append(ctx, readings(0, 1000)...); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := s.room(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
