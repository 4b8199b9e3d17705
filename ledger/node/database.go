package node

import (
	"database/sql"
	"errors"
	"fmt"
	"os"

	iotago "github.com/iotaledger/iota.go/v3"
	_ "github.com/mattn/go-sqlite3" // the SQLite driver
)

// schema is the node's on-disk layout. Blocks are stored in arrival order (rowid), which is a
// topological order since a block is accepted only after its parents.
const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	id       BLOB NOT NULL UNIQUE,
	data     BLOB NOT NULL,
	ref_ms   INTEGER NOT NULL DEFAULT 0,
	wf_index INTEGER NOT NULL DEFAULT 0,
	ms_index INTEGER NOT NULL DEFAULT 0,
	orphan   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS milestones (
	idx       INTEGER PRIMARY KEY,
	ts        INTEGER NOT NULL,
	ms_id     BLOB NOT NULL UNIQUE,
	block_id  BLOB NOT NULL
);`

// database is the node's SQLite persistence. One connection: the node serialises writes itself.
type database struct {
	db *sql.DB
}

func openDatabase(path string) (*database, error) {
	dsn := "file:" + path + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000"
	if path == ":memory:" {
		dsn = "file::memory:"
	} else {
		// The database holds the coordinator's private key: owner-only, like every key file.
		// SQLite gives its -wal and -shm files the database file's mode.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create node database: %w", err)
		}
		f.Close()
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("restrict node database: %w", err)
		}
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open node database: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create node schema: %w", err)
	}
	return &database{db: db}, nil
}

func (d *database) close() error {
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("close node database: %w", err)
	}
	return nil
}

// insertBlock stores an accepted block.
func (d *database) insertBlock(m *blockMeta, data []byte) error {
	_, err := d.db.Exec(`INSERT INTO blocks (id, data, ref_ms, wf_index, ms_index, orphan) VALUES (?, ?, ?, ?, ?, ?)`,
		m.id[:], data, m.refMs, m.wfIndex, m.msIndex, m.orphan)
	if err != nil {
		return fmt.Errorf("store block %s: %w", m.id.ToHex(), err)
	}
	return nil
}

// blockData returns a block's serialized bytes; ok is false if the block is unknown.
func (d *database) blockData(id iotago.BlockID) (data []byte, ok bool, err error) {
	err = d.db.QueryRow(`SELECT data FROM blocks WHERE id = ?`, id[:]).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read block %s: %w", id.ToHex(), err)
	}
	return data, true, nil
}

// commitMilestone stores a milestone, its block, and the referencing of the blocks it confirmed,
// in one transaction.
func (d *database) commitMilestone(ms milestoneInfo, msBlock *blockMeta, msData []byte, referenced []*blockMeta) error {
	tx, err := d.db.Begin()
	if err != nil {
		return fmt.Errorf("begin milestone %d: %w", ms.index, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(`INSERT INTO blocks (id, data, ref_ms, wf_index, ms_index) VALUES (?, ?, ?, ?, ?)`,
		msBlock.id[:], msData, msBlock.refMs, msBlock.wfIndex, msBlock.msIndex); err != nil {
		return fmt.Errorf("store milestone block %d: %w", ms.index, err)
	}
	stmt, err := tx.Prepare(`UPDATE blocks SET ref_ms = ?, wf_index = ? WHERE id = ?`)
	if err != nil {
		return fmt.Errorf("prepare referencing: %w", err)
	}
	defer stmt.Close()
	for _, m := range referenced {
		if m == msBlock {
			continue
		}
		if _, err := stmt.Exec(m.refMs, m.wfIndex, m.id[:]); err != nil {
			return fmt.Errorf("mark block referenced: %w", err)
		}
	}
	if _, err := tx.Exec(`INSERT INTO milestones (idx, ts, ms_id, block_id) VALUES (?, ?, ?, ?)`,
		ms.index, ms.timestamp, ms.id[:], ms.blockID[:]); err != nil {
		return fmt.Errorf("store milestone %d: %w", ms.index, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit milestone %d: %w", ms.index, err)
	}
	return nil
}

// loadBlocks returns the metadata of every stored block in arrival order.
func (d *database) loadBlocks() ([]*blockMeta, error) {
	rows, err := d.db.Query(`SELECT id, data, ref_ms, wf_index, ms_index, orphan FROM blocks ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("load blocks: %w", err)
	}
	defer rows.Close()
	var out []*blockMeta
	for rows.Next() {
		var id, data []byte
		m := &blockMeta{}
		if err := rows.Scan(&id, &data, &m.refMs, &m.wfIndex, &m.msIndex, &m.orphan); err != nil {
			return nil, fmt.Errorf("load block: %w", err)
		}
		copy(m.id[:], id)
		b, err := decodeStoredBlock(data)
		if err != nil {
			return nil, fmt.Errorf("load block %x: %w", id, err)
		}
		m.parents = b.Parents
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load blocks: %w", err)
	}
	return out, nil
}

// loadMilestones returns the milestones in index order; they must be contiguous from 1.
func (d *database) loadMilestones() ([]milestoneInfo, error) {
	rows, err := d.db.Query(`SELECT idx, ts, ms_id, block_id FROM milestones ORDER BY idx`)
	if err != nil {
		return nil, fmt.Errorf("load milestones: %w", err)
	}
	defer rows.Close()
	var out []milestoneInfo
	for rows.Next() {
		var ms milestoneInfo
		var msID, blockID []byte
		if err := rows.Scan(&ms.index, &ms.timestamp, &msID, &blockID); err != nil {
			return nil, fmt.Errorf("load milestone: %w", err)
		}
		if ms.index != uint32(len(out)+1) {
			return nil, fmt.Errorf("load milestones: index %d follows %d", ms.index, len(out))
		}
		copy(ms.id[:], msID)
		copy(ms.blockID[:], blockID)
		out = append(out, ms)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load milestones: %w", err)
	}
	return out, nil
}
