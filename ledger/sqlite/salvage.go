package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/chargegate/chargegate/ledger"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// rawRow is one row of the entries table of a damaged database, as far as it reads.
type rawRow struct {
	seq     uint64
	body    []byte
	created int64
}

// maxSkip bounds how far readRows seeks past damage for the next readable row; maxLookups how
// many numbers it then looks up one by one.
const (
	maxSkip      = 1 << 40
	maxLookups   = 1 << 20
	blindLookups = 1 << 10
)

// readRows calls fn, in ascending order of seq, with every entries row that SQLite can still
// return from a damaged database, holding only one row at a time. It scans; where a scan fails
// (a damaged b-tree page), it seeks past the damage with exponentially growing steps until a
// seek succeeds, looks up each number it stepped over one by one (a damaged page hides a range
// from a scan, not always from a lookup), and scans on. It returns the highest sequence number
// any read showed. fn returning false stops it.
func readRows(ctx context.Context, db *sql.DB, fn func(rawRow) bool) (seen uint64) {
	var top sql.NullInt64 // the highest seq, if the rightmost path reads
	_ = db.QueryRowContext(ctx, "SELECT max(seq) FROM entries").Scan(&top)
	if top.Valid {
		seen = uint64(top.Int64)
	}
	stopped := false
	emit := func(r rawRow) bool {
		seen = max(seen, r.seq)
		if !fn(r) {
			stopped = true
		}
		return !stopped
	}
	// scan yields the rows with seq >= from; it returns the last seq it read (from-1 if none)
	// and whether it reached the end without an error.
	scan := func(from uint64) (uint64, bool) {
		last := from - 1
		rs, err := db.QueryContext(ctx, "SELECT seq, body, created_ns FROM entries WHERE seq >= ? ORDER BY seq", from)
		if err != nil {
			return last, false
		}
		defer rs.Close()
		for rs.Next() {
			var r rawRow
			if rs.Scan(&r.seq, &r.body, &r.created) != nil {
				return last, false
			}
			last = r.seq
			if !emit(r) {
				return last, true
			}
		}
		return last, rs.Err() == nil
	}
	lookup := func(seq uint64) {
		var r rawRow
		if db.QueryRowContext(ctx, "SELECT seq, body, created_ns FROM entries WHERE seq = ?", seq).Scan(&r.seq, &r.body, &r.created) == nil {
			emit(r)
		}
	}
	var probe int
	if err := db.QueryRowContext(ctx, "SELECT 1 FROM sqlite_master LIMIT 1").Scan(&probe); err != nil && !errors.Is(err, sql.ErrNoRows) && isNotADB(err) {
		return seen // not a database at all: nothing to read
	}
	from := uint64(1)
	for ctx.Err() == nil && !stopped {
		last, ok := scan(from)
		if ok || stopped {
			return seen
		}
		// Damage after last: find the next row a seek reaches, stepping 1, 2, 4, ... past it.
		gap := last + 1
		end := gap + maxSkip
		if top.Valid && uint64(top.Int64) >= gap {
			end = uint64(top.Int64) + 1
		}
		stop, more := end, false
		for k := uint64(1); ctx.Err() == nil; k *= 2 {
			probe := min(gap+k, end)
			var seq uint64
			err := db.QueryRowContext(ctx, "SELECT seq FROM entries WHERE seq >= ? ORDER BY seq LIMIT 1", probe).Scan(&seq)
			if err == nil {
				stop, more = seq, true
				break
			}
			if errors.Is(err, sql.ErrNoRows) || probe >= end {
				stop = probe
				break
			}
		}
		// Look up what the seeks stepped over: up to the row found, or the highest number the
		// database shows; with neither (nothing past the damage reads at all) only a few.
		limit := uint64(maxLookups)
		if !more && !top.Valid {
			limit = blindLookups
		}
		for seq := gap; seq < stop && seq-gap < limit && ctx.Err() == nil && !stopped; seq++ {
			lookup(seq)
		}
		if !more {
			return seen
		}
		from = stop
	}
	return seen
}

// salvaged is what salvage kept of a quarantined database.
type salvaged struct {
	n        int      // entries copied
	skipped  int      // rows read that did not decode, verify or link
	last     uint64   // the last copied entry's seq, 0 if none
	lastHash [32]byte // and its hash
	seen     uint64   // the highest sequence number the old database showed, copied or not
	holes    []ledger.Hole
}

