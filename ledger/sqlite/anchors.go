package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/chargegate/chargegate/ledger"
)

const anchorCols = "first, last, root, payload, block_id, block, state, milestone, updated_ns"

// PutAnchor inserts or updates the anchor starting at a.First. A stored anchor with the same
// First but another Last or Root, or an overlapping range, is ErrAnchorConflict (never two anchors
// for one range); a confirmed anchor stays confirmed. When a.State is AnchorConfirmed the same
// transaction acknowledges sink ledger.SinkLedger through a.Last.
func (s *Store) PutAnchor(ctx context.Context, a ledger.AnchorRecord) error {
	if a.First == 0 || a.Last < a.First {
		return fmt.Errorf("put anchor %d-%d: bad range", a.First, a.Last)
	}
	if a.State < ledger.AnchorBuilt || a.State > ledger.AnchorConfirmed {
		return fmt.Errorf("put anchor %d-%d: bad state %d", a.First, a.Last, a.State)
	}
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = s.opts.Now()
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin put anchor: %w", err)
	}
	defer tx.Rollback()
	old, err := scanAnchor(tx.QueryRowContext(ctx, "SELECT "+anchorCols+" FROM anchors WHERE first = ?", a.First))
	switch {
	case errors.Is(err, ErrNotFound):
		var other uint64
		err := tx.QueryRowContext(ctx, "SELECT first FROM anchors WHERE first <= ? AND last >= ? LIMIT 1", a.Last, a.First).Scan(&other)
		if err == nil {
			return fmt.Errorf("put anchor %d-%d: %w: overlaps anchor at %d", a.First, a.Last, ErrAnchorConflict, other)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("check anchor overlap: %w", err)
		}
	case err != nil:
		return err
	case old.Last != a.Last || old.Root != a.Root:
		return fmt.Errorf("put anchor %d-%d: %w: stored %d-%d with another root", a.First, a.Last, ErrAnchorConflict, old.First, old.Last)
	case old.State == ledger.AnchorConfirmed && a.State != ledger.AnchorConfirmed:
		return fmt.Errorf("put anchor %d-%d: %w: already confirmed", a.First, a.Last, ErrAnchorConflict)
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO anchors ("+anchorCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "+
		"ON CONFLICT (first) DO UPDATE SET payload = excluded.payload, block_id = excluded.block_id, block = excluded.block, "+
		"state = excluded.state, milestone = excluded.milestone, updated_ns = excluded.updated_ns",
		a.First, a.Last, a.Root[:], nonNil(a.Payload), a.BlockID[:], nonNil(a.Block), int(a.State), a.Milestone, a.UpdatedAt.UnixNano())
	if err != nil {
		return fmt.Errorf("store anchor %d-%d: %w", a.First, a.Last, err)
	}
	if a.State == ledger.AnchorConfirmed {
		if _, err := tx.ExecContext(ctx, "INSERT INTO cursors (sink, through) VALUES (?, ?) "+
			"ON CONFLICT (sink) DO UPDATE SET through = max(through, excluded.through)", ledger.SinkLedger, a.Last); err != nil {
			return fmt.Errorf("ack ledger through %d: %w", a.Last, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit anchor %d-%d: %w", a.First, a.Last, err)
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

type rowScanner interface{ Scan(dest ...any) error }

func scanAnchor(row rowScanner) (ledger.AnchorRecord, error) {
	var a ledger.AnchorRecord
	var root, blockID []byte
	var state int
	var updated int64
	err := row.Scan(&a.First, &a.Last, &root, &a.Payload, &blockID, &a.Block, &state, &a.Milestone, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("read anchor: %w", err)
	}
	copy(a.Root[:], root)
	copy(a.BlockID[:], blockID)
	a.State = ledger.AnchorState(state)
	a.UpdatedAt = time.Unix(0, updated)
	return a, nil
}

// Anchors returns the anchors in state, ascending by First.
func (s *Store) Anchors(ctx context.Context, state ledger.AnchorState) ([]ledger.AnchorRecord, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+anchorCols+" FROM anchors WHERE state = ? ORDER BY first", int(state))
	if err != nil {
		return nil, fmt.Errorf("list anchors: %w", err)
	}
	defer rows.Close()
	var out []ledger.AnchorRecord
	for rows.Next() {
		a, err := scanAnchor(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list anchors: %w", err)
	}
	return out, nil
}

// LastAnchor returns the anchor with the highest First; false when there is none.
func (s *Store) LastAnchor(ctx context.Context) (ledger.AnchorRecord, bool, error) {
	a, err := scanAnchor(s.r.QueryRowContext(ctx, "SELECT "+anchorCols+" FROM anchors ORDER BY first DESC LIMIT 1"))
	if errors.Is(err, ErrNotFound) {
		return a, false, nil
	}
	return a, err == nil, err
}

// AnchorFor returns the anchor whose range covers seq, or ErrNotFound.
func (s *Store) AnchorFor(ctx context.Context, seq uint64) (ledger.AnchorRecord, error) {
	return anchorFor(ctx, s.r, seq)
}

func anchorFor(ctx context.Context, db *sql.DB, seq uint64) (ledger.AnchorRecord, error) {
	a, err := scanAnchor(db.QueryRowContext(ctx, "SELECT "+anchorCols+" FROM anchors WHERE first <= ? AND last >= ? ORDER BY first DESC LIMIT 1", seq, seq))
	if errors.Is(err, ErrNotFound) {
		return a, fmt.Errorf("anchor for %d: %w", seq, ErrNotFound)
	}
	return a, err
}
