package sqlite

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/chargegate/chargegate/ledger"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// Append signs recs as the next entries of the chain and stores them in one transaction. The
// entries are returned (and may be counted, shown or sent) only after the commit, which with
// synchronous=FULL has reached the disk.
//
// Disk pressure: when less room than Options.DiskReserve is left (or the disk filled), a group
// with any ordinary record (a reading, a session begin, an ordinary event) is refused with an
// error wrapping ErrDiskFull, and the store records one signed disk_budget event per episode.
// A group of only closing records (ledger.Record.Closing: session ends, gaps, the store's own
// alarms) is written from the reserve; if the disk is full even so, the store frees its ballast
// and retries once. Nothing acknowledged is ever dropped; a refused group was never acknowledged.
func (s *Store) Append(ctx context.Context, recs ...ledger.Record) ([]ledger.Entry, error) {
	return s.append(ctx, recs, nil)
}

// AppendState is Append with a state key written in the same transaction: value stored under
// key, or key deleted when value is nil. Either the entries and the state change both commit or
// neither does, so a crash can never leave, say, a session-end entry in the chain while the
// session is still persisted as running. With no records it only writes the state.
func (s *Store) AppendState(ctx context.Context, recs []ledger.Record, key string, value []byte) ([]ledger.Entry, error) {
	if key == "" {
		return nil, errors.New("append state: empty key")
	}
	if len(recs) == 0 {
		if value == nil {
			return nil, s.DeleteState(ctx, key)
		}
		return nil, s.PutState(ctx, key, value)
	}
	if value != nil {
		value = slices.Clone(value)
	}
	return s.append(ctx, recs, &stateOp{key: key, value: value})
}

