// Command sqliteprobe opens (creating) an SQLite database the way the gateway's store does
// — mattn/go-sqlite3, WAL, synchronous=FULL — writes a row and reads it back. The images
// test cross-compiles it for linux/arm64 and runs it under qemu-aarch64, proving that the
// cgo SQLite build for the box works.
package main

import (
	"database/sql"
	"fmt"
	"os"

	_ "github.com/mattn/go-sqlite3"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: sqliteprobe DB")
		os.Exit(2)
	}
	if err := probe(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "sqliteprobe:", err)
		os.Exit(1)
	}
}

func probe(path string) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000")
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer db.Close()
	var mode string
	var sync int
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if err := db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS probe (n INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	if _, err := db.Exec("INSERT INTO probe (v) VALUES (?)", "arm64"); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	var n int
	var version string
	if err := db.QueryRow("SELECT count(*), sqlite_version() FROM probe").Scan(&n, &version); err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	fmt.Printf("sqlite %s journal_mode=%s synchronous=%d rows=%d\n", version, mode, sync, n)
	return nil
}
