package ocpp

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	_ "github.com/mattn/go-sqlite3" // the database/sql driver "sqlite3"
)

// Queue is the charge point's durable state in its own SQLite file (ocpp.db): the outbox of
// transaction messages, the session → transactionId mapping and the configuration keys the
// CSMS changed. Its format is documented in doc.go ("Disk format").
type Queue struct {
	db *sql.DB
}

// queued is one transaction message waiting in the outbox.
type queued struct {
	ID       int64
	Session  string
	Action   string
	Payload  []byte
	Attempts int
}

var migrations = []string{
	`CREATE TABLE outbox (
		id       INTEGER PRIMARY KEY AUTOINCREMENT,
		session  TEXT NOT NULL,
		action   TEXT NOT NULL,
		payload  BLOB NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE tx (
		session        TEXT PRIMARY KEY,
		id_tag         TEXT NOT NULL,
		transaction_id INTEGER,
		ended          INTEGER NOT NULL DEFAULT 0,
		dropped        INTEGER NOT NULL DEFAULT 0
	);
	CREATE UNIQUE INDEX tx_transaction_id ON tx(transaction_id);
	CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
	// 2: the Local Authorization List and the authorization cache (OCPP 1.6 §3.5).
	`CREATE TABLE local_list (
		id_tag        TEXT PRIMARY KEY,
		status        TEXT NOT NULL,
		expiry        TEXT NOT NULL DEFAULT '',
		parent_id_tag TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE auth_cache (
		id_tag        TEXT PRIMARY KEY,
		status        TEXT NOT NULL,
		expiry        TEXT NOT NULL DEFAULT '',
		parent_id_tag TEXT NOT NULL DEFAULT ''
	);`,
	// 3: installed charging profiles (Smart Charging), one JSON document each.
	`CREATE TABLE charging_profile (id INTEGER PRIMARY KEY, profile TEXT NOT NULL);`,
	// 4: security events kept until delivered; installed certificates (Security Whitepaper).
	`CREATE TABLE security_event (id INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);
	CREATE TABLE certificate (
		serial           TEXT NOT NULL,
		issuer_name_hash TEXT NOT NULL,
		issuer_key_hash  TEXT NOT NULL,
		type             TEXT NOT NULL,
		pem              TEXT NOT NULL,
		PRIMARY KEY (issuer_name_hash, issuer_key_hash, serial)
	);`,
	// 5: the OCPP 2.0.1 face's per-transaction TransactionEvent seqNo (the next one to give).
	`ALTER TABLE tx ADD COLUMN seq_no INTEGER NOT NULL DEFAULT 0;`,
	// 6: delivered security events stay (sent = 1) for GetLog SecurityLog, within the same
	// bound of maxSecurityEvents rows.
	`ALTER TABLE security_event ADD COLUMN sent INTEGER NOT NULL DEFAULT 0;`,
	// 7: when an authorization cache entry was last stored or used (Unix ms), for the OCPP
	// 2.0.1 AuthCacheCtrlr.LifeTime; 0 for entries from before (unused once a lifetime applies).
	`ALTER TABLE auth_cache ADD COLUMN used_at INTEGER NOT NULL DEFAULT 0;`,
}

// OpenQueue opens (or creates, mode 0600) the queue file at path. synchronous=FULL: in WAL mode
// NORMAL may roll back committed transactions on power loss, and a queued StopTransaction is
// billing data; one connection, so there is one writer.
func OpenQueue(ctx context.Context, path string) (*Queue, error) {
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	}
	v := url.Values{}
	v.Set("_journal_mode", "WAL")
	v.Set("_sync", "FULL")
	v.Set("_busy_timeout", "5000")
	v.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+v.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	q := &Queue{db: db}
	if err := q.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return q, nil
}

func (q *Queue) init(ctx context.Context) error {
	var mode string
	if err := q.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	var sync int
	if err := q.db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if sync != 2 {
		return fmt.Errorf("synchronous is %d, want 2 (FULL)", sync)
	}
	var version int
	if err := q.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read user_version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this program's %d", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		tx, err := q.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate to %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to %d: %w", i+1, err)
		}
	}
	return nil
}

// Close closes the database.
func (q *Queue) Close() error { return q.db.Close() }

// begin registers session and queues its StartTransaction, unless the session is known
// already; it reports whether it did.
func (q *Queue) begin(ctx context.Context, session, idTag string, payload []byte) (bool, error) {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("queue start of %s: %w", session, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO tx(session, id_tag) VALUES(?, ?)`, session, idTag)
	if err != nil {
		return false, fmt.Errorf("queue start of %s: %w", session, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox(session, action, payload) VALUES(?, 'StartTransaction', ?)`, session, payload); err != nil {
		return false, fmt.Errorf("queue start of %s: %w", session, err)
	}
	return true, tx.Commit()
}

// enqueue queues a MeterValues or StopTransaction of session; a StopTransaction marks the
// session ended, and a second one for the same session is ignored (reported false).
func (q *Queue) enqueue(ctx context.Context, session, action string, payload []byte) (bool, error) {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("queue %s of %s: %w", action, session, err)
	}
	defer tx.Rollback()
	var ended bool
	if err := tx.QueryRowContext(ctx, `SELECT ended FROM tx WHERE session = ?`, session).Scan(&ended); err != nil {
		return false, fmt.Errorf("queue %s of %s: %w", action, session, err)
	}
	if ended {
		return false, nil
	}
	if action == actionStop {
		if _, err := tx.ExecContext(ctx, `UPDATE tx SET ended = 1 WHERE session = ?`, session); err != nil {
			return false, fmt.Errorf("queue %s of %s: %w", action, session, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox(session, action, payload) VALUES(?, ?, ?)`, session, action, payload); err != nil {
		return false, fmt.Errorf("queue %s of %s: %w", action, session, err)
	}
	return true, tx.Commit()
}

// known reports whether session has been registered, whether it ended, and the idTag its
// StartTransaction carries.
func (q *Queue) known(ctx context.Context, session string) (known, ended bool, idTag string, err error) {
	err = q.db.QueryRowContext(ctx, `SELECT ended, id_tag FROM tx WHERE session = ?`, session).Scan(&ended, &idTag)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, "", nil
	}
	if err != nil {
		return false, false, "", fmt.Errorf("look up session %s: %w", session, err)
	}
	return true, ended, idTag, nil
}