func (s *Store) append(ctx context.Context, recs []ledger.Record, state *stateOp) ([]ledger.Entry, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	recs = slices.Clone(recs) // normalised below; the caller's slice stays as it was
	for i := range recs {
		recs[i].Time = recs[i].Time.Round(0).UTC()
		if err := recs[i].Validate(); err != nil {
			return nil, fmt.Errorf("append record %d: %w", i, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	closing := true
	for i := range recs {
		closing = closing && recs[i].Closing()
	}
	if !closing {
		if reason := s.short(ctx); reason != "" {
			s.full, s.episode = true, true
			s.raiseAlarm(ctx, reason)
			return nil, fmt.Errorf("%w: %s", ErrDiskFull, reason)
		}
	}
	entries, err := s.appendLocked(ctx, recs, state)
	if err == nil || !isDiskFull(err) {
		return entries, err
	}
	s.log.Error("disk full while appending", "err", err, "closing", closing)
	s.full, s.episode = true, true
	if !closing {
		s.raiseAlarm(ctx, "disk full: "+err.Error())
		return nil, fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	// Closing records must go in: free the ballast and retry once, with the alarm if it is
	// not recorded yet.
	s.releaseBallast()
	all := recs
	if !s.alarmed {
		all = append(recs[:len(recs):len(recs)], s.alarmRecord("disk full: "+err.Error()))
	}
	entries, err = s.appendLocked(ctx, all, state)
	if err != nil {
		if isDiskFull(err) {
			err = fmt.Errorf("%w: %w", ErrDiskFull, err)
		}
		return nil, err
	}
	if len(all) > len(recs) {
		s.alarmed = true
	}
	return entries[:len(recs)], nil
}

// raiseAlarm records the episode's disk_budget event once, from the reserve (freeing the
// ballast if even that is needed); s.mu is held.
func (s *Store) raiseAlarm(ctx context.Context, reason string) {
	if s.alarmed {
		return
	}
	s.log.Error("disk full: refusing ordinary entries", "reason", reason)
	_, err := s.appendLocked(ctx, []ledger.Record{s.alarmRecord(reason)}, nil)
	if err != nil && isDiskFull(err) {
		s.releaseBallast()
		_, err = s.appendLocked(ctx, []ledger.Record{s.alarmRecord(reason)}, nil)
	}
	if err != nil {
		s.log.Error("could not record disk alarm", "err", err)
		return
	}
	s.alarmed = true
}

// stateOp is a state key written (value non-nil) or deleted (value nil) in an append's transaction.
type stateOp struct {
	key   string
	value []byte
}

// appendLocked builds, signs and commits entries for recs, and state if set, in one transaction;
// s.mu is held.
func (s *Store) appendLocked(ctx context.Context, recs []ledger.Record, state *stateOp) ([]ledger.Entry, error) {
	entries := make([]ledger.Entry, len(recs))
	hashes := make([][32]byte, len(recs))
	encs := make([][]byte, len(recs))
	prev, seq := s.hash, s.seq
	// The signature is not part of the encoding, so the chain of hashes can be computed first
	// and the signatures (the expensive part) made in parallel.
	for i, r := range recs {
		seq++
		entries[i] = ledger.Entry{Version: ledger.FormatVersion(r), DeviceKey: s.pub, Seq: seq, Prev: prev, Record: r}
		encs[i] = entries[i].Encode()
		hashes[i] = sha256.Sum256(encs[i])
		prev = hashes[i]
	}
	s.signAll(entries, hashes, encs)
	if seq > s.head.state.highWater {
		st := s.head.state
		st.highWater = seq + s.opts.Reserve
		if err := s.head.write(st, true); err != nil {
			return nil, fmt.Errorf("reserve sequence numbers: %w", err)
		}
	}
	var holes []ledger.Hole
	for i := range entries {
		if h, ok := declaredHole(&entries[i]); ok {
			holes = append(holes, h)
		}
	}
	if err := s.commit(ctx, entries[0].Seq, encs, state, holes); err != nil {
		s.resyncHead()
		return nil, err
	}
	s.seq, s.hash = seq, prev
	for _, b := range encs {
		s.roomEstimate -= 2 * int64(len(b)) // the row and its share of b-tree and WAL pages
	}
	st := s.head.state
	st.seq, st.hash = seq, prev
	if err := s.head.write(st, false); err != nil {
		// The commit stands; the head file is a second line of defence and catches up next time.
		s.log.Warn("head file not updated", "err", err)
	}
	return entries, nil
}

// resyncHead reloads the head from the database after a failed commit: if the failure was
// reported after SQLite had in fact committed (an interrupted COMMIT), the in-memory head
// would otherwise lag and every later append would collide with the stored rows.
func (s *Store) resyncHead() {
	var body []byte
	err := s.w.QueryRowContext(context.Background(), "SELECT body FROM entries ORDER BY seq DESC LIMIT 1").Scan(&body)
	if err != nil {
		return
	}
	e, err := ledger.DecodeEntry(body)
	if err != nil || e.Seq <= s.seq {
		return
	}
	s.log.Warn("append reported failure but committed; head resynchronised", "seq", e.Seq)
	s.seq, s.hash = e.Seq, e.Hash()
}

// signAll signs every entry over its hash and appends the signature to its encoding, using
// all CPUs for large groups.
func (s *Store) signAll(entries []ledger.Entry, hashes [][32]byte, encs [][]byte) {
	sign := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			entries[i].Signature = ed25519.Sign(s.opts.Key, hashes[i][:])
			encs[i] = append(encs[i], entries[i].Signature...)
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if len(entries) < 64 || workers == 1 {
		sign(0, len(entries))
		return
	}
	var wg sync.WaitGroup
	chunk := (len(entries) + workers - 1) / workers
	for lo := 0; lo < len(entries); lo += chunk {
		wg.Go(func() { sign(lo, min(lo+chunk, len(entries))) })
	}
	wg.Wait()
}

// declaredHole returns the hole an entry declares, if it is a declaring event with a range.
func declaredHole(e *ledger.Entry) (ledger.Hole, bool) {
	if e.Kind != ledger.KindEvent {
		return ledger.Hole{}, false
	}
	switch e.Event {
	case ledger.EventSeqSkipped, ledger.EventEntriesLost, ledger.EventStoreReplaced:
	default:
		return ledger.Hole{}, false
	}
	from, to, ok := ledger.ParseHole(e.Detail)
	if !ok || to >= e.Seq {
		return ledger.Hole{}, false
	}
	return ledger.Hole{From: from, To: to, Event: e.Event, DeclaredBy: e.Seq}, true
}

func (s *Store) commit(ctx context.Context, first uint64, bodies [][]byte, st *stateOp, holes []ledger.Hole) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin append: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO entries (seq, body, created_ns) VALUES (?, ?, ?)")
	if err != nil {
		return fmt.Errorf("prepare append: %w", err)
	}
	defer stmt.Close()
	now := s.opts.Now().UnixNano()
	for i, b := range bodies {
		if _, err := stmt.ExecContext(ctx, first+uint64(i), b, now); err != nil {
			return fmt.Errorf("insert entry %d: %w", first+uint64(i), err)
		}
	}
	for _, h := range holes {
		if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO holes (first, last, event, declared_by) VALUES (?, ?, ?, ?)",
			h.From, h.To, h.Event, h.DeclaredBy); err != nil {
			return fmt.Errorf("record hole %d-%d: %w", h.From, h.To, err)
		}
	}
	if st != nil {
		if err := putState(ctx, tx, st.key, st.value); err != nil {
			return err
		}
	}
	if s.beforeCommit != nil {
		if err := s.beforeCommit(); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit append: %w", err)
	}
	return nil
}

func (s *Store) alarmRecord(detail string) ledger.Record {
	if len(detail) > ledger.MaxDetail {
		detail = detail[:ledger.MaxDetail]
	}
	return ledger.Record{
		Time: s.opts.Now().Round(0).UTC(), TimeStatus: ledger.TimeInformative, Kind: ledger.KindEvent,
		Event: ledger.EventDiskBudget, Detail: strings.ToValidUTF8(detail, ""),
	}
}

// isDiskFull reports whether err means the disk (or the database's page limit) is full.
func isDiskFull(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrFull {
		return true
	}
	return errors.Is(err, syscall.ENOSPC)
}
