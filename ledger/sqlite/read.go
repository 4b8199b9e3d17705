package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/chargegate/chargegate/ledger"
)

// Entry returns the entry with sequence number seq, or ErrNotFound (never stored, or pruned).
func (s *Store) Entry(ctx context.Context, seq uint64) (ledger.Entry, error) {
	var body []byte
	err := s.r.QueryRowContext(ctx, "SELECT body FROM entries WHERE seq = ?", seq).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.Entry{}, fmt.Errorf("entry %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return ledger.Entry{}, fmt.Errorf("read entry %d: %w", seq, err)
	}
	e, err := ledger.DecodeEntry(body)
	if err != nil {
		return ledger.Entry{}, fmt.Errorf("decode entry %d: %w", seq, err)
	}
	return e, nil
}

// Entries returns up to max entries with seq >= from, ascending.
func (s *Store) Entries(ctx context.Context, from uint64, max int) ([]ledger.Entry, error) {
	return readRange(ctx, s.r, from, max)
}

func readRange(ctx context.Context, db *sql.DB, from uint64, max int) ([]ledger.Entry, error) {
	if max <= 0 {
		return nil, nil
	}
	rows, err := db.QueryContext(ctx, "SELECT seq, body FROM entries WHERE seq >= ? ORDER BY seq LIMIT ?", from, max)
	if err != nil {
		return nil, fmt.Errorf("read entries from %d: %w", from, err)
	}
	defer rows.Close()
	out := make([]ledger.Entry, 0, min(max, 1024))
	for rows.Next() {
		var seq uint64
		var body []byte
		if err := rows.Scan(&seq, &body); err != nil {
			return out, fmt.Errorf("read entries from %d: %w", from, err)
		}
		e, err := ledger.DecodeEntry(body)
		if err != nil {
			return out, &ledger.ChainError{Seq: seq, Err: err}
		}
		if e.Seq != seq {
			return out, &ledger.ChainError{Seq: seq, Err: fmt.Errorf("row holds entry %d", e.Seq)}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("read entries from %d: %w", from, err)
	}
	return out, nil
}

// all iterates over every stored entry with seq >= from in ascending order, reading in pages.
func all(ctx context.Context, db *sql.DB, from uint64) iter.Seq2[ledger.Entry, error] {
	return func(yield func(ledger.Entry, error) bool) {
		for {
			page, err := readRange(ctx, db, from, 4096)
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if err != nil {
				yield(ledger.Entry{}, err)
				return
			}
			if len(page) < 4096 {
				return
			}
			from = page[len(page)-1].Seq + 1
		}
	}
}

// All iterates over every stored entry in ascending order (for verification).
func (s *Store) All(ctx context.Context) iter.Seq2[ledger.Entry, error] { return all(ctx, s.r, 0) }

// DeclaredHole returns the declared hole (ledger.Hole) that contains seq, or ErrNotFound: seq
// has no entry because a signed seq_skipped, entries_lost or store_replaced event says so.
func (s *Store) DeclaredHole(ctx context.Context, seq uint64) (ledger.Hole, error) {
	var h ledger.Hole
	err := s.r.QueryRowContext(ctx, "SELECT first, last, event, declared_by FROM holes WHERE first <= ? ORDER BY first DESC LIMIT 1", seq).
		Scan(&h.From, &h.To, &h.Event, &h.DeclaredBy)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && h.To < seq) {
		return ledger.Hole{}, fmt.Errorf("hole at %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return ledger.Hole{}, fmt.Errorf("read hole at %d: %w", seq, err)
	}
	return h, nil
}

func (s *Store) knownSink(sink string) error {
	if !slices.Contains(s.opts.Sinks, sink) {
		return fmt.Errorf("%w %q", ErrUnknownSink, sink)
	}
	return nil
}

func (s *Store) cursor(ctx context.Context, db *sql.DB, sink string) (uint64, error) {
	if err := s.knownSink(sink); err != nil {
		return 0, err
	}
	var through uint64
	if err := db.QueryRowContext(ctx, "SELECT through FROM cursors WHERE sink = ?", sink).Scan(&through); err != nil {
		return 0, fmt.Errorf("read cursor %s: %w", sink, err)
	}
	return through, nil
}

// Pending returns up to max entries after the sink's cursor, ascending.
func (s *Store) Pending(ctx context.Context, sink string, max int) ([]ledger.Entry, error) {
	c, err := s.cursor(ctx, s.r, sink)
	if err != nil {
		return nil, err
	}
	return s.Entries(ctx, c+1, max)
}

// Ack records that sink delivered every entry through seq. The cursor never moves back; acking
// beyond the head is an error.
func (s *Store) Ack(ctx context.Context, sink string, through uint64) error {
	if err := s.knownSink(sink); err != nil {
		return err
	}
	if head, _ := s.Head(); through > head {
		return fmt.Errorf("ack %s through %d: beyond head %d", sink, through, head)
	}
	if _, err := s.w.ExecContext(ctx, "UPDATE cursors SET through = max(through, ?) WHERE sink = ?", through, sink); err != nil {
		return fmt.Errorf("ack %s through %d: %w", sink, through, err)
	}
	return nil
}

// Backlog returns how many stored entries the sink has not acknowledged.
func (s *Store) Backlog(ctx context.Context, sink string) (int64, error) {
	c, err := s.cursor(ctx, s.r, sink)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM entries WHERE seq > ?", c).Scan(&n); err != nil {
		return 0, fmt.Errorf("count backlog %s: %w", sink, err)
	}
	return n, nil
}

// PutState durably stores a small value under key (sessions, OCMF pagination); it returns after
// commit. A nil value stores an empty one; DeleteState removes a key.
func (s *Store) PutState(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	return putState(ctx, s.w, key, value)
}

// DeleteState removes key; a missing key is not an error.
func (s *Store) DeleteState(ctx context.Context, key string) error {
	return putState(ctx, s.w, key, nil)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// putState writes value under key, or deletes key when value is nil.
func putState(ctx context.Context, db execer, key string, value []byte) error {
	if value == nil {
		if _, err := db.ExecContext(ctx, "DELETE FROM state WHERE key = ?", key); err != nil {
			return fmt.Errorf("delete state %s: %w", key, err)
		}
		return nil
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value); err != nil {
		return fmt.Errorf("put state %s: %w", key, err)
	}
	return nil
}

// GetState returns the value stored under key, or ErrNotFound.
func (s *Store) GetState(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, "SELECT value FROM state WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("state %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get state %s: %w", key, err)
	}
	return v, nil
}
