package chaos_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

// damage is one way a database gets hurt while the gateway is down: after a clean stop (the WAL
// checkpointed into the database and removed) or after a SIGKILL (the WAL still holds the newest
// commits).
type damage struct {
	name string
	kill bool
	do   func(t *testing.T, db string)
}

func overwrite(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if off < 0 {
		off = st.Size() / 2
	}
	junk := make([]byte, n)
	for i := range junk {
		junk[i] = byte(0xA5 ^ i)
	}
	if _, err := f.WriteAt(junk, off); err != nil {
		t.Fatal(err)
	}
}

func truncateFile(t *testing.T, path string, frac float64) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(float64(st.Size())*frac)); err != nil {
		t.Fatal(err)
	}
}

var damages = []damage{
	{"database pages overwritten", false, func(t *testing.T, db string) { overwrite(t, db, -1, 8192) }},
	{"database header overwritten", false, func(t *testing.T, db string) { overwrite(t, db, 0, 100) }},
	{"WAL frames overwritten", true, func(t *testing.T, db string) { overwrite(t, db+"-wal", 32+24+4096, 4096) }},
	{"WAL truncated", true, func(t *testing.T, db string) { truncateFile(t, db+"-wal", 0.4) }},
	{"WAL deleted", true, func(t *testing.T, db string) {
		os.Remove(db + "-wal")
		os.Remove(db + "-shm")
	}},
	{"zero-length database", false, func(t *testing.T, db string) {
		truncateFile(t, db, 0)
		os.Remove(db + "-wal")
		os.Remove(db + "-shm")
	}},
}

// TestCorruptDatabase damages the database and its WAL in each way of `damages`, between a
// SIGKILL and the next start. Each time the gateway must detect it at open, move the damaged
// files aside (never delete them), keep every entry that still verifies unchanged, continue the
// sequence above everything it ever handed out with a signed store_replaced event, and run on;
// the whole chain still verifies (the replacement is a declared break).
func TestCorruptDatabase(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{NoNode: true})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	db := filepath.Join(data, "chargegate.db")
	cfg := rig.WriteConfig(t, dir, chaosConfig(s, data, gwOpts{poll: 100 * time.Millisecond, autostart: true}))
	var lastHead uint64
	for i, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			g := rig.StartGateway(t, data, cfg)
			rig.WaitFor(t, 20*time.Second, "entries recorded", func() bool { return g.Status(t).Entries >= lastHead+40 })
			acked := g.Status(t).Entries
			if d.kill {
				g.Stop(syscall.SIGKILL)
			} else {
				g.StopClean(t)
			}
			before := storedHashes(t, data)
			var head uint64
			for seq := range before {
				head = max2(head, seq)
			}
			if head < acked {
				t.Fatalf("head %d after SIGKILL, %d acknowledged", head, acked)
			}
			if _, err := os.Stat(db + "-wal"); err != nil && strings.HasPrefix(d.name, "WAL") {
				ls, _ := os.ReadDir(data)
				var names []string
				for _, e := range ls {
					names = append(names, e.Name())
				}
				t.Fatalf("no WAL to damage after SIGKILL: %v; files: %v", err, names)
			}
			d.do(t, db)

			g = rig.StartGateway(t, data, cfg)
			rig.WaitFor(t, 20*time.Second, "entries after the restart", func() bool { return g.Status(t).Entries > head+5 })
			lastHead = g.Status(t).Entries
			g.StopClean(t)

			q, _ := filepath.Glob(db + ".quarantine-*")
			var qdbs int
			for _, p := range q {
				if !strings.HasSuffix(p, "-wal") && !strings.HasSuffix(p, "-shm") {
					qdbs++
				}
			}
			if qdbs != i+1 {
				t.Fatalf("%d quarantined databases after %d damages: %v", qdbs, i+1, q)
			}
			after := storedEntries(t, data)
			var replaced *ledger.Entry
			salvaged, changed := 0, 0
			for k := range after {
				e := &after[k]
				if e.Kind == ledger.KindEvent && e.Event == ledger.EventStoreReplaced && e.Seq > head {
					replaced = e
				}
				if h, ok := before[e.Seq]; ok && e.Seq <= head {
					if h != e.Hash() {
						changed++
					} else {
						salvaged++
					}
				}
			}
			if replaced == nil {
				t.Fatalf("no store_replaced event above the old head %d", head)
			}
			if changed != 0 {
				t.Fatalf("%d entries at old sequence numbers changed: a sequence number was reused", changed)
			}
			rig.MustVerify(t, data)
			t.Logf("head %d before; %d entries salvaged; store_replaced at seq %d: %s", head, salvaged, replaced.Seq, replaced.Detail)
		})
		if t.Failed() {
			return
		}
	}
}
