package chaos_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

// mountTmpfs mounts a tmpfs of the given size on a fresh directory and unmounts it at cleanup.
// It needs root (CAP_SYS_ADMIN): without it the caller skips, saying so.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("SKIPPED: the disk-full scenario mounts a size-limited tmpfs, which needs root; running as uid %d", os.Geteuid())
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: cannot mount a tmpfs as root here (%v: %s); the disk-full scenario needs one", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file until the filesystem is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			return path
		}
	}
}

// TestDiskFull: the data directory lives on a 24 MiB tmpfs that is then filled to the last byte.
// The gateway keeps running, records a signed disk_budget event, refuses new sessions, loses no
// entry it had acknowledged, and admits sessions again with a disk_recovered event once space
// returns.
func TestDiskFull(t *testing.T) {
	mnt := mountTmpfs(t, "24m")
	s := rig.StartStack(t, rig.StackOptions{NoNode: true})
	data := filepath.Join(mnt, "data")
	dir := t.TempDir()
	cfg := rig.WriteConfig(t, dir, chaosConfig(s, data, gwOpts{poll: 100 * time.Millisecond, autostart: true,
		extra: "  max_duration: 700ms\n"}))
	g := rig.StartGateway(t, data, cfg)
	sessionsBegun := func(after uint64) int {
		n := 0
		for _, e := range rig.Entries(t, data, after) {
			if e.Kind == ledger.KindSessionBegin {
				n++
			}
		}
		return n
	}
	rig.WaitFor(t, 20*time.Second, "two sessions (time-limited) begun", func() bool { return sessionsBegun(0) >= 2 })

	filler := fill(t, mnt)
	// Everything committed until now must survive what follows.
	committed := map[uint64]string{}
	for seq, h := range storedHashes(t, data) {
		committed[seq] = hexHash(h)
	}
	var alarmSeq uint64
	rig.WaitFor(t, 30*time.Second, "a disk_budget event", func() bool {
		for _, e := range rig.Entries(t, data, 0) {
			if e.Kind == ledger.KindEvent && e.Event == ledger.EventDiskBudget {
				alarmSeq = e.Seq
				return true
			}
		}
		return false
	})
	// The session running when the disk filled ends by its time limit; none may start after it.
	// Absence needs a window: six session lengths.
	rig.WaitFor(t, 10*time.Second, "the running session ended", func() bool { return g.Status(t).Session == nil })
	quiet := time.Now().Add(6 * 700 * time.Millisecond)
	for time.Now().Before(quiet) {
		if st := g.Status(t); st.Session != nil {
			t.Fatalf("session %s started while the disk is full", st.Session.ID)
		}
		if g.Exited() {
			t.Fatalf("gateway exited on a full disk: %v", g.Err())
		}
		time.Sleep(100 * time.Millisecond) // observation pace
	}
	var beginsWhileFull int
	for _, e := range rig.Entries(t, data, alarmSeq) {
		if e.Kind == ledger.KindSessionBegin {
			beginsWhileFull++
		}
	}
	if beginsWhileFull != 0 {
		t.Fatalf("%d sessions begun after the disk_budget event", beginsWhileFull)
	}
	fullHead := g.Status(t).Entries

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	var recoveredSeq uint64
	rig.WaitFor(t, 30*time.Second, "disk_recovered and a new session", func() bool {
		for _, e := range rig.Entries(t, data, alarmSeq) {
			if e.Kind == ledger.KindEvent && e.Event == ledger.EventDiskRecovered {
				recoveredSeq = e.Seq
			}
			if recoveredSeq != 0 && e.Kind == ledger.KindSessionBegin && e.Seq > recoveredSeq {
				return true
			}
		}
		return false
	})
	g.StopClean(t)
	assertKept(t, data, committed)
	rig.MustVerify(t, data)
	ev := countEvents(storedEntries(t, data))
	t.Logf("disk_budget at seq %d, head %d while full, disk_recovered at seq %d; %d entries kept from before; %s",
		alarmSeq, fullHead, recoveredSeq, len(committed), summary(ev))
}

// TestDiskFullMidSession: the database's quota (ledger.disk_quota_kb, SQLite's max_page_count:
// a full disk that needs no root) fills while a session charges (issue 12 case 4). The session
// ends at once with its end entry (reason disk_full) and the relay open; a store_refused gap
// declares what could not be recorded; no session starts while the disk is full; nothing
// delivered over MQTT (acknowledged) is lost and verify passes. With room again (a larger quota
// after a restart, as when an operator frees space) sessions start again. Full: three fills,
// each on a larger quota.
func TestDiskFullMidSession(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{Broker: true, NoNode: true})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	op := watchDeliveries(t, s.Broker) // before the gateway: it receives every reading
	charging := func(g *rig.Gateway) func() bool {
		return func() bool {
			st := g.Status(t)
			return st.Session != nil && st.Session.EnergyMWh > 0
		}
	}
	var head uint64
	fills := pick(1, 3)
	for fill := range fills {
		quotaKB := int64(384 + 128*fill)
		g := rig.StartGateway(t, data, rig.WriteConfig(t, dir, chaosConfig(s, data, gwOpts{autostart: true, quotaKB: quotaKB})))
		op.WaitOnline(g.Device)
		rig.WaitFor(t, 30*time.Second, "charging", charging(g))
		var end ledger.Entry
		rig.WaitFor(t, 3*time.Minute, fmt.Sprintf("the session ended by the full disk (quota %d KiB)", quotaKB), func() bool {
			for _, e := range rig.Entries(t, data, head) {
				if e.Kind == ledger.KindSessionEnd && e.Event == ledger.EndDiskFull {
					end = e
					return true
				}
			}
			return false
		})
		rig.WaitFor(t, 5*time.Second, "the relay open (metersim's load disconnected)", func() bool { return s.SimMeter(t)["connected"] == false })
		refused := false
		for _, e := range rig.Entries(t, data, head) {
			refused = refused || (e.Kind == ledger.KindGap && e.Event == ledger.EventStoreRefused && e.SessionID == end.SessionID)
		}
		if !refused {
			t.Errorf("no store_refused gap in session %s", end.SessionID)
		}
		// Absence needs a window: twenty polls without a session while the disk is full.
		for range 20 {
			if st := g.Status(t); st.Session != nil {
				t.Fatalf("session %s started while the disk is full", st.Session.ID)
			}
			time.Sleep(100 * time.Millisecond) // one poll
		}
		head = g.Status(t).Entries
		g.StopClean(t)
		t.Logf("quota %d KiB: session %s ended disk_full at seq %d; head %d", quotaKB, end.SessionID, end.Seq, head)
	}
	// Room again: no quota. Sessions start again.
	g := rig.StartGateway(t, data, rig.WriteConfig(t, dir, chaosConfig(s, data, gwOpts{autostart: true})))
	rig.WaitFor(t, 30*time.Second, "charging with room again", charging(g))
	entries := stopAndAudit(t, g, op, chaosMaxPowerW)
	t.Logf("%d fills; %s", fills, summary(countEvents(entries)))
}
