package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chargegate/chargegate/ledger"
	"golang.org/x/sys/unix"
)

const ballastName = "ballast"

// Admit returns nil if a new charging session may start. At the disk budget, or while the disk
// is full, it returns ErrDiskBudget and (once per episode) records a signed disk_budget event;
// when space is back it records disk_recovered and admits again. Entries already acknowledged
// are never touched.
func (s *Store) Admit() error {
	ctx := context.Background()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if reason := s.pressure(ctx); reason != "" {
		s.episode = true
		if !s.alarmed {
			s.log.Error("refusing new sessions", "reason", reason)
			if _, err := s.appendLocked(ctx, []ledger.Record{s.alarmRecord(reason)}, nil); err != nil {
				s.log.Error("could not record disk alarm", "err", err)
			} else {
				s.alarmed = true
			}
		}
		return fmt.Errorf("%w: %s", ErrDiskBudget, reason)
	}
	if s.episode {
		var recs []ledger.Record
		if !s.alarmed {
			recs = append(recs, s.alarmRecord("disk was full; alarm recorded once space returned"))
		}
		rec := s.alarmRecord("space available again")
		rec.Event = ledger.EventDiskRecovered
		if _, err := s.appendLocked(ctx, append(recs, rec), nil); err != nil {
			return fmt.Errorf("%w: record recovery: %v", ErrDiskBudget, err)
		}
		s.episode, s.alarmed = false, false
		s.log.Info("disk space recovered; admitting sessions")
	}
	return nil
}

// pressure returns why new sessions must wait, or "" when there is room.
func (s *Store) pressure(ctx context.Context) string {
	if s.full {
		free, err := freeBytes(s.dir)
		if err != nil {
			return err.Error()
		}
		if need := 2 * max(s.opts.Ballast, 1<<20); free < need {
			return fmt.Sprintf("disk full: %d bytes free, need %d", free, need)
		}
		var pages, maxPages int64
		if err := s.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
			return "read page_count: " + err.Error()
		}
		if err := s.w.QueryRowContext(ctx, "PRAGMA max_page_count").Scan(&maxPages); err != nil {
			return "read max_page_count: " + err.Error()
		}
		if maxPages-pages < 16 {
			return fmt.Sprintf("database full: %d of %d pages", pages, maxPages)
		}
		s.full = false
		s.setupBallastLocked()
	}
	if s.opts.DiskBudget > 0 {
		used, err := s.usedBytes(ctx)
		if err != nil {
			return err.Error()
		}
		if used >= s.opts.DiskBudget {
			return fmt.Sprintf("store uses %d of %d bytes", used, s.opts.DiskBudget)
		}
	}
	return ""
}

// usedBytes is the size of the live database pages plus the WAL: pages freed by Prune count as free.
func (s *Store) usedBytes(ctx context.Context) (int64, error) {
	var pages, free, size int64
	if err := s.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return 0, fmt.Errorf("read page_count: %w", err)
	}
	if err := s.w.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
		return 0, fmt.Errorf("read freelist_count: %w", err)
	}
	if err := s.w.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size); err != nil {
		return 0, fmt.Errorf("read page_size: %w", err)
	}
	used := (pages - free) * size
	if st, err := os.Stat(filepath.Join(s.dir, DBFileName+"-wal")); err == nil {
		used += st.Size()
	}
	return used, nil
}

func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

func (s *Store) setupBallast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setupBallastLocked()
}

// setupBallastLocked makes sure the ballast file exists with its full size.
func (s *Store) setupBallastLocked() {
	if s.opts.Ballast < 0 {
		return
	}
	path := filepath.Join(s.dir, ballastName)
	if st, err := os.Stat(path); err == nil && st.Size() >= s.opts.Ballast {
		s.ballastOn = true
		return
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		s.log.Warn("no ballast file", "err", err)
		return
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, s.opts.Ballast); err != nil {
		s.log.Warn("no ballast file", "err", err)
		f.Close()
		os.Remove(path)
		return
	}
	if err := f.Sync(); err != nil {
		s.log.Warn("ballast not synced", "err", err)
	}
	s.ballastOn = true
}

// releaseBallast deletes the ballast so that the alarm and the pending append fit.
func (s *Store) releaseBallast() {
	if !s.ballastOn {
		return
	}
	if err := os.Remove(filepath.Join(s.dir, ballastName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Error("release ballast", "err", err)
		return
	}
	s.ballastOn = false
}

// pruneBatch bounds one delete transaction.
const pruneBatch = 10000

// Prune deletes entries that are anchored and confirmed, acknowledged by every sink, older
// than the retention window, and not the head. It returns how many it deleted.
func (s *Store) Prune(ctx context.Context) (int, error) {
	s.mu.Lock()
	head := s.seq
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return 0, ErrClosed
	}
	through := head
	for _, sink := range s.opts.Sinks {
		c, err := s.cursor(ctx, s.w, sink)
		if err != nil {
			return 0, err
		}
		through = min(through, c)
	}
	if through == head && head > 0 {
		through = head - 1
	}
	cutoff := s.opts.Now().Add(-s.opts.Retention).UnixNano()
	total := 0
	for {
		res, err := s.w.ExecContext(ctx, `DELETE FROM entries WHERE seq IN (
			SELECT e.seq FROM entries e WHERE e.seq <= ? AND e.created_ns <= ?
			AND EXISTS (SELECT 1 FROM anchors a WHERE a.state = ? AND a.first <= e.seq AND a.last >= e.seq)
			ORDER BY e.seq LIMIT ?)`, through, cutoff, int(ledger.AnchorConfirmed), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("prune entries: %w", err)
		}
		n, _ := res.RowsAffected()
		total += int(n)
		if n < pruneBatch || ctx.Err() != nil {
			return total, nil
		}
	}
}

func mkdirSync(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return ledger.SyncDir(filepath.Dir(dir))
}
