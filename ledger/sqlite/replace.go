package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/chargegate/chargegate/ledger"
)

// replace moves the damaged database at path aside, opens a new one, copies every entry of the
// old one that still decodes, verifies and links (and, best effort, its state, cursors and
// anchors), then appends a signed store_replaced event after the high-water mark. s.mu is not
// held: this runs inside Open.
func (s *Store) replace(ctx context.Context, path, reason string, haveHead bool) error {
	qpath := path + ".quarantine-" + s.opts.Now().UTC().Format("20060102T150405Z")
	for i := 1; exists(qpath) || exists(qpath+"-wal"); i++ {
		qpath = fmt.Sprintf("%s.quarantine-%s-%d", path, s.opts.Now().UTC().Format("20060102T150405Z"), i)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if !exists(path + suffix) {
			continue
		}
		if err := os.Rename(path+suffix, qpath+suffix); err != nil {
			return fmt.Errorf("quarantine %s: %w", path+suffix, err)
		}
	}
	if err := ledger.SyncDir(s.dir); err != nil {
		return err
	}
	if _, _, err := s.tryOpen(ctx, path); err != nil {
		s.closeDB()
		return fmt.Errorf("open replacement database: %w", err)
	}
	n, last, lastHash, seen := s.salvage(ctx, qpath)
	hs := s.head.state
	next := max(hs.highWater, last, seen) + 1
	prev, known := hs.hash, hs.seq
	if last >= hs.seq || !haveHead {
		prev, known = lastHash, last
	}
	s.seq, s.hash = next-1, prev
	detail := fmt.Sprintf("moved %s aside: %s; salvaged %d entries through %d; last known head %d; resuming at %d",
		filepath.Base(qpath), reason, n, last, known, next)
	if len(detail) > ledger.MaxDetail {
		detail = strings.ToValidUTF8(detail[:ledger.MaxDetail], "")
	}
	rec := ledger.Record{Time: s.opts.Now().Round(0).UTC(), TimeStatus: ledger.TimeInformative, Kind: ledger.KindEvent,
		Event: ledger.EventStoreReplaced, Detail: detail}
	s.mu.Lock()
	_, err := s.appendLocked(ctx, []ledger.Record{rec}, nil)
	s.mu.Unlock()
	if err != nil {
		s.closeDB()
		return fmt.Errorf("record store replacement: %w", err)
	}
	s.log.Warn("ledger database replaced", "quarantined", qpath, "salvaged", n, "resumed_at", next)
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// salvage copies what it can from the quarantined database into the open one. It works on a
// copy so that the quarantined files stay exactly as found.
// seen is the highest sequence number the old database still shows, salvaged or not.
func (s *Store) salvage(ctx context.Context, qpath string) (n int, last uint64, lastHash [32]byte, seen uint64) {
	if st, err := os.Stat(qpath); err != nil || st.Size() == 0 {
		return 0, 0, lastHash, 0
	}
	tmp, err := os.MkdirTemp(s.dir, "salvage-")
	if err != nil {
		s.log.Error("salvage: no temp dir", "err", err)
		return 0, 0, lastHash, 0
	}
	defer os.RemoveAll(tmp)
	cp := filepath.Join(tmp, "old.db")
	for _, suffix := range []string{"", "-wal"} {
		if exists(qpath + suffix) {
			if err := copyFile(qpath+suffix, cp+suffix); err != nil {
				s.log.Error("salvage: copy", "err", err)
				return 0, 0, lastHash, 0
			}
		}
	}
	old, err := sql.Open("sqlite3", "file:"+cp+"?_busy_timeout=1000")
	if err != nil {
		return 0, 0, lastHash, 0
	}
	defer old.Close()
	old.SetMaxOpenConns(1)
	var maxSeq sql.NullInt64
	if old.QueryRowContext(ctx, "SELECT max(seq) FROM entries").Scan(&maxSeq) == nil && maxSeq.Valid {
		seen = uint64(maxSeq.Int64)
	}

	v := ledger.Verifier{Opts: ledger.ChainOptions{Key: s.pub}}
	var batch [][2]any
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		err := s.insertRaw(ctx, batch)
		batch = batch[:0]
		if err != nil {
			s.log.Error("salvage: insert", "err", err)
			return false
		}
		return true
	}
	rows, err := old.QueryContext(ctx, "SELECT seq, body, created_ns FROM entries ORDER BY seq")
	if err == nil {
		for rows.Next() {
			var seq uint64
			var body []byte
			var created int64
			if rows.Scan(&seq, &body, &created) != nil {
				break
			}
			e, err := ledger.DecodeEntry(body)
			if err != nil || e.Seq != seq || v.Add(&e) != nil {
				s.log.Warn("salvage stops at a bad entry", "seq", seq)
				break
			}
			batch = append(batch, [2]any{body, created})
			last, lastHash = seq, e.Hash()
			n++
			if len(batch) == 1000 && !flush() {
				break
			}
		}
		rows.Close()
	}
	if !flush() {
		n, last, lastHash = 0, 0, [32]byte{}
	}
	s.salvageTables(ctx, old, last)
	return n, last, lastHash, seen
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

// salvageTables copies state, remembered commands, cursors (capped at the salvaged head) and
// anchors, row by row, skipping whatever does not read.
func (s *Store) salvageTables(ctx context.Context, old *sql.DB, last uint64) {
	copyRows := func(query, insert string, ncols int, fix func([]any)) {
		rows, err := old.QueryContext(ctx, query)
		if err != nil {
			return
		}
		defer rows.Close()
		for rows.Next() {
			vals := make([]any, ncols)
			ptrs := make([]any, ncols)
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if rows.Scan(ptrs...) != nil {
				return
			}
			if fix != nil {
				fix(vals)
			}
			if _, err := s.w.ExecContext(ctx, insert, vals...); err != nil {
				s.log.Warn("salvage: row skipped", "err", err)
			}
		}
	}
	copyRows("SELECT key, value FROM state", "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", 2, nil)
	copyRows("SELECT request_id, expires_ns FROM commands", "INSERT OR IGNORE INTO commands (request_id, expires_ns) VALUES (?, ?)", 2, nil)
	copyRows("SELECT sink, through FROM cursors", "INSERT OR REPLACE INTO cursors (sink, through) VALUES (?, ?)", 2, func(v []any) {
		if t, ok := v[1].(int64); ok && uint64(t) > last {
			v[1] = int64(last)
		}
	})
	copyRows("SELECT "+anchorCols+" FROM anchors", "INSERT OR IGNORE INTO anchors ("+anchorCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", 9, nil)
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
