// Package sqlite is the durable offline store and outbox of ledger entries, built on SQLite in WAL mode with synchronous=FULL.
package sqlite
