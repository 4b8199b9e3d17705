package chaos_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

// copyDir copies the regular files of a data directory (database, keys, head file).
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == "ballast" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestTamperingIsNamed records a real chain, then, on copies of the stopped gateway's data,
// deletes, alters and reorders entries with SQL as an attacker with the file would; `chargegate
// verify` must fail and name the first sequence number that is wrong.
func TestTamperingIsNamed(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{NoNode: true})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	g := rig.StartGateway(t, data, rig.WriteConfig(t, dir, chaosConfig(s, data, gwOpts{poll: 100 * time.Millisecond, autostart: true})))
	rig.WaitFor(t, 20*time.Second, "60 entries", func() bool { return g.Status(t).Entries >= 60 })
	g.StopClean(t)
	rig.MustVerify(t, data)

	const k = 30
	cases := []struct {
		name    string
		sql     func(body []byte) (string, []any)
		wantSeq uint64
	}{
		{"entry deleted", func([]byte) (string, []any) { return "DELETE FROM entries WHERE seq = ?", []any{k} }, k + 1},
		{"energy altered", func(b []byte) (string, []any) {
			e, err := ledger.DecodeEntry(b)
			if err != nil {
				t.Fatal(err)
			}
			e.ImportMWh += 1000 // one watt-hour more, signature kept
			nb, err := e.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			return "UPDATE entries SET body = ? WHERE seq = ?", []any{nb, k}
		}, k},
		{"byte flipped", func(b []byte) (string, []any) {
			b = append([]byte(nil), b...)
			b[len(b)/2] ^= 0x01
			return "UPDATE entries SET body = ? WHERE seq = ?", []any{b, k}
		}, k},
		{"entries swapped", func(b []byte) (string, []any) {
			next := bodyAt(t, data, k+1)
			return "UPDATE entries SET body = CASE seq WHEN ? THEN ? ELSE ? END WHERE seq IN (?, ?)", []any{k, next, b, k, k + 1}
		}, k},
		{"entry replaced by a later one", func([]byte) (string, []any) {
			return "UPDATE entries SET body = (SELECT body FROM entries WHERE seq = ?) WHERE seq = ?", []any{k + 5, k}
		}, k},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cp := copyDir(t, data)
			db, err := sql.Open("sqlite3", "file:"+filepath.Join(cp, "chargegate.db")+"?_journal_mode=WAL")
			if err != nil {
				t.Fatal(err)
			}
			var body []byte
			if err := db.QueryRow("SELECT body FROM entries WHERE seq = ?", k).Scan(&body); err != nil {
				t.Fatal(err)
			}
			q, args := c.sql(body)
			if _, err := db.Exec(q, args...); err != nil {
				t.Fatalf("tamper: %v", err)
			}
			db.Close()
			code, out := rig.CLI(t, "", "verify", "--data", cp)
			if code != 1 {
				t.Fatalf("verify after %s = %d, want 1: %s", c.name, code, out)
			}
			if want := fmt.Sprintf("at seq %d:", c.wantSeq); !strings.Contains(out, want) {
				t.Fatalf("verify after %s does not name seq %d (want %q): %s", c.name, c.wantSeq, want, out)
			}
			t.Logf("%s → %s", c.name, strings.TrimSpace(out))
		})
	}
}

// bodyAt reads the stored bytes of one entry from a stopped gateway's data (via a snapshot).
func bodyAt(t *testing.T, dataDir string, seq uint64) []byte {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(snapshot(t, dataDir), "chargegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b []byte
	if err := db.QueryRow("SELECT body FROM entries WHERE seq = ?", seq).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

// execSQL runs one statement on a stopped gateway's database.
func execSQL(t *testing.T, dataDir, q string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dataDir, "chargegate.db")+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestVerifyWritesNothing runs `chargegate verify` on the data a SIGKILL left behind: the WAL
// and the database must be byte for byte what they were (no checkpoint by the reader).
// Regression test.
func TestVerifyWritesNothing(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{NoNode: true})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	g := rig.StartGateway(t, data, rig.WriteConfig(t, dir, chaosConfig(s, data, gwOpts{poll: 100 * time.Millisecond})))
	rig.WaitFor(t, 20*time.Second, "entries", func() bool { return g.Status(t).Entries >= 20 })
	g.Stop(syscall.SIGKILL)
	wal := filepath.Join(data, "chargegate.db-wal")
	before, err := os.ReadFile(wal)
	if err != nil {
		t.Fatalf("no WAL after SIGKILL: %v", err)
	}
	dbBefore, _ := os.ReadFile(filepath.Join(data, "chargegate.db"))
	rig.MustVerify(t, data)
	after, err := os.ReadFile(wal)
	dbAfter, _ := os.ReadFile(filepath.Join(data, "chargegate.db"))
	if err != nil || string(after) != string(before) || string(dbAfter) != string(dbBefore) {
		t.Fatalf("verify changed the data it checked: WAL %d → %d bytes (err %v), database %d → %d bytes",
			len(before), len(after), err, len(dbBefore), len(dbAfter))
	}
}

// TestVerifyNamesDeletedTail deletes the newest entries: the remaining prefix is a valid chain,
// but the head file knows where the chain ended, and verify names the first missing entry.
// Regression test.
func TestVerifyNamesDeletedTail(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{NoNode: true})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	g := rig.StartGateway(t, data, rig.WriteConfig(t, dir, chaosConfig(s, data, gwOpts{poll: 100 * time.Millisecond})))
	rig.WaitFor(t, 20*time.Second, "entries", func() bool { return g.Status(t).Entries >= 40 })
	g.StopClean(t)
	cp := copyDir(t, data)
	head := uint64(len(storedEntries(t, cp)))
	execSQL(t, cp, "DELETE FROM entries WHERE seq > ?", head-5)
	code, out := rig.CLI(t, "", "verify", "--data", cp)
	if want := fmt.Sprintf("at seq %d:", head-4); code != 1 || !strings.Contains(out, want) {
		t.Fatalf("verify after deleting the newest 5 of %d entries = %d: %s", head, code, out)
	}
}
