package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/chargegate/chargegate/ledger"
)

// rawRow is one row of the entries table of a damaged database, as far as it reads.
type rawRow struct {
	seq     uint64
	body    []byte
	created int64
}

// maxProbes bounds the point lookups salvage makes between the parts that scan.
const maxProbes = 1 << 20

// readRows reads every entries row that SQLite can still return from a damaged database: an
// ascending scan until it fails, a descending scan from the top until it fails, and point
// lookups of every sequence number in between (a damaged b-tree page hides a range from a
// scan, not always from a lookup). seen is the highest sequence number any read showed.
func readRows(ctx context.Context, db *sql.DB) (rows []rawRow, seen uint64) {
	got := map[uint64]rawRow{}
	scan := func(query string, args ...any) (last uint64, complete bool) {
		rs, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			return 0, false
		}
		defer rs.Close()
		for rs.Next() {
			var r rawRow
			if rs.Scan(&r.seq, &r.body, &r.created) != nil {
				return last, false
			}
			got[r.seq], last = r, r.seq
			seen = max(seen, r.seq)
		}
		return last, rs.Err() == nil
	}
	low, complete := scan("SELECT seq, body, created_ns FROM entries ORDER BY seq")
	if !complete {
		high, _ := scan("SELECT seq, body, created_ns FROM entries ORDER BY seq DESC")
		var maxSeq sql.NullInt64
		if db.QueryRowContext(ctx, "SELECT max(seq) FROM entries").Scan(&maxSeq) == nil && maxSeq.Valid {
			seen = max(seen, uint64(maxSeq.Int64))
		}
		if high == 0 {
			high = seen + 1
		}
		for seq := low + 1; seq < high && seq-low <= maxProbes && ctx.Err() == nil; seq++ {
			if _, ok := got[seq]; ok {
				continue
			}
			var r rawRow
			if db.QueryRowContext(ctx, "SELECT seq, body, created_ns FROM entries WHERE seq = ?", seq).Scan(&r.seq, &r.body, &r.created) == nil {
				got[r.seq] = r
				seen = max(seen, r.seq)
			}
		}
	}
	rows = make([]rawRow, 0, len(got))
	for _, r := range got {
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].seq < rows[j].seq })
	return rows, seen
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
	rows, seen := readRows(ctx, old)
	out.seen = seen

	v := ledger.Verifier{Opts: ledger.ChainOptions{Key: s.pub}}
	var batch [][2]any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.insertRaw(ctx, batch)
		batch = batch[:0]
		return err
	}
	for _, r := range rows {
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
			continue
		}
		batch = append(batch, [2]any{r.body, r.created})
		out.last, out.lastHash = r.seq, e.Hash()
		out.n++
		if len(batch) == 1000 {
			if err := flush(); err != nil {
				break
			}
		}
	}
	if err := flush(); err != nil {
		// Nothing half-copied stays: start the new chain empty rather than with an unknown part.
		s.log.Error("salvage: insert", "err", err)
		if _, derr := s.w.ExecContext(ctx, "DELETE FROM entries"); derr != nil {
			s.log.Error("salvage: undo", "err", derr)
		}
		return salvaged{seen: seen}
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

// ReadQuarantine reads every row that can still be read from the quarantined database at path
// (as salvage does: scans, then lookups past damage), on a copy so that the file stays as found,
// and checks each entry's encoding and signature. It does not check the chain.
func ReadQuarantine(ctx context.Context, path string) ([]QuarantinedRow, error) {
	db, cleanup, err := openCopy(filepath.Dir(path), path)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	rows, _ := readRows(ctx, db)
	if len(rows) == 0 {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM entries").Scan(&n); err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
		}
	}
	out := make([]QuarantinedRow, 0, len(rows))
	for _, r := range rows {
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
		out = append(out, q)
	}
	return out, ctx.Err()
}
