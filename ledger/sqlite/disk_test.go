package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

// events returns the event codes of stored event entries, in order.
func events(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	for e, err := range s.All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == ledger.KindEvent {
			out = append(out, e.Event)
		}
	}
	return out
}

func TestDiskBudget(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := openTest(t, t.TempDir(), func(o *Options) { o.DiskBudget = 256 << 10; o.Now = clk.Now })
	defer s.Close()
	if err := s.Admit(); err != nil {
		t.Fatalf("empty store: %v", err)
	}
	for i := 0; s.Admit() == nil; i += 100 {
		if i > 100_000 {
			t.Fatal("budget never reached")
		}
		if _, err := s.Append(ctx, readings(i, 100)...); err != nil {
			t.Fatal(err)
		}
	}
	err := s.Admit()
	if !errors.Is(err, ErrDiskBudget) {
		t.Fatalf("Admit = %v", err)
	}
	// Readings still go in: the budget gates new sessions, never data.
	if _, err := s.Append(ctx, reading(1)); err != nil {
		t.Fatalf("append at budget: %v", err)
	}
	_ = s.Admit()
	if ev := events(t, s); len(ev) != 1 || ev[0] != ledger.EventDiskBudget {
		t.Fatalf("events = %v, want one disk_budget alarm", ev)
	}
	// Free space: anchor, deliver and prune; the store recovers by itself.
	head, _ := s.Head()
	must(t, s.PutAnchor(ctx, ledger.AnchorRecord{First: 1, Last: head, State: ledger.AnchorConfirmed}))
	must(t, s.Ack(ctx, ledger.SinkMQTT, head))
	if n, err := s.Prune(ctx); err != nil || n == 0 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	if _, err := s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Admit(); err != nil {
		t.Fatalf("after pruning: %v", err)
	}
	if ev := events(t, s); len(ev) != 1 || ev[0] != ledger.EventDiskRecovered {
		t.Fatalf("events after recovery = %v (the alarm was pruned), want disk_recovered", ev)
	}
	verifyAll(t, s)
}

// closingRecords are a session's end and the gap before it: what the gateway writes when the
// store refuses readings.
func closingRecords(i int) []ledger.Record {
	gap := reading(i)
	gap.Kind, gap.Event, gap.Detail = ledger.KindGap, ledger.EventStoreRefused, "readings refused: disk full"
	end := reading(i + 1)
	end.Kind, end.Event, end.SessionID = ledger.KindSessionEnd, ledger.EndDiskFull, "s-1"
	return []ledger.Record{gap, end}
}

// fillUntilRefused appends groups of ten readings until the store refuses one; it returns what
// was acknowledged and the refusal.
func fillUntilRefused(t *testing.T, s *Store) ([]ledger.Entry, error) {
	t.Helper()
	var acked []ledger.Entry
	for i := 0; i < 1_000_000; i += 10 {
		es, err := s.Append(context.Background(), readings(i, 10)...)
		if err != nil {
			return acked, err
		}
		acked = append(acked, es...)
	}
	t.Fatal("never refused")
	return nil, nil
}

// checkAcked fails unless every acknowledged entry is stored unchanged.
func checkAcked(t *testing.T, s *Store, acked []ledger.Entry) {
	t.Helper()
	for _, e := range acked {
		got, err := s.Entry(context.Background(), e.Seq)
		if err != nil || got.Hash() != e.Hash() {
			t.Fatalf("acknowledged entry %d lost: %v", e.Seq, err)
		}
	}
}

// TestDiskLimitReserve fills a real database file to Options.DiskLimit: ordinary appends are
// refused with ErrDiskFull once only the reserve is left, the alarm is recorded once, closing
// records (a running session's gap and end, with its persisted state cleared) still commit
// from the reserve, and after a reopen of the file everything acknowledged is there.
func TestDiskLimitReserve(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opt := func(o *Options) { o.DiskLimit = 512 << 10; o.DiskReserve = 64 << 10 }
	s := openTest(t, dir, opt)
	begin := reading(0)
	begin.Kind, begin.SessionID = ledger.KindSessionBegin, "s-1"
	acked, err := s.AppendState(ctx, []ledger.Record{begin}, "session", []byte("s-1"))
	must(t, err)
	more, err := fillUntilRefused(t, s)
	acked = append(acked, more...)
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("refusal = %v, want ErrDiskFull", err)
	}
	if _, err := s.Append(ctx, reading(5)); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("second ordinary append = %v, want ErrDiskFull", err)
	}
	// The session closes from the reserve, together with its persisted state.
	es, err := s.AppendState(ctx, closingRecords(7), "session", nil)
	if err != nil {
		t.Fatalf("closing a session on a full disk: %v", err)
	}
	acked = append(acked, es...)
	if _, err := s.GetState(ctx, "session"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("session state after its end: %v", err)
	}
	// The reserve holds many more closing records before even they are refused.
	n := 0
	for ; n < 10_000; n++ {
		es, err := s.Append(ctx, closingRecords(10+2*n)...)
		if err != nil {
			if !errors.Is(err, ErrDiskFull) {
				t.Fatalf("closing append %d: %v, want ErrDiskFull", n, err)
			}
			break
		}
		acked = append(acked, es...)
	}
	if n < 50 {
		t.Fatalf("the reserve held only %d closing pairs", n)
	}
	if ev := events(t, s); len(ev) != 1 || ev[0] != ledger.EventDiskBudget {
		t.Fatalf("events = %v, want one disk_budget alarm", ev)
	}
	if err := s.Admit(); !errors.Is(err, ErrDiskBudget) {
		t.Fatalf("Admit on a full store = %v", err)
	}
	t.Logf("%d entries before the refusal; then %d closing pairs from a %d-byte reserve", len(more)+1, n, 64<<10)
	must(t, s.Close())
	s = openTest(t, dir, opt)
	defer s.Close()
	checkAcked(t, s, acked)
	if st := verifyAll(t, s); st.Entries != len(acked)+1 {
		t.Fatalf("%d entries after reopen, acknowledged %d plus the alarm", st.Entries, len(acked))
	}
	integrityOK(t, s)
}

