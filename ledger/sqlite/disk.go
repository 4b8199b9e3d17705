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
	room, err := s.room(ctx)
	if err != nil {
		return err.Error()
	}
	if s.full {
		// Room for the reserve twice and the ballast again before the episode ends, so that
		// the store does not flap between full and not full.
		if need := 2*s.opts.DiskReserve + max(s.opts.Ballast, 0); room < need {
			return fmt.Sprintf("disk full: %d bytes of room, need %d", room, need)
		}
		s.full = false
		s.setupBallastLocked()
	}
	if room < s.opts.DiskReserve {
		s.full = true
		return fmt.Sprintf("disk full: %d bytes of room, reserve %d", room, s.opts.DiskReserve)
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

// short returns why an ordinary append must be refused, or "" when more than the reserve is
// left; s.mu is held.
func (s *Store) short(ctx context.Context) string {
	if s.full {
		// Leave the full state only through Admit's hysteresis (pressure).
		return s.pressure(ctx)
	}
	room, err := s.room(ctx)
	if err != nil {
		s.log.Warn("cannot measure free space", "err", err)
		return ""
	}
	if room < s.opts.DiskReserve {
		return fmt.Sprintf("%d bytes of room left, %d reserved for closing entries", room, s.opts.DiskReserve)
	}
	return ""
}

// room is how many bytes the database can still grow: the smaller of the filesystem's free
// space (the ballast is not free) and what max_page_count (Options.DiskLimit) leaves.
func (s *Store) room(ctx context.Context) (int64, error) {
	free, err := freeBytes(s.dir)
	if err != nil {
		return 0, err
	}
	var pages, freePages, maxPages, size int64
	for _, p := range []struct {
		name string
		v    *int64
	}{{"page_count", &pages}, {"freelist_count", &freePages}, {"max_page_count", &maxPages}, {"page_size", &size}} {
		if err := s.w.QueryRowContext(ctx, "PRAGMA "+p.name).Scan(p.v); err != nil {
			return 0, fmt.Errorf("read %s: %w", p.name, err)
		}
	}
	if s.opts.DiskLimit > 0 && maxPages != s.opts.DiskLimit/size && pages < s.opts.DiskLimit/size {
		// The pragma belongs to the connection; database/sql may have opened a new one.
		if err := s.applyDiskLimit(ctx); err != nil {
			return 0, err
		}
		maxPages = s.opts.DiskLimit / size
	}
	return min(free, (maxPages-pages+freePages)*size), nil
}

// applyDiskLimit sets max_page_count from Options.DiskLimit (SQLite keeps it at least the
// current size).
func (s *Store) applyDiskLimit(ctx context.Context) error {
	if s.opts.DiskLimit <= 0 {
		return nil
	}
	var size int64
	if err := s.w.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size); err != nil {
		return fmt.Errorf("read page_size: %w", err)
	}
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", s.opts.DiskLimit/size)); err != nil {
		return fmt.Errorf("set disk limit: %w", err)
	}
	return nil
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
