package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chargegate/chargegate/ledger"
)

// crashImage builds a store with 30 checkpointed entries in the database file and 20 more in
// the WAL, and copies its files while it is open: the state a crash would leave. It returns
// the copy's directory and the 50 entries as acknowledged.
func crashImage(t *testing.T) (string, []ledger.Entry) {
	t.Helper()
	ctx := context.Background()
	src := t.TempDir()
	s := openTest(t, src, nil)
	defer s.Close()
	first, err := s.Append(ctx, readings(0, 30)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	var acked []ledger.Entry
	acked = append(acked, first...)
	for i := 30; i < 50; i++ { // one transaction each: 20 commits in the WAL
		e, err := s.Append(ctx, reading(i))
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, e...)
	}
	dst := t.TempDir()
	for _, name := range []string{DBFileName, DBFileName + "-wal", DBFileName + "-shm", headFileName} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatalf("copy %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst, acked
}

// damage functions, etcd style: each changes a crash image the way storage can fail.
var damages = []struct {
	name string
	fn   func(t *testing.T, dir string, acked []ledger.Entry)
}{
	{"truncated WAL", func(t *testing.T, dir string, _ []ledger.Entry) {
		p := filepath.Join(dir, DBFileName+"-wal")
		st, _ := os.Stat(p)
		must(t, os.Truncate(p, st.Size()/2+100))
	}},
	{"flipped WAL byte", func(t *testing.T, dir string, _ []ledger.Entry) {
		p := filepath.Join(dir, DBFileName+"-wal")
		data, _ := os.ReadFile(p)
		data[len(data)/3] ^= 0x40
		must(t, os.WriteFile(p, data, 0o600))
	}},
	{"flipped byte in a stored entry", func(t *testing.T, dir string, acked []ledger.Entry) {
		// Checkpoint the image first so that the database file holds the live copy of every
		// page, then flip one bit in every copy of entry 20's signature.
		p := filepath.Join(dir, DBFileName)
		db, err := sql.Open("sqlite3", "file:"+p)
		must(t, err)
		_, err = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		must(t, err)
		must(t, db.Close())
		data, _ := os.ReadFile(p)
		if bytes.Count(data, acked[19].Signature) == 0 {
			t.Fatal("entry 20 not found in the database file")
		}
		data = bytes.ReplaceAll(data, acked[19].Signature[:16], append([]byte{acked[19].Signature[0] ^ 1}, acked[19].Signature[1:16]...))
		must(t, os.WriteFile(p, data, 0o600))
	}},
	{"flipped page header", func(t *testing.T, dir string, _ []ledger.Entry) {
		p := filepath.Join(dir, DBFileName)
		data, _ := os.ReadFile(p)
		for pg := 4096; pg < len(data); pg += 4096 {
			data[pg] = 0xFF // b-tree page type: no such type
		}
		must(t, os.WriteFile(p, data, 0o600))
	}},
	{"not a database", func(t *testing.T, dir string, _ []ledger.Entry) {
		p := filepath.Join(dir, DBFileName)
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		must(t, err)
		_, err = f.WriteAt(bytes.Repeat([]byte("garbage!"), 16), 0)
		must(t, err)
		must(t, f.Close())
		must(t, os.Remove(filepath.Join(dir, DBFileName+"-wal")))
	}},
	{"zero-length database", func(t *testing.T, dir string, _ []ledger.Entry) {
		must(t, os.Truncate(filepath.Join(dir, DBFileName), 0))
		must(t, os.Remove(filepath.Join(dir, DBFileName+"-wal")))
	}},
	{"deleted WAL", func(t *testing.T, dir string, _ []ledger.Entry) {
		must(t, os.Remove(filepath.Join(dir, DBFileName+"-wal")))
	}},
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestCrashImageIntact: a crash followed by a reboot (the head file not marked clean, another
// boot ID) keeps every acknowledged entry and continues above the reserved high-water mark with
// a signed seq_skipped event that links to the stored head.
func TestCrashImageIntact(t *testing.T) {
	dir, acked := crashImage(t)
	s := openTest(t, dir, func(o *Options) { o.bootID = rebooted })
	defer s.Close()
	st := verifyAll(t, s)
	if st.Entries != len(acked)+1 || len(st.Replacements) != 0 || len(st.Holes) != 1 {
		t.Fatalf("intact crash image: %+v", st)
	}
	seq, _ := s.Head()
	skip, err := s.Entry(context.Background(), seq)
	must(t, err)
	hw := uint64(30 + DefaultReserve) // reserved by the first append of 30
	if skip.Event != ledger.EventSeqSkipped || skip.Seq != hw+1 || skip.Prev != acked[49].Hash() {
		t.Fatalf("head after a crash: seq %d %q prev linked %v; want seq_skipped at %d linked to entry 50",
			skip.Seq, skip.Event, skip.Prev == acked[49].Hash(), hw+1)
	}
	if h := st.Holes[0]; h.From != 51 || h.To != hw {
		t.Fatalf("declared hole %+v", h)
	}
	for _, e := range acked {
		if got, err := s.Entry(context.Background(), e.Seq); err != nil || got.Hash() != e.Hash() {
			t.Fatalf("acknowledged entry %d: %v", e.Seq, err)
		}
	}
	integrityOK(t, s)
}

func TestDamageDetectedAndQuarantined(t *testing.T) {
	ctx := context.Background()
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir, acked := crashImage(t)
			d.fn(t, dir, acked)
			s := openTest(t, dir, nil)
			defer s.Close()

			// Detected: a signed store_replaced event beyond every used number.
			st := verifyAll(t, s)
			if len(st.Replacements) != 1 {
				t.Fatalf("replacements = %v", st.Replacements)
			}
			repl, err := s.Entry(ctx, st.Replacements[0])
			must(t, err)
			if repl.Seq <= 50 {
				t.Fatalf("sequence reused: store_replaced at %d", repl.Seq)
			}
			// Quarantined, never deleted.
			q, _ := filepath.Glob(filepath.Join(dir, DBFileName+".quarantine-*"))
			if len(q) == 0 && d.name != "zero-length database" {
				t.Fatal("no quarantined database")
			}
			// Salvaged entries are acknowledged ones, unchanged; every acknowledged entry not
			// salvaged lies in a declared hole.
			salvaged := checkSalvaged(t, s, acked, repl.Seq, st.Holes)
			if d.name == "flipped byte in a stored entry" && salvaged != 49 {
				t.Fatalf("salvaged %d of 50: salvage must go past the one damaged entry", salvaged)
			}
			seq, _ := s.Head()
			head, err := s.Entry(ctx, seq)
			must(t, err)
			t.Logf("%s: salvaged %d of 50, holes %v, resumed at %d: %s", d.name, salvaged, st.Holes, repl.Seq, repl.Detail)
			if !strings.Contains(repl.Detail, "salvaged") {
				t.Errorf("detail %q does not say what was salvaged", repl.Detail)
			}
			integrityOK(t, s)
			// The store goes on.
			next, err := s.Append(ctx, reading(60))
			if err != nil || next[0].Seq != head.Seq+1 || next[0].Prev != head.Hash() {
				t.Fatalf("append after replacement: %v", err)
			}
		})
	}
}

