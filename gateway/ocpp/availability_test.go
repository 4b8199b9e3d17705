package ocpp_test

import (
	"testing"

	"github.com/chargegate/chargegate/ledger"
)

// lastStatus returns the latest StatusNotification of connector.
func lastStatus(t *testing.T, c *csms, connector int) string {
	var s string
	for _, l := range c.Calls("StatusNotification") {
		if n := params[statusNote](t, l); n.ConnectorID == connector {
			s = n.Status
		}
	}
	return s
}

func TestChangeAvailability(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	g := newStandIn(t)
	dir := t.TempDir()
	cp, _, stop := startCP(t, c, g, dir)
	c.WaitFor("online", cp.Online)

	if got := c.Status("ChangeAvailability", map[string]any{"connectorId": 2, "type": "Inoperative"}); got != "Rejected" {
		t.Errorf("ChangeAvailability on connector 2 = %s, want Rejected", got)
	}
	// Idle: Inoperative at once; the gateway holds sessions, both connectors Unavailable.
	if got := c.Status("ChangeAvailability", map[string]any{"connectorId": 0, "type": "Inoperative"}); got != "Accepted" {
		t.Fatalf("ChangeAvailability Inoperative = %s, want Accepted", got)
	}
	c.WaitFor("Unavailable on 0 and 1", func() bool { return lastStatus(t, c, 0) == "Unavailable" && lastStatus(t, c, 1) == "Unavailable" })
	if got := c.Status("RemoteStartTransaction", map[string]any{"idTag": "TAG"}); got != "Rejected" {
		t.Errorf("RemoteStartTransaction while Inoperative = %s, want Rejected", got)
	}
	g.mu.Lock()
	held := g.held
	g.mu.Unlock()
	if !held {
		t.Fatal("the gateway does not hold sessions while Inoperative")
	}

	// It persists: a restarted charge point takes the hold again.
	stop()
	g.mu.Lock()
	g.held = false // the old process's hold died with it
	g.mu.Unlock()
	cp, _, _ = startCP(t, c, g, dir)
	c.WaitFor("online again", cp.Online)
	c.WaitFor("held again", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.held })

	if got := c.Status("ChangeAvailability", map[string]any{"connectorId": 1, "type": "Operative"}); got != "Accepted" {
		t.Fatalf("ChangeAvailability Operative = %s", got)
	}
	c.WaitFor("Available on 1", func() bool { return lastStatus(t, c, 1) == "Available" })

	// Charging: Scheduled, in force when the session ends.
	g.startLocal("TAG")
	if got := c.Status("ChangeAvailability", map[string]any{"connectorId": 0, "type": "Inoperative"}); got != "Scheduled" {
		t.Fatalf("ChangeAvailability while charging = %s, want Scheduled", got)
	}
	g.end(ledger.EndLocal)
	c.WaitFor("Unavailable after the session", func() bool { return lastStatus(t, c, 1) == "Unavailable" })
}
