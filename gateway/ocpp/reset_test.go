package ocpp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
)

func TestReset(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	g := newStandIn(t)
	resets := make(chan bool, 4)
	cp, _, _ := startCP(t, c, g, t.TempDir(), func(cfg *ocpp.Config) { cfg.Reset = func(hard bool) { resets <- hard } })
	c.WaitFor("online", cp.Online)

	g.startLocal("TAG")
	c.WaitCalls("StartTransaction", 1)
	if got := c.Status("Reset", map[string]string{"type": "Soft"}); got != "Accepted" {
		t.Fatalf("Reset Soft = %s", got)
	}
	select {
	case hard := <-resets:
		if hard {
			t.Error("a soft reset was handed over as hard")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no reset after Reset Soft")
	}
	g.mu.Lock()
	running := g.session != nil
	g.mu.Unlock()
	if running {
		t.Error("the session still runs when the appliance is reset")
	}
	if st := params[stopTx](t, c.WaitCalls("StopTransaction", 1)[0]); st.Reason != "SoftReset" {
		t.Errorf("StopTransaction reason %q, want SoftReset", st.Reason)
	}

	if got := c.Status("Reset", map[string]string{"type": "Hard"}); got != "Accepted" {
		t.Fatalf("Reset Hard = %s", got)
	}
	select {
	case hard := <-resets:
		if !hard {
			t.Error("a hard reset was handed over as soft")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no reset after Reset Hard")
	}
	// Security Whitepaper: each reset is reported as ResetOrReboot before the hand-over.
	var kinds []string
	for _, l := range c.Calls("SecurityEventNotification") {
		if ev := params[map[string]string](t, l); ev["type"] == ocpp.EventResetOrReboot {
			kinds = append(kinds, ev["techInfo"])
		}
	}
	if len(kinds) != 2 || !strings.HasPrefix(kinds[0], "SoftReset") || !strings.HasPrefix(kinds[1], "HardReset") {
		t.Errorf("ResetOrReboot events %q, want a SoftReset then a HardReset", kinds)
	}
}

func TestResetRefusedWithoutHook(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	g := newStandIn(t)
	cp, _, _ := startCP(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	if got := c.Status("Reset", map[string]string{"type": "Soft"}); got != "Rejected" {
		t.Errorf("Reset without a hook = %s, want Rejected", got)
	}
}