// checkSalvaged checks the entries below the store_replaced event at repl: each is the
// acknowledged entry with its number, unchanged, and each acknowledged entry missing lies in a
// declared hole. It returns how many were salvaged.
func checkSalvaged(t *testing.T, s *Store, acked []ledger.Entry, repl uint64, holes []ledger.Hole) int {
	t.Helper()
	ctx := context.Background()
	e, err := s.Entry(ctx, repl)
	must(t, err)
	if from, to, ok := ledger.ParseHole(e.Detail); ok {
		holes = append(holes, ledger.Hole{From: from, To: to}) // what store_replaced declares
	}
	n := 0
	for _, a := range acked {
		e, err := s.Entry(ctx, a.Seq)
		if err == nil {
			if e.Hash() != a.Hash() {
				t.Fatalf("salvaged entry %d differs", a.Seq)
			}
			n++
			continue
		}
		if !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		declared := false
		for _, h := range holes {
			declared = declared || (h.From <= a.Seq && a.Seq <= h.To)
		}
		if _, err := s.DeclaredHole(ctx, a.Seq); err == nil {
			declared = true // also a hole before the first salvaged entry, which verification never sees
		}
		if !declared {
			t.Fatalf("acknowledged entry %d missing without a declared hole (holes %v)", a.Seq, holes)
		}
	}
	return n
}

