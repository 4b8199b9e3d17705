package chaos_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

// TestSessionsBackToBackNoSpuriousRelayFault runs time-limited free sessions back to back: the
// relay-opened event of the session that just ended must not end the next one as relay_fault.
// Regression test.
func TestSessionsBackToBackNoSpuriousRelayFault(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{NoNode: true})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	g := rig.StartGateway(t, data, rig.WriteConfig(t, dir, chaosConfig(s, data, gwOpts{poll: 100 * time.Millisecond, autostart: true,
		extra: "  max_duration: 300ms\n"})))
	rig.WaitFor(t, 30*time.Second, "ten sessions", func() bool {
		n := 0
		for _, e := range rig.Entries(t, data, 0) {
			if e.Kind == ledger.KindSessionEnd {
				n++
			}
		}
		return n >= 10
	})
	g.StopClean(t)
	ev := countEvents(storedEntries(t, data))
	if ev["session_end/relay_fault"] != 0 {
		t.Fatalf("%d sessions ended as relay_fault with no relay fault: %s", ev["session_end/relay_fault"], summary(ev))
	}
}