// next returns the oldest queued message.
func (q *Queue) next(ctx context.Context) (queued, bool, error) {
	var m queued
	err := q.db.QueryRowContext(ctx, `SELECT id, session, action, payload, attempts FROM outbox ORDER BY id LIMIT 1`).
		Scan(&m.ID, &m.Session, &m.Action, &m.Payload, &m.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("read outbox: %w", err)
	}
	return m, true, nil
}

// Backlog returns how many transaction messages wait in the outbox.
func (q *Queue) Backlog(ctx context.Context) (int, error) {
	var n int
	if err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count outbox: %w", err)
	}
	return n, nil
}

// started records the transactionId the CSMS gave session and removes its StartTransaction.
func (q *Queue) started(ctx context.Context, id int64, session string, transactionID int64) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record transaction %d: %w", transactionID, err)
	}
	defer tx.Rollback()
	// A CSMS that reuses an id would break the unique index; the older session loses it.
	if _, err := tx.ExecContext(ctx, `UPDATE tx SET transaction_id = NULL WHERE transaction_id = ? AND session != ?`, transactionID, session); err != nil {
		return fmt.Errorf("record transaction %d: %w", transactionID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tx SET transaction_id = ? WHERE session = ?`, transactionID, session); err != nil {
		return fmt.Errorf("record transaction %d: %w", transactionID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id = ?`, id); err != nil {
		return fmt.Errorf("record transaction %d: %w", transactionID, err)
	}
	return tx.Commit()
}

// remove deletes a delivered (or abandoned) message.
func (q *Queue) remove(ctx context.Context, id int64) error {
	if _, err := q.db.ExecContext(ctx, `DELETE FROM outbox WHERE id = ?`, id); err != nil {
		return fmt.Errorf("remove message %d: %w", id, err)
	}
	return nil
}

// dropSession abandons a session whose StartTransaction the CSMS refused to take: its queued
// messages are removed, since without a transactionId none of them can be sent.
func (q *Queue) dropSession(ctx context.Context, session string) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("drop session %s: %w", session, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE session = ?`, session); err != nil {
		return fmt.Errorf("drop session %s: %w", session, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tx SET dropped = 1, ended = 1 WHERE session = ?`, session); err != nil {
		return fmt.Errorf("drop session %s: %w", session, err)
	}
	return tx.Commit()
}

// attempt counts one failed delivery of message id and returns the count.
func (q *Queue) attempt(ctx context.Context, id int64) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `UPDATE outbox SET attempts = attempts + 1 WHERE id = ? RETURNING attempts`, id).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count attempt of message %d: %w", id, err)
	}
	return n, nil
}

// transactionID returns the CSMS's transactionId for session, if it has answered.
func (q *Queue) transactionID(ctx context.Context, session string) (int64, bool, error) {
	var id sql.NullInt64
	err := q.db.QueryRowContext(ctx, `SELECT transaction_id FROM tx WHERE session = ?`, session).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("look up transaction of %s: %w", session, err)
	}
	return id.Int64, id.Valid, nil
}

// session returns the session that the CSMS knows as transactionID.
func (q *Queue) session(ctx context.Context, transactionID int64) (string, bool, error) {
	var s string
	err := q.db.QueryRowContext(ctx, `SELECT session FROM tx WHERE transaction_id = ?`, transactionID).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look up transaction %d: %w", transactionID, err)
	}
	return s, true, nil
}

