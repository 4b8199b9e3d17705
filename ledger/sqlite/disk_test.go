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

// TestDatabaseFull fills the database to SQLite's page limit (SQLITE_FULL, the error a full
// disk gives): nothing acknowledged is lost, new sessions are refused, and the store recovers
// when room appears.
func TestDatabaseFull(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	limit := func(db *sql.DB) error { _, err := db.Exec("PRAGMA max_page_count = 40"); return err }
	s, err := open(ctx, dir, Options{Key: ledgertest.Key(t)}, limit)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var acked []ledger.Entry
	var appendErr error
	for i := 0; i < 10_000; i += 10 {
		es, err := s.Append(ctx, readings(i, 10)...)
		if err != nil {
			appendErr = err
			break
		}
		acked = append(acked, es...)
	}
	if !isDiskFull(appendErr) {
		t.Fatalf("append error = %v, want SQLITE_FULL", appendErr)
	}
	if err := s.Admit(); !errors.Is(err, ErrDiskBudget) {
		t.Fatalf("Admit on a full database = %v", err)
	}
	for _, e := range acked {
		got, err := s.Entry(ctx, e.Seq)
		if err != nil || got.Hash() != e.Hash() {
			t.Fatalf("acknowledged entry %d lost: %v", e.Seq, err)
		}
	}
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
	if len(ev) < 1 || ev[len(ev)-1] != ledger.EventDiskRecovered {
		t.Fatalf("events = %v", ev)
	}
}

// TestENOSPC fills a real, small filesystem (tmpfs; needs root to mount): the ballast makes
// room for the pending append and its alarm, nothing acknowledged is lost, sessions are refused.
func TestENOSPC(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	ctx := context.Background()
	dir := filepath.Join(mnt, "data")
	s := openTest(t, dir, func(o *Options) { o.Ballast = 512 << 10 })
	defer s.Close()
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
	var acked []ledger.Entry
	var appendErr error
	for i := 0; i < 1_000_000; i += 50 {
		es, err := s.Append(ctx, readings(i, 50)...)
		if err != nil {
			appendErr = err
			break
		}
		acked = append(acked, es...)
	}
	if !isDiskFull(appendErr) {
		t.Fatalf("append error = %v, want a full disk", appendErr)
	}
	if err := s.Admit(); !errors.Is(err, ErrDiskBudget) {
		t.Fatalf("Admit on a full disk = %v", err)
	}
	if ev := events(t, s); len(ev) == 0 || ev[0] != ledger.EventDiskBudget {
		t.Fatalf("events = %v, want the disk alarm (written into the ballast's room)", ev)
	}
	for _, e := range acked {
		if got, err := s.Entry(ctx, e.Seq); err != nil || got.Hash() != e.Hash() {
			t.Fatalf("acknowledged entry %d lost: %v", e.Seq, err)
		}
	}
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
