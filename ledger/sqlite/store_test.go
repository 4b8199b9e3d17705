package sqlite

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

// clock is an injectable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openTest(t testing.TB, dir string, mod func(*Options)) *Store {
	t.Helper()
	o := Options{Key: ledgertest.Key(t), Ballast: -1}
	if mod != nil {
		mod(&o)
	}
	s, err := Open(context.Background(), dir, o)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

func reading(i int) ledger.Record {
	return ledger.Record{
		Time: time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second), TimeStatus: ledger.TimeSynchronised,
		Kind: ledger.KindReading, MeterSerial: "M1", ImportMWh: int64(i) * 250,
	}
}

func readings(from, n int) []ledger.Record {
	out := make([]ledger.Record, n)
	for i := range out {
		out[i] = reading(from + i)
	}
	return out
}

// verifyAll checks the whole stored chain and returns its stats.
func verifyAll(t testing.TB, s *Store) ledger.ChainStats {
	t.Helper()
	st, err := ledger.VerifyChain(s.All(context.Background()), ledger.ChainOptions{Key: s.DeviceKey()})
	if err != nil {
		t.Fatalf("stored chain does not verify: %v", err)
	}
	return st
}

func integrityOK(t testing.TB, s *Store) {
	t.Helper()
	var res string
	if err := s.r.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check = %q, %v", res, err)
	}
}

func TestAppendReadAck(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	one, err := s.Append(ctx, reading(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || one[0].Seq != 1 || one[0].Prev != [32]byte{} {
		t.Fatalf("first entry = %+v", one)
	}
	group, err := s.Append(ctx, readings(1, 10)...)
	if err != nil {
		t.Fatal(err)
	}
	if group[0].Seq != 2 || group[9].Seq != 11 || group[0].Prev != one[0].Hash() {
		t.Fatalf("group not chained: %d..%d", group[0].Seq, group[9].Seq)
	}
	seq, hash := s.Head()
	if seq != 11 || hash != group[9].Hash() {
		t.Fatalf("head = %d %x", seq, hash)
	}
	e, err := s.Entry(ctx, 5)
	if err != nil || e.Seq != 5 || e.ImportMWh != 4*250 || e.Verify() != nil {
		t.Fatalf("entry 5 = %+v, %v", e, err)
	}
	if _, err := s.Entry(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("entry 99: %v", err)
	}
	got, err := s.Entries(ctx, 4, 3)
	if err != nil || len(got) != 3 || got[0].Seq != 4 || got[2].Seq != 6 {
		t.Fatalf("entries = %v, %v", len(got), err)
	}

	p, err := s.Pending(ctx, ledger.SinkMQTT, 4)
	if err != nil || len(p) != 4 || p[0].Seq != 1 {
		t.Fatalf("pending = %d, %v", len(p), err)
	}
	if err := s.Ack(ctx, ledger.SinkMQTT, 4); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, ledger.SinkMQTT, 2); err != nil { // never moves back
		t.Fatal(err)
	}
	p, _ = s.Pending(ctx, ledger.SinkMQTT, 100)
	if len(p) != 7 || p[0].Seq != 5 {
		t.Fatalf("pending after ack = %d from %d", len(p), p[0].Seq)
	}
	if n, _ := s.Backlog(ctx, ledger.SinkMQTT); n != 7 {
		t.Fatalf("mqtt backlog = %d", n)
	}
	if n, _ := s.Backlog(ctx, ledger.SinkLedger); n != 11 {
		t.Fatalf("ledger backlog = %d", n)
	}
	if err := s.Ack(ctx, ledger.SinkMQTT, 12); err == nil {
		t.Fatal("ack beyond head accepted")
	}
	if _, err := s.Pending(ctx, "nope", 1); !errors.Is(err, ErrUnknownSink) {
		t.Fatalf("unknown sink: %v", err)
	}
	if _, err := s.Append(ctx, ledger.Record{Kind: ledger.KindReading}); !errors.Is(err, ledger.ErrInvalid) {
		t.Fatalf("invalid record: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, reading(20)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}

	s = openTest(t, dir, nil)
	defer s.Close()
	if seq, h := s.Head(); seq != 11 || h != hash {
		t.Fatalf("head after reopen = %d", seq)
	}
	if n, _ := s.Backlog(ctx, ledger.SinkMQTT); n != 7 {
		t.Fatalf("mqtt backlog after reopen = %d", n)
	}
	more, err := s.Append(ctx, reading(11))
	if err != nil || more[0].Seq != 12 || more[0].Prev != hash {
		t.Fatalf("append after reopen: %+v %v", more, err)
	}
	if st := verifyAll(t, s); st.Entries != 12 || len(st.Replacements) != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestSettingsReadBack(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), nil)
	defer s.Close()
	var sync int
	var mode string
	if err := s.w.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("synchronous = %d, %v", sync, err)
	}
	if err := s.w.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	// The driver's own default (no _sync) is NORMAL: the check must refuse it.
	db, err := sql.Open("sqlite3", "file:"+t.TempDir()+"/x.db?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := checkSettings(ctx, db); !errors.Is(err, ErrUnsafeSettings) {
		t.Fatalf("driver defaults: %v, want ErrUnsafeSettings", err)
	}
}

func TestState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	if _, err := s.GetState(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing state: %v", err)
	}
	for i := range 3 {
		if err := s.PutState(ctx, "k", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = openTest(t, dir, nil)
	defer s.Close()
	v, err := s.GetState(ctx, "k")
	if err != nil || string(v) != "2" {
		t.Fatalf("state = %q, %v", v, err)
	}
}

func TestAnchors(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), nil)
	defer s.Close()
	if _, err := s.Append(ctx, readings(0, 30)...); err != nil {
		t.Fatal(err)
	}
	a := ledger.AnchorRecord{First: 1, Last: 10, Root: [32]byte{1}, Payload: []byte("p"), State: ledger.AnchorBuilt}
	if err := s.PutAnchor(ctx, a); err != nil {
		t.Fatal(err)
	}
	a.State, a.BlockID, a.Block = ledger.AnchorSubmitted, [32]byte{9}, []byte("block")
	if err := s.PutAnchor(ctx, a); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]ledger.AnchorRecord{
		"other last": {First: 1, Last: 11, Root: a.Root, State: ledger.AnchorBuilt},
		"other root": {First: 1, Last: 10, Root: [32]byte{2}, State: ledger.AnchorBuilt},
		"overlap":    {First: 5, Last: 15, Root: [32]byte{3}, State: ledger.AnchorBuilt},
	} {
		if err := s.PutAnchor(ctx, bad); !errors.Is(err, ErrAnchorConflict) {
			t.Errorf("%s: %v, want ErrAnchorConflict", name, err)
		}
	}
	b := ledger.AnchorRecord{First: 11, Last: 20, Root: [32]byte{4}, State: ledger.AnchorBuilt}
	if err := s.PutAnchor(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Backlog(ctx, ledger.SinkLedger); n != 30 {
		t.Fatalf("ledger backlog before confirmation = %d", n)
	}
	a.State, a.Milestone = ledger.AnchorConfirmed, 77
	if err := s.PutAnchor(ctx, a); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Backlog(ctx, ledger.SinkLedger); n != 20 {
		t.Fatalf("ledger backlog after confirmation = %d, want 20", n)
	}
	a.State = ledger.AnchorSubmitted
	if err := s.PutAnchor(ctx, a); !errors.Is(err, ErrAnchorConflict) {
		t.Fatalf("unconfirming: %v", err)
	}
	got, err := s.AnchorFor(ctx, 7)
	if err != nil || got.First != 1 || got.State != ledger.AnchorConfirmed || got.Milestone != 77 || string(got.Block) != "block" || got.BlockID != [32]byte{9} {
		t.Fatalf("anchor for 7 = %+v, %v", got, err)
	}
	if _, err := s.AnchorFor(ctx, 25); !errors.Is(err, ErrNotFound) {
		t.Fatalf("anchor for 25: %v", err)
	}
	last, ok, err := s.LastAnchor(ctx)
	if err != nil || !ok || last.First != 11 {
		t.Fatalf("last anchor = %+v %v %v", last, ok, err)
	}
	built, _ := s.Anchors(ctx, ledger.AnchorBuilt)
	conf, _ := s.Anchors(ctx, ledger.AnchorConfirmed)
	if len(built) != 1 || built[0].First != 11 || len(conf) != 1 || conf[0].First != 1 {
		t.Fatalf("anchors by state: %d built, %d confirmed", len(built), len(conf))
	}
}