// configValues returns the configuration keys the CSMS changed.
func (q *Queue) configValues(ctx context.Context) (map[string]string, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT key, value FROM config`)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("read configuration: %w", err)
		}
		m[k] = v
	}
	return m, rows.Err()
}

// setConfig persists one changed configuration key.
func (q *Queue) setConfig(ctx context.Context, key, value string) error {
	if _, err := q.db.ExecContext(ctx, `INSERT INTO config(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("store configuration %s: %w", key, err)
	}
	return nil
}

// addSecurityEvent keeps one SecurityEventNotification request (JSON); beyond
// maxSecurityEvents the oldest is dropped.
func (q *Queue) addSecurityEvent(ctx context.Context, event []byte) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("keep security event: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO security_event(event) VALUES(?)`, string(event)); err != nil {
		return fmt.Errorf("keep security event: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM security_event WHERE id <= (SELECT max(id) FROM security_event) - ?`, maxSecurityEvents); err != nil {
		return fmt.Errorf("keep security event: %w", err)
	}
	return tx.Commit()
}

// nextSecurityEvent returns the oldest kept security event.
func (q *Queue) nextSecurityEvent(ctx context.Context) (int64, []byte, bool, error) {
	var id int64
	var ev string
	err := q.db.QueryRowContext(ctx, `SELECT id, event FROM security_event WHERE sent = 0 ORDER BY id LIMIT 1`).Scan(&id, &ev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("read security events: %w", err)
	}
	return id, []byte(ev), true, nil
}

// removeSecurityEvent marks an event delivered; it stays for the security log until newer
// events push it out (addSecurityEvent).
func (q *Queue) removeSecurityEvent(ctx context.Context, id int64) error {
	if _, err := q.db.ExecContext(ctx, `UPDATE security_event SET sent = 1 WHERE id = ?`, id); err != nil {
		return fmt.Errorf("mark security event %d delivered: %w", id, err)
	}
	return nil
}

// securityLog returns the kept security events (delivered or not), oldest first, as the
// SecurityEventNotification requests they are.
func (q *Queue) securityLog(ctx context.Context) ([][]byte, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT event FROM security_event ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read the security log: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var ev string
		if err := rows.Scan(&ev); err != nil {
			return nil, fmt.Errorf("read the security log: %w", err)
		}
		out = append(out, []byte(ev))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the security log: %w", err)
	}
	return out, nil
}

// securityBacklog counts the security events not yet delivered.
func (q *Queue) securityBacklog(ctx context.Context) (int, error) {
	var n int
	if err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM security_event WHERE sent = 0`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count security events: %w", err)
	}
	return n, nil
}

// certificates returns the installed certificates of one use, oldest first.
func (q *Queue) certificates(ctx context.Context, typ string) ([]storedCert, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT serial, issuer_name_hash, issuer_key_hash, pem FROM certificate WHERE type = ? ORDER BY rowid`, typ)
	if err != nil {
		return nil, fmt.Errorf("read certificates: %w", err)
	}
	defer rows.Close()
	var out []storedCert
	for rows.Next() {
		var s storedCert
		var p string
		if err := rows.Scan(&s.hash.SerialNumber, &s.hash.IssuerNameHash, &s.hash.IssuerKeyHash, &p); err != nil {
			return nil, fmt.Errorf("read certificates: %w", err)
		}
		s.hash.HashAlgorithm = "SHA256"
		block, _ := pem.Decode([]byte(p))
		if block == nil {
			return nil, fmt.Errorf("read certificates: stored certificate %s is not PEM", s.hash.SerialNumber)
		}
		if s.cert, err = x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("read certificates: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// addCertificate stores (or replaces) a certificate.
func (q *Queue) addCertificate(ctx context.Context, typ string, h certificateHashData, p string) error {
	if _, err := q.db.ExecContext(ctx, `INSERT OR REPLACE INTO certificate(serial, issuer_name_hash, issuer_key_hash, type, pem) VALUES(?, ?, ?, ?, ?)`,
		h.SerialNumber, h.IssuerNameHash, h.IssuerKeyHash, typ, p); err != nil {
		return fmt.Errorf("store certificate: %w", err)
	}
	return nil
}

// deleteCertificate removes the certificate h names and reports how many went.
func (q *Queue) deleteCertificate(ctx context.Context, h certificateHashData) (int64, error) {
	res, err := q.db.ExecContext(ctx, `DELETE FROM certificate WHERE serial = ? AND issuer_name_hash = ? AND issuer_key_hash = ?`,
		strings.ToLower(strings.TrimLeft(h.SerialNumber, "0")), strings.ToLower(h.IssuerNameHash), strings.ToLower(h.IssuerKeyHash))
	if err != nil {
		return 0, fmt.Errorf("delete certificate: %w", err)
	}
	return res.RowsAffected()
}

// enqueueData queues a DataTransfer (not a transaction message: no transactionId is filled in).
func (q *Queue) enqueueData(ctx context.Context, session string, payload []byte) error {
	if _, err := q.db.ExecContext(ctx, `INSERT INTO outbox(session, action, payload) VALUES(?, 'DataTransfer', ?)`, session, payload); err != nil {
		return fmt.Errorf("queue DataTransfer of %s: %w", session, err)
	}
	return nil
}