// TestSalvageGoesPastDamage (issue 12, case 5): entries damaged in the middle are skipped, every
// later valid entry is kept, each hole is declared by a signed entries_lost event, the store's
// outbox delivers the salvaged entries, and a reopen keeps it all.
func TestSalvageGoesPastDamage(t *testing.T) {
	ctx := context.Background()
	dir, acked := crashImage(t)
	// Checkpoint, then damage the signatures of entries 10, 30 and 31 in place.
	p := filepath.Join(dir, DBFileName)
	db, err := sql.Open("sqlite3", "file:"+p)
	must(t, err)
	_, err = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	must(t, err)
	must(t, db.Close())
	data, err := os.ReadFile(p)
	must(t, err)
	for _, i := range []int{9, 29, 30} {
		sig := acked[i].Signature
		if bytes.Count(data, sig) == 0 {
			t.Fatalf("entry %d not in the file", i+1)
		}
		data = bytes.ReplaceAll(data, sig[:16], append([]byte{sig[0] ^ 1}, sig[1:16]...))
	}
	must(t, os.WriteFile(p, data, 0o600))

	s := openTest(t, dir, nil)
	st := verifyAll(t, s)
	want := []ledger.Hole{{From: 10, To: 10}, {From: 30, To: 31}}
	var lost []ledger.Hole
	for _, h := range st.Holes {
		if h.Event == ledger.EventEntriesLost {
			lost = append(lost, ledger.Hole{From: h.From, To: h.To})
		}
	}
	if len(lost) != 2 || lost[0] != want[0] || lost[1] != want[1] {
		t.Fatalf("entries_lost holes %v, want %v", lost, want)
	}
	if n := checkSalvaged(t, s, acked, st.Replacements[0], st.Holes); n != 47 {
		t.Fatalf("salvaged %d, want 47", n)
	}
	for _, seq := range []uint64{10, 30, 31} {
		if h, err := s.DeclaredHole(ctx, seq); err != nil || h.Event != ledger.EventEntriesLost {
			t.Fatalf("DeclaredHole(%d) = %+v, %v", seq, h, err)
		}
	}
	if _, err := s.DeclaredHole(ctx, 11); !errors.Is(err, ErrNotFound) {
		t.Fatalf("DeclaredHole(11) = %v, want ErrNotFound", err)
	}
	// The outbox delivers what was salvaged past the holes (cursor was 0).
	pending, err := s.Pending(ctx, ledger.SinkMQTT, 1000)
	must(t, err)
	if len(pending) != st.Entries || pending[len(pending)-1].Seq != st.Last {
		t.Fatalf("pending %d entries, chain has %d", len(pending), st.Entries)
	}
	must(t, s.Close())
	// A reopen accepts the declared holes (tail check) and replaces nothing.
	s = openTest(t, dir, nil)
	defer s.Close()
	if st2 := verifyAll(t, s); len(st2.Replacements) != 1 || st2.Last != st.Last {
		t.Fatalf("after reopen: %+v", st2)
	}
}

// TestRestoredBackupDoesNotReuseSeq: an older copy of the database put back in place must
// not hand out sequence numbers again.
func TestRestoredBackupDoesNotReuseSeq(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	if _, err := s.Append(ctx, readings(0, 10)...); err != nil {
		t.Fatal(err)
	}
	must(t, s.Close())
	backup, err := os.ReadFile(filepath.Join(dir, DBFileName))
	must(t, err)
	s = openTest(t, dir, nil)
	if _, err := s.Append(ctx, readings(10, 10)...); err != nil {
		t.Fatal(err)
	}
	must(t, s.Close())
	must(t, os.WriteFile(filepath.Join(dir, DBFileName), backup, 0o600))
	s = openTest(t, dir, nil)
	defer s.Close()
	seq, _ := s.Head()
	if seq <= 20 {
		t.Fatalf("head %d after restoring a backup: sequence numbers would be reused", seq)
	}
	if st := verifyAll(t, s); st.Entries != 11 || len(st.Replacements) != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestForeignKeyRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	if _, err := s.Append(ctx, reading(0)); err != nil {
		t.Fatal(err)
	}
	must(t, s.Close())
	other := make([]byte, 32)
	other[0] = 7
	_, err := Open(ctx, dir, Options{Key: ed25519NewKey(other), Ballast: -1})
	if err == nil || !strings.Contains(err.Error(), ErrKeyMismatch.Error()) {
		t.Fatalf("open with another key: %v", err)
	}
	if q, _ := filepath.Glob(filepath.Join(dir, "*.quarantine-*")); len(q) != 0 {
		t.Fatal("database quarantined because of a key mismatch")
	}
}

// TestDamageWithoutHeadFile: with the head file gone too, the new chain still continues after
// the highest number the damaged database shows, salvaged or not.
func TestDamageWithoutHeadFile(t *testing.T) {
	dir, acked := crashImage(t)
	damages[2].fn(t, dir, acked) // flipped byte in entry 20
	must(t, os.Remove(filepath.Join(dir, headFileName)))
	s := openTest(t, dir, nil)
	defer s.Close()
	st := verifyAll(t, s)
	if len(st.Replacements) != 1 || st.Replacements[0] <= 50 {
		t.Fatalf("store_replaced at %v: sequence numbers up to 50 would be reused", st.Replacements)
	}
	// 49 salvaged, store_replaced, entries_lost for 20.
	if st.Entries != 51 || len(st.Holes) != 1 || st.Holes[0].From != 20 || st.Holes[0].To != 20 {
		t.Fatalf("stats = %+v", st)
	}
}
