-- 0003: declared holes, written in the transaction of the entry that declares them
-- (seq_skipped, entries_lost, store_replaced), so that readers such as the anchoring publisher
-- can step over them without searching the chain.
CREATE TABLE holes (
	first       INTEGER PRIMARY KEY,  -- first missing sequence number
	last        INTEGER NOT NULL,     -- last missing sequence number (inclusive)
	event       TEXT    NOT NULL,     -- code of the declaring event
	declared_by INTEGER NOT NULL      -- sequence number of the declaring event
);
