-- 0001: entries, sink cursors, small durable state, anchor bookkeeping.
CREATE TABLE entries (
	seq        INTEGER PRIMARY KEY,   -- ledger sequence number
	body       BLOB    NOT NULL,      -- ledger.Entry.MarshalBinary()
	created_ns INTEGER NOT NULL       -- store clock at append (retention)
);
CREATE TABLE cursors (
	sink    TEXT PRIMARY KEY,
	through INTEGER NOT NULL          -- highest seq the sink acknowledged; never decreases
);
CREATE TABLE state (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
);
CREATE TABLE anchors (
	first      INTEGER PRIMARY KEY,
	last       INTEGER NOT NULL,
	root       BLOB    NOT NULL,
	payload    BLOB    NOT NULL,
	block_id   BLOB    NOT NULL,
	block      BLOB    NOT NULL,
	state      INTEGER NOT NULL,
	milestone  INTEGER NOT NULL,
	updated_ns INTEGER NOT NULL
);
CREATE INDEX anchors_state ON anchors (state, first);
CREATE INDEX anchors_last ON anchors (last);
