package chaos_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/chaos"
	"github.com/chargegate/chargegate/gateway/rig"
)

// TestLedgerNodeFaults puts a fault-injecting proxy between the gateway and the ledger node and
// runs through latency, connection resets, a partition (blackhole), a closed port, a node that
// answers 5xx and loses responses, and a node killed and restarted while batches are in flight.
// Throughout, the gateway keeps recording and answering; afterwards everything is anchored
// exactly once and the chain verifies.
func TestLedgerNodeFaults(t *testing.T) {
	phase := pick(1500*time.Millisecond, 30*time.Second)
	s := rig.StartStack(t, rig.StackOptions{})
	px, err := chaos.Listen("127.0.0.1:0", strings.TrimPrefix(s.Node["api"], "http://"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	s.LedgerURL = "http://" + px.Addr()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := rig.WriteConfig(t, dir, chaosConfig(s, data, gwOpts{poll: 100 * time.Millisecond, autostart: true,
		batchAge: 200 * time.Millisecond, batchSize: 25}))
	g := rig.StartGateway(t, data, cfg)
	rig.WaitFor(t, 20*time.Second, "first anchor confirmed", func() bool {
		st := g.Status(t)
		return st.Anchor != nil && st.Anchor.Confirmed > 0
	})

	// during runs a fault for one phase, requiring the gateway to keep recording and answering.
	during := func(name string, inject func(), tick func()) {
		t.Helper()
		inject()
		before := g.Status(t).Entries
		end := time.Now().Add(phase)
		for time.Now().Before(end) {
			if tick != nil {
				tick()
			}
			if _, err := g.TryStatus(); err != nil {
				t.Fatalf("%s: gateway not answering: %v", name, err)
			}
			if g.Exited() {
				t.Fatalf("%s: gateway exited: %v", name, g.Err())
			}
			time.Sleep(100 * time.Millisecond) // the fault's own pace, not a wait for a condition
		}
		st := g.Status(t)
		if st.Entries <= before {
			t.Fatalf("%s: no entries recorded during the fault (head %d)", name, st.Entries)
		}
		lastErr := ""
		if st.Anchor != nil {
			lastErr = st.Anchor.LastError
		}
		t.Logf("%s: head %d → %d, anchor last error %q", name, before, st.Entries, lastErr)
	}
	during("latency 400ms", func() { px.SetLatency(400 * time.Millisecond) }, nil)
	px.SetLatency(0)
	during("connection resets", func() {}, func() { px.ResetAll() })
	during("partition (blackhole)", func() { px.SetMode(chaos.Blackhole) }, nil)
	during("closed port (refuse)", func() { px.SetMode(chaos.Refuse) }, nil)
	px.SetMode(chaos.Pass)
	during("node answers 5xx, loses responses", func() {
		s.RestartNode(t, false, "--error-rate", "0.3", "--lost-response-rate", "0.3", "--seed", "7")
	}, nil)
	during("node killed mid-batch and restarted", func() {
		s.RestartNode(t, true, "--latency", "150ms")
	}, func() {})
	s.RestartNode(t, true)

	// Healed: everything recorded so far gets confirmed.
	target := g.Status(t).Entries
	rig.WaitFor(t, pick(60*time.Second, 10*time.Minute), "all entries anchored after the faults", func() bool {
		st := g.Status(t)
		return st.Anchor != nil && st.Anchor.ConfirmedThrough >= target
	})
	g.StopClean(t)
	rep := assertAnchoredOnce(t, data, s.NodeDir, g.Device)
	rig.MustVerify(t, data)
	ev := countEvents(storedEntries(t, data))
	// A publisher that blocked the control loop would cost a poll for every second of the
	// outage; a starved 2-core machine may miss one or two on its own (declared, never silent).
	if ev["gap/poll_missed"] > 2 {
		t.Errorf("ledger faults caused meter gaps: %s", summary(ev))
	}
	t.Logf("anchors %+v; entries %s", rep, summary(ev))
}
