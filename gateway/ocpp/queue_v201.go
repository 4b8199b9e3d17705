package ocpp

import (
	"context"
	"fmt"
)

// event201 queues one OCPP 2.0.1 TransactionEvent of session in a single SQLite transaction:
// a Started registers the session (and is ignored, reported false, when the session is known
// already), any other event of a session that is not known or has ended is ignored, an Ended
// marks the session ended. build gets the event's seqNo (0 for the Started, then one more per
// event of the same transaction, kept in tx.seq_no) and returns the request as sent.
func (q *Queue) event201(ctx context.Context, session, idToken, eventType string, build func(seqNo int) ([]byte, error)) (bool, error) {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("queue TransactionEvent %s of %s: %w", eventType, session, err)
	}
	defer tx.Rollback()
	if eventType == eventStarted {
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO tx(session, id_tag) VALUES(?, ?)`, session, idToken)
		if err != nil {
			return false, fmt.Errorf("queue TransactionEvent %s of %s: %w", eventType, session, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return false, nil
		}
	}
	var ended bool
	var seq int
	if err := tx.QueryRowContext(ctx, `SELECT ended, seq_no FROM tx WHERE session = ?`, session).Scan(&ended, &seq); err != nil {
		return false, fmt.Errorf("queue TransactionEvent %s of %s: %w", eventType, session, err)
	}
	if ended {
		return false, nil
	}
	payload, err := build(seq)
	if err != nil {
		return false, fmt.Errorf("queue TransactionEvent %s of %s: %w", eventType, session, err)
	}
	upd := `UPDATE tx SET seq_no = seq_no + 1 WHERE session = ?`
	if eventType == eventEnded {
		upd = `UPDATE tx SET seq_no = seq_no + 1, ended = 1 WHERE session = ?`
	}
	if _, err := tx.ExecContext(ctx, upd, session); err != nil {
		return false, fmt.Errorf("queue TransactionEvent %s of %s: %w", eventType, session, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox(session, action, payload) VALUES(?, ?, ?)`, session, actionTransactionEvent, payload); err != nil {
		return false, fmt.Errorf("queue TransactionEvent %s of %s: %w", eventType, session, err)
	}
	return true, tx.Commit()
}

// txMessages201 counts the TransactionEvents waiting in the outbox: session's, or every
// transaction's when session is "".
func (q *Queue) txMessages201(ctx context.Context, session string) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE action = ? AND (? = '' OR session = ?)`,
		actionTransactionEvent, session, session).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count queued TransactionEvents: %w", err)
	}
	return n, nil
}