// salvage copies into the open database every entry of the quarantined one that decodes,
// verifies under the device key and fits the chain, skipping damaged ones. The jumps this
// leaves between copied entries, and that the old chain did not declare itself, are returned
// as holes for the caller to declare (entries_lost). It works on a copy so that the
// quarantined files stay exactly as found.
func (s *Store) salvage(ctx context.Context, qpath string) salvaged {
	var out salvaged
	old, cleanup, err := openCopy(s.dir, qpath)
	if err != nil {
		s.log.Error("salvage: cannot read the quarantined database", "err", err)
		return out
	}
	defer cleanup()
	v := ledger.Verifier{Opts: ledger.ChainOptions{Key: s.pub}}
	var batch [][2]any
	var insertErr error
	flush := func() {
		if len(batch) > 0 && insertErr == nil {
			insertErr = s.insertRaw(ctx, batch)
		}
		batch = batch[:0]
	}
	out.seen = readRows(ctx, old, func(r rawRow) bool {
		e, err := ledger.DecodeEntry(r.body)
		if err == nil && e.Seq != r.seq {
			err = fmt.Errorf("row %d holds entry %d", r.seq, e.Seq)
		}
		if err == nil {
			err = v.Add(&e)
		}
		if err != nil {
			s.log.Warn("salvage skips a damaged entry", "seq", r.seq, "err", err)
			out.skipped++
			return true
		}
		batch = append(batch, [2]any{r.body, r.created})
		out.last, out.lastHash = r.seq, e.Hash()
		out.n++
		if len(batch) == 1000 {
			flush()
		}
		return insertErr == nil
	})
	flush()
	if insertErr != nil {
		// Nothing half-copied stays: start the new chain empty rather than with an unknown part.
		s.log.Error("salvage: insert", "err", insertErr)
		if _, derr := s.w.ExecContext(ctx, "DELETE FROM entries"); derr != nil {
			s.log.Error("salvage: undo", "err", derr)
		}
		return salvaged{seen: out.seen}
	}
	out.holes = v.Pending()
	if first := v.Stats().First; out.n > 0 && first > 1 {
		// Entries before the first salvaged one were pruned (only what a confirmed anchor
		// covers ever is) or lost: declare those above the newest confirmed anchor.
		var pruned sql.NullInt64
		_ = old.QueryRowContext(ctx, "SELECT max(last) FROM anchors WHERE state = ?", int(ledger.AnchorConfirmed)).Scan(&pruned)
		if from := uint64(max(pruned.Int64, 0)) + 1; from < first {
			out.holes = append([]ledger.Hole{{From: from, To: first - 1}}, out.holes...)
		}
	}
	s.salvageTables(ctx, old, out.last)
	return out
}

// openCopy copies the database at path (and its WAL) into a temporary directory under dir and
// opens the copy; cleanup closes it and removes the copy.
func openCopy(dir, path string) (*sql.DB, func(), error) {
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		return nil, nil, fmt.Errorf("no database at %s", path)
	}
	tmp, err := os.MkdirTemp(dir, "salvage-")
	if err != nil {
		return nil, nil, fmt.Errorf("temporary copy: %w", err)
	}
	cp := filepath.Join(tmp, "old.db")
	for _, suffix := range []string{"", "-wal"} {
		if exists(path + suffix) {
			if err := copyFile(path+suffix, cp+suffix); err != nil {
				os.RemoveAll(tmp)
				return nil, nil, fmt.Errorf("copy %s: %w", filepath.Base(path+suffix), err)
			}
		}
	}
	repairHeader(cp)
	db, err := sql.Open("sqlite3", "file:"+cp+"?_busy_timeout=1000")
	if err != nil {
		os.RemoveAll(tmp)
		return nil, nil, fmt.Errorf("open copy: %w", err)
	}
	db.SetMaxOpenConns(1)
	return db, func() { db.Close(); os.RemoveAll(tmp) }, nil
}

// insertRaw inserts already signed entry bodies with their creation times.
func (s *Store) insertRaw(ctx context.Context, batch [][2]any) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, b := range batch {
		e, _ := ledger.DecodeEntry(b[0].([]byte))
		if _, err := tx.ExecContext(ctx, "INSERT INTO entries (seq, body, created_ns) VALUES (?, ?, ?)", e.Seq, b[0], b[1]); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// QuarantineFiles returns the quarantined databases in the data directory dir
// (chargegate.db.quarantine-*, without their -wal and -shm files), oldest first.
func QuarantineFiles(dir string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, DBFileName+".quarantine-*"))
	if err != nil {
		return nil, fmt.Errorf("list quarantine files: %w", err)
	}
	matches = slices.DeleteFunc(matches, func(p string) bool {
		return strings.HasSuffix(p, "-wal") || strings.HasSuffix(p, "-shm")
	})
	sort.Strings(matches) // the names carry a UTC timestamp
	return matches, nil
}

