package chaos_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/rig"
)

// TestBrokerOutageBacklogDrains: the operator's broker is unreachable while the gateway keeps
// recording — first a backlog recorded while nothing was connected (short: 3,000 entries, full: a
// week at 1 Hz, 604,800), then live entries at a fast poll while the broker is stopped. When the
// broker returns, every entry arrives, in order of first delivery, and the drain time is reported.
func TestBrokerOutageBacklogDrains(t *testing.T) {
	backlog := pick(3000, 604800)
	s := rig.StartStack(t, rig.StackOptions{Broker: true, NoNode: true})
	op := watchDeliveries(t, s.Broker)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	t0 := time.Now()
	preloaded := preload(t, data, backlog)
	t.Logf("preloaded %d entries in %v", preloaded, time.Since(t0))

	s.Broker.Stop() // the week starts with the broker down
	cfg := rig.WriteConfig(t, dir, chaosConfig(s, data, gwOpts{poll: 100 * time.Millisecond, autostart: true}))
	g := rig.StartGateway(t, data, cfg)
	t.Logf("gateway up after %v", time.Since(t0))
	live := uint64(pick(300, 3000))
	rig.WaitFor(t, pick(60*time.Second, 10*time.Minute), "entries recorded while the broker is down", func() bool {
		return g.Status(t).Entries >= preloaded+live
	})
	if n := op.count(); n != 0 {
		t.Fatalf("%d readings delivered while the broker was down", n)
	}
	t.Logf("live entries recorded after %v", time.Since(t0))
	s.Broker.Restart()
	back := time.Now()
	head := g.Status(t).Entries
	op.waitDelivered(t, pick(2*time.Minute, 2*time.Hour), head, nil)
	drain := time.Since(back)
	op.check()
	g.StopClean(t)
	delivered, _, dups := op.delivered()
	assertKept(t, data, delivered)
	if inv := op.inversions(); inv != 0 {
		t.Errorf("%d readings arrived after a later one (out of order)", inv)
	}
	rig.MustVerify(t, data)
	t.Logf("backlog %d entries (%d preloaded + %d live) drained in %v (%.0f entries/s) with %d duplicates",
		head, preloaded, head-preloaded, drain, float64(head)/drain.Seconds(), dups)
}
