package sqlite

import (
	"context"
	"fmt"
	"time"
)

// MaxRequestID bounds the request IDs RememberCommand stores.
const MaxRequestID = 128

// RememberCommand records that the operator command requestID, valid until expires, is being
// executed. fresh is true the first time an ID is seen within its validity, false when it is
// already stored (a replay, also after any number of restarts). The row and the pruning of
// every expired one commit in one transaction before RememberCommand returns, so an ID it
// called fresh is never fresh again while it is valid. An expiry at or before the store's clock
// is not stored and reported as not fresh: the command is expired, not new (callers check
// expiry first to answer "expired" rather than "replayed"). It does not write to the chain.
func (s *Store) RememberCommand(ctx context.Context, requestID string, expires time.Time) (fresh bool, err error) {
	if requestID == "" || len(requestID) > MaxRequestID {
		return false, fmt.Errorf("remember command: request ID of %d bytes (1..%d)", len(requestID), MaxRequestID)
	}
	now := s.opts.Now().UnixNano()
	if expires.UnixNano() <= now {
		return false, nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin remember command: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM commands WHERE expires_ns <= ?", now); err != nil {
		return false, fmt.Errorf("prune expired commands: %w", err)
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO commands (request_id, expires_ns) VALUES (?, ?) ON CONFLICT (request_id) DO NOTHING",
		requestID, expires.UnixNano())
	if err != nil {
		return false, fmt.Errorf("remember command %q: %w", requestID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("remember command %q: %w", requestID, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit remember command: %w", err)
	}
	return n == 1, nil
}
