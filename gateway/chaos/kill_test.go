package chaos_test

import (
	"encoding/hex"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

// TestSIGKILLDuringSessions kills the gateway at random moments — while starting, recovering a
// session, charging, anchoring, publishing — and restarts it, N times (short 20, full 1,000).
// Every entry ever seen committed (on disk after a kill, or delivered over MQTT) must still be
// there unchanged at the end; the chain verifies; no range is anchored twice; every restart
// comes up; a clean stop after all that exits 0.
func TestSIGKILLDuringSessions(t *testing.T) {
	cycles := pick(20, 1000)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 9))
	t.Logf("seed %d, %d cycles", seed, cycles)

	s := rig.StartStack(t, rig.StackOptions{Broker: true})
	op := watchDeliveries(t, s.Broker)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := rig.WriteConfig(t, dir, chaosConfig(s, data, gwOpts{poll: 100 * time.Millisecond, autostart: true, batchAge: 300 * time.Millisecond}))

	committed := map[uint64]string{} // every entry seen on disk after a kill
	killedBeforeRunning := 0
	for i := range cycles {
		g := rig.LaunchGateway(t, data, cfg)
		// A random moment: from straight after exec to 1.5 s of running.
		at := time.Duration(rng.Int64N(int64(1500 * time.Millisecond)))
		var acked uint64
		select {
		case <-time.After(at):
		case <-g.Done():
			t.Fatalf("cycle %d: gateway exited by itself: %v\n%s", i, g.Err(), rig.Tail(g.Stderr.String(), 3000))
		}
		if g.Running() {
			st, err := g.TryStatus()
			if err == nil {
				acked = st.Entries // committed before the status was built
			}
		} else {
			killedBeforeRunning++
		}
		g.Stop(syscall.SIGKILL)

		stored := storedHashes(t, data)
		var head uint64
		for seq := range stored {
			head = max2(head, seq)
		}
		if head < acked {
			t.Fatalf("cycle %d: head %d after SIGKILL, but %d was acknowledged", i, head, acked)
		}
		for seq, h := range committed {
			got, ok := stored[seq]
			if !ok || hex.EncodeToString(got[:]) != h {
				t.Fatalf("cycle %d: entry %d, committed before an earlier kill, is missing or changed", i, seq)
			}
		}
		for seq, h := range stored {
			committed[seq] = hex.EncodeToString(h[:])
		}
	}

	// The survivor: comes up, closes the killed session as a power failure, keeps charging.
	start := time.Now()
	g := rig.StartGateway(t, data, cfg)
	upAfter := time.Since(start)
	rig.WaitFor(t, 30*time.Second, "a session charging after the last kill", func() bool {
		st := g.Status(t)
		return st.Session != nil && st.Session.EnergyMWh > 0
	})
	head := g.Status(t).Entries
	g.StopClean(t)
	op.waitDelivered(t, 60*time.Second, head, nil)
	op.check()

	delivered, _, dups := op.delivered()
	assertKept(t, data, committed)
	assertKept(t, data, delivered)
	out := rig.MustVerify(t, data)
	entries := storedEntries(t, data)
	ev := countEvents(entries)
	assertRegistersMonotonic(t, entries)
	if ev["session_end/power_failure"] == 0 {
		t.Errorf("no session ended as power_failure after %d kills mid-session: %s", cycles, summary(ev))
	}
	rep := assertAnchoredOnce(t, data, s.NodeDir, g.Device)
	if rep.StoreAnchors == 0 {
		t.Errorf("nothing anchored in %d cycles", cycles)
	}
	t.Logf("restart after the last kill up in %v", upAfter)
	t.Logf("%d kills (%d before the daemon was up); %d entries (%s); %d delivered over MQTT with %d duplicates; anchors: %+v; %s",
		cycles, killedBeforeRunning, len(entries), summary(ev), len(delivered), dups, rep, out)
}

// assertRegistersMonotonic requires the import register recorded in readings and session
// entries never to run backwards (one meter, no resets in the scenario): a session that ended
// before it charged must carry the last known register, never zero.
func assertRegistersMonotonic(t *testing.T, entries []ledger.Entry) {
	t.Helper()
	var last int64
	for _, e := range entries {
		if e.Kind != ledger.KindReading && e.Kind != ledger.KindSessionBegin && e.Kind != ledger.KindSessionEnd {
			continue
		}
		if e.ImportMWh < last {
			t.Errorf("seq %d (%s/%s) records import %d mWh after %d mWh", e.Seq, e.Kind, e.Event, e.ImportMWh, last)
		}
		last = max(last, e.ImportMWh)
	}
}