func TestPruneOnlyWhatIsSafe(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := openTest(t, t.TempDir(), func(o *Options) { o.Now = clk.Now; o.Retention = time.Hour })
	defer s.Close()
	if _, err := s.Append(ctx, readings(0, 100)...); err != nil {
		t.Fatal(err)
	}
	prune := func() int {
		n, err := s.Prune(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := prune(); n != 0 {
		t.Fatalf("pruned %d with nothing anchored", n)
	}
	if err := s.PutAnchor(ctx, ledger.AnchorRecord{First: 1, Last: 60, State: ledger.AnchorConfirmed}); err != nil {
		t.Fatal(err)
	}
	if n := prune(); n != 0 {
		t.Fatalf("pruned %d before mqtt acked", n)
	}
	if err := s.Ack(ctx, ledger.SinkMQTT, 100); err != nil {
		t.Fatal(err)
	}
	if n := prune(); n != 0 {
		t.Fatalf("pruned %d inside the retention window", n)
	}
	clk.Add(2 * time.Hour)
	if n := prune(); n != 60 {
		t.Fatalf("pruned %d, want 60 (anchored range)", n)
	}
	if err := s.PutAnchor(ctx, ledger.AnchorRecord{First: 61, Last: 100, State: ledger.AnchorConfirmed}); err != nil {
		t.Fatal(err)
	}
	if n := prune(); n != 39 {
		t.Fatalf("pruned %d, want 39 (never the head)", n)
	}
	if _, err := s.Entry(ctx, 100); err != nil {
		t.Fatalf("head pruned: %v", err)
	}
	s.Close()
	s2 := openTest(t, s.dir, nil)
	defer s2.Close()
	if seq, _ := s2.Head(); seq != 100 {
		t.Fatalf("head after prune and reopen = %d", seq)
	}
	e, err := s2.Append(ctx, reading(100))
	if err != nil || e[0].Seq != 101 {
		t.Fatalf("append after prune: %v", err)
	}
}

func ed25519NewKey(seed []byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(seed) }

func TestMigrationsAndNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	var v int
	names, _ := fs.Glob(migrationFS, "migrations/*.sql")
	if err := s.w.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(names) || v < 2 {
		t.Fatalf("user_version = %d, %v", v, err)
	}
	if _, err := s.w.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	must(t, s.Close())
	if _, err := Open(context.Background(), dir, Options{Key: ledgertest.Key(t), Ballast: -1}); !errors.Is(err, errNewerSchema) {
		t.Fatalf("newer schema: %v", err)
	}
	if q, _ := filepath.Glob(filepath.Join(dir, "*.quarantine-*")); len(q) != 0 {
		t.Fatal("a newer schema was quarantined")
	}
	st, err := os.Stat(filepath.Join(dir, DBFileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("database mode %v, %v", st.Mode().Perm(), err)
	}
}