// QuarantinedRow is one row read back from a quarantined database.
type QuarantinedRow struct {
	Seq   uint64       // the row's key
	Body  []byte       // the stored bytes, as found
	Entry ledger.Entry // decoded, when Err is nil or a signature error
	// Err says why the row cannot be trusted: it does not decode, holds another sequence
	// number, or its signature does not verify under its own device key. nil: a valid entry.
	Err error
}

// ReadQuarantine calls fn with every row that can still be read from the quarantined database
// at path, in ascending order of seq (as salvage reads: scans, then seeks and lookups past
// damage), on a copy so that the file stays as found, with each entry's encoding and signature
// checked; it does not check the chain. It holds one row at a time. An error from fn stops it
// and is returned.
func ReadQuarantine(ctx context.Context, path string, fn func(QuarantinedRow) error) error {
	db, cleanup, err := openCopy(filepath.Dir(path), path)
	if err != nil {
		return err
	}
	defer cleanup()
	var fnErr error
	readRows(ctx, db, func(r rawRow) bool {
		q := QuarantinedRow{Seq: r.seq, Body: r.body}
		e, err := ledger.DecodeEntry(r.body)
		switch {
		case err != nil:
			q.Err = err
		case e.Seq != r.seq:
			q.Entry, q.Err = e, fmt.Errorf("%w: row %d holds entry %d", ledger.ErrMalformed, r.seq, e.Seq)
		default:
			q.Entry, q.Err = e, e.Verify()
		}
		fnErr = fn(q)
		return fnErr == nil
	})
	if fnErr != nil {
		return fnErr
	}
	return ctx.Err()
}

func isNotADB(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrNotADB
}

// sqliteMagic starts every SQLite database file (sqlite.org/fileformat.html, 1.3).
const sqliteMagic = "SQLite format 3\x00"

// repairHeader rewrites the 100-byte database header of the file at path (a salvage copy) when
// its magic string is gone, so that SQLite can read the pages behind it, which a damaged header
// leaves intact. The fields follow sqlite.org/fileformat.html 1.3: the page size is the one
// (of the possible powers of two) at which page 2 starts with a b-tree page type; the size in
// pages comes from the file size (version-valid-for = change counter, so it is trusted); the
// freelist is declared empty (reading does not need it); WAL mode (2/2) when a -wal file is
// beside it, so its frames are read too. It reports whether it rewrote the header.
func repairHeader(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() < 2*512 {
		return false
	}
	head := make([]byte, 100)
	if _, err := f.ReadAt(head, 0); err != nil || string(head[:16]) == sqliteMagic {
		return false
	}
	pageSize := 0
	for _, ps := range []int{4096, 1024, 2048, 8192, 16384, 32768, 65536, 512} {
		if st.Size()%int64(ps) != 0 || st.Size() < int64(2*ps) {
			continue
		}
		var t [1]byte
		if _, err := f.ReadAt(t[:], int64(ps)); err == nil && (t[0] == 2 || t[0] == 5 || t[0] == 10 || t[0] == 13) {
			pageSize = ps
			break
		}
	}
	if pageSize == 0 {
		return false
	}
	h := make([]byte, 100)
	copy(h, sqliteMagic)
	binary.BigEndian.PutUint16(h[16:], uint16(pageSize%65536)) // 65536 is stored as 1
	if pageSize == 65536 {
		binary.BigEndian.PutUint16(h[16:], 1)
	}
	h[18], h[19] = 1, 1
	if exists(path + "-wal") {
		h[18], h[19] = 2, 2
	}
	h[21], h[22], h[23] = 64, 32, 32                                      // payload fractions (fixed)
	binary.BigEndian.PutUint32(h[24:], 1)                                 // change counter
	binary.BigEndian.PutUint32(h[28:], uint32(st.Size()/int64(pageSize))) // size in pages
	binary.BigEndian.PutUint32(h[40:], 1)                                 // schema cookie
	binary.BigEndian.PutUint32(h[44:], 4)                                 // schema format
	binary.BigEndian.PutUint32(h[56:], 1)                                 // UTF-8
	binary.BigEndian.PutUint32(h[92:], 1)                                 // version-valid-for = change counter
	binary.BigEndian.PutUint32(h[96:], 3045000)                           // SQLITE_VERSION_NUMBER of the writer
	_, err = f.WriteAt(h, 0)
	return err == nil
}