// TestDatabaseFull fills the database to SQLite's page limit (SQLITE_FULL, the error a full
// disk gives): nothing acknowledged is lost, new sessions are refused, and the store recovers
// when room appears.
func TestDatabaseFull(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	limit := func(db *sql.DB) error { _, err := db.Exec("PRAGMA max_page_count = 40"); return err }
	s, err := open(ctx, dir, Options{Key: ledgertest.Key(t), DiskReserve: 32 << 10}, limit)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	acked, appendErr := fillUntilRefused(t, s)
	if !errors.Is(appendErr, ErrDiskFull) {
		t.Fatalf("append error = %v, want ErrDiskFull", appendErr)
	}
	if err := s.Admit(); !errors.Is(err, ErrDiskBudget) {
		t.Fatalf("Admit on a full database = %v", err)
	}
	es, err := s.Append(ctx, closingRecords(50_000)...)
	if err != nil {
		t.Fatalf("closing records on a full database: %v", err)
	}
	acked = append(acked, es...)
	checkAcked(t, s, acked)
	// Room appears (here: a higher page limit); the store admits again and records it.
	if _, err := s.w.Exec("PRAGMA max_page_count = 100000"); err != nil {
		t.Fatal(err)
	}
	if err := s.Admit(); err != nil {
		t.Fatalf("Admit after space returned = %v", err)
	}
	if _, err := s.Append(ctx, reading(99_999)); err != nil {
		t.Fatal(err)
	}
	st := verifyAll(t, s)
	if st.Entries < len(acked)+2 {
		t.Fatalf("%d entries, acknowledged %d", st.Entries, len(acked))
	}
	ev := events(t, s)
	if len(ev) != 2 || ev[0] != ledger.EventDiskBudget || ev[1] != ledger.EventDiskRecovered {
		t.Fatalf("events = %v", ev)
	}
}

// TestENOSPC fills a real, small filesystem (tmpfs; needs root to mount): ordinary appends are
// refused, the ballast makes room for the alarm and a session's closing records, nothing
// acknowledged is lost, sessions are refused until space returns.
func TestENOSPC(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	ctx := context.Background()
	dir := filepath.Join(mnt, "data")
	s := openTest(t, dir, func(o *Options) { o.Ballast = 512 << 10; o.DiskReserve = 64 << 10 })
	defer s.Close()
	acked, err := s.Append(ctx, readings(0, 50)...)
	must(t, err)
	// Fill the filesystem with someone else's file.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	must(t, err)
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	more, appendErr := fillUntilRefused(t, s)
	acked = append(acked, more...)
	if !errors.Is(appendErr, ErrDiskFull) {
		t.Fatalf("append error = %v, want ErrDiskFull", appendErr)
	}
	es, err := s.Append(ctx, closingRecords(900_000)...)
	if err != nil {
		t.Fatalf("closing records on a full disk: %v", err)
	}
	acked = append(acked, es...)
	if err := s.Admit(); !errors.Is(err, ErrDiskBudget) {
		t.Fatalf("Admit on a full disk = %v", err)
	}
	if ev := events(t, s); len(ev) == 0 || ev[0] != ledger.EventDiskBudget {
		t.Fatalf("events = %v, want the disk alarm (written into the ballast's room)", ev)
	}
	checkAcked(t, s, acked)
	must(t, os.Remove(filler))
	if err := s.Admit(); err != nil {
		t.Fatalf("Admit after freeing space = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ballastName)); err != nil {
		t.Fatalf("ballast not restored: %v", err)
	}
	verifyAll(t, s)
	integrityOK(t, s)
}
