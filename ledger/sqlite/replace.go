package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chargegate/chargegate/ledger"
)

// replace moves the damaged database at path aside, opens a new one, copies every entry of the
// old one that still decodes and verifies, going past damaged ones (and, best effort, its
// state, commands, cursors, anchors and holes), then appends in one transaction a signed
// store_replaced event after the high-water mark and one entries_lost event for each hole the
// damage left between salvaged entries. s.mu is not held: this runs inside Open.
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
	sv := s.salvage(ctx, qpath)
	last := sv.last
	hs := s.head.state
	next := max(hs.highWater, last, sv.seen) + 1
	prev, known := hs.hash, hs.seq
	if last >= hs.seq || !haveHead {
		prev, known = sv.lastHash, last
	}
	s.seq, s.hash = next-1, prev
	why := fmt.Sprintf("moved %s aside: %s; salvaged %d entries through %d (%d damaged skipped); last known head %d; resuming at %d",
		filepath.Base(qpath), reason, sv.n, last, sv.skipped, known, next)
	detail := why
	if next > last+1 {
		detail = ledger.HoleDetail(last+1, next-1, why)
	} else if len(detail) > ledger.MaxDetail {
		detail = strings.ToValidUTF8(detail[:ledger.MaxDetail], "")
	}
	now := s.opts.Now().Round(0).UTC()
	recs := []ledger.Record{{Time: now, TimeStatus: ledger.TimeInformative, Kind: ledger.KindEvent,
		Event: ledger.EventStoreReplaced, Detail: detail}}
	// Each hole between salvaged entries is declared by its own signed event.
	for _, h := range sv.holes {
		recs = append(recs, ledger.Record{Time: now, TimeStatus: ledger.TimeInformative, Kind: ledger.KindEvent,
			Event: ledger.EventEntriesLost, Detail: ledger.HoleDetail(h.From, h.To, "damaged entries skipped by salvage of "+filepath.Base(qpath))})
	}
	s.mu.Lock()
	_, err := s.appendLocked(ctx, recs, nil)
	s.mu.Unlock()
	if err != nil {
		s.closeDB()
		return fmt.Errorf("record store replacement: %w", err)
	}
	s.log.Warn("ledger database replaced", "quarantined", qpath, "salvaged", sv.n, "skipped", sv.skipped, "holes", len(sv.holes), "resumed_at", next)
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// salvageTables copies state, remembered commands, cursors (capped at the salvaged head) and
// anchors, row by row, skipping whatever does not read.
func (s *Store) salvageTables(ctx context.Context, old *sql.DB, last uint64) {
	copyRows := func(query, insert string, ncols int, fix func([]any), args ...any) {
		rows, err := old.QueryContext(ctx, query, args...)
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
	copyRows("SELECT first, last, event, declared_by FROM holes WHERE declared_by <= ?", "INSERT OR IGNORE INTO holes (first, last, event, declared_by) VALUES (?, ?, ?, ?)", 4, nil, int64(last))
	copyRows("SELECT "+anchorCols+" FROM anchors", "INSERT OR IGNORE INTO anchors ("+anchorCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", 9, nil)
}
