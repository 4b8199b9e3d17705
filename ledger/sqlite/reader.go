package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"os"
	"path/filepath"

	"github.com/chargegate/chargegate/ledger"
)

// Reader reads a store's entries without writing anything: no migrations, no quarantine, no
// head file. It is what `chargegate verify` uses, also beside a running gateway.
type Reader struct {
	db *sql.DB
}

// OpenReader opens dir/chargegate.db for reading; it does not create a missing database.
func OpenReader(ctx context.Context, dir string) (*Reader, error) {
	path := filepath.Join(dir, DBFileName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open ledger database: %w", err)
	}
	db, err := sql.Open("sqlite3", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("open ledger database: %w", err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger database: %w", err)
	}
	return &Reader{db: db}, nil
}

// All iterates over every stored entry in ascending order.
func (r *Reader) All(ctx context.Context) iter.Seq2[ledger.Entry, error] { return all(ctx, r.db, 0) }

// Entries returns up to max entries with Seq >= from in ascending order.
func (r *Reader) Entries(ctx context.Context, from uint64, max int) ([]ledger.Entry, error) {
	return readRange(ctx, r.db, from, max)
}

// AnchorFor returns the anchor whose range covers seq, or ErrNotFound.
func (r *Reader) AnchorFor(ctx context.Context, seq uint64) (ledger.AnchorRecord, error) {
	return anchorFor(ctx, r.db, seq)
}

// Close closes the database.
func (r *Reader) Close() error { return r.db.Close() }
