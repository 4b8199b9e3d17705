-- 0002: request IDs of executed operator commands, kept until their signed expiry (replay protection).
CREATE TABLE commands (
	request_id TEXT    PRIMARY KEY,
	expires_ns INTEGER NOT NULL       -- the command's expiry, Unix nanoseconds; pruned after it
);
CREATE INDEX commands_expires ON commands (expires_ns);
