package ocpp_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ocmf"
)

// The CSMS dies (SIGKILL) in the middle of a session; the session goes on and ends, a second
// one starts, the charge point itself restarts on the same ocpp.db, the second session ends
// after a power failure, and only then a new CSMS process comes up. Every transaction message
// must arrive exactly once and in order, and the second session's StopTransaction, queued
// while its StartTransaction had never been answered, must carry the transactionId the new
// CSMS gave.
func TestCSMSKilledMidSession(t *testing.T) {
	c := startCSMS(t, "--interval", "30", "--txid-start", "100")
	g := newStandIn(t)
	dir := t.TempDir()
	cp, q, stop := startCP(t, c, g, dir)
	c.WaitFor("online", cp.Online)
	backlog := func() int { n, _ := q.Backlog(context.Background()); return n }

	g.startLocal("TAG-A")
	g.tick(1_000_000)
	g.tick(1_000_000)
	c.WaitFor("the first messages delivered", func() bool { return backlog() == 0 && len(c.Calls("MeterValues")) == 2 })

	c.Kill()
	c.WaitFor("the charge point to notice", func() bool { return !cp.Online() })
	g.tick(1_000_000)
	g.tick(1_000_000)
	g.tick(1_000_000)
	recA := g.end(ledger.EndLocal)
	g.startLocal("TAG-B")
	g.tick(500_000)
	if n := backlog(); n != 6 {
		t.Fatalf("%d messages queued while the CSMS is down, want 6 (3 MeterValues, Stop A, Start B, 1 MeterValues)", n)
	}

	// The charge point restarts (its process would) while the CSMS is still down; the new one
	// adopts the running session from the gateway's status.
	stop()
	cp, q, _ = startCP(t, c, g, dir)
	g.publish()
	g.publish()
	g.tick(500_000)
	recB := g.end(ledger.EndPowerFailure)
	if n := backlog(); n != 8 {
		t.Fatalf("%d messages queued after the restart, want 8 (1 MeterValues and Stop B more)", n)
	}

	c.Restart(2, "--txid-start", "200")
	c.WaitFor("the backlog delivered", func() bool { return backlog() == 0 && cp.Online() })

	// Exactly once, in order: the message ids are tx1, tx2, … without a gap or a repeat.
	var ids []int
	for _, l := range c.All() {
		if l.Type == "call" && strings.HasPrefix(l.ID, "tx") {
			n, _ := strconv.Atoi(l.ID[2:])
			ids = append(ids, n)
		}
	}
	// Start A, 2 MeterValues before the kill; 3 MeterValues, Stop A, Start B, 2 MeterValues,
	// Stop B after it.
	want := make([]int, 3+8)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("transaction message ids %v, want %v: each once, in order", ids, want)
	}

	starts, stops := c.Calls("StartTransaction"), c.Calls("StopTransaction")
	if len(starts) != 2 || len(stops) != 2 {
		t.Fatalf("%d StartTransaction and %d StopTransaction, want 2 each", len(starts), len(stops))
	}
	stA, stB := params[stopTx](t, stops[0]), params[stopTx](t, stops[1])
	if stA.TransactionID != 100 || stA.Reason != "Local" || stA.MeterStop != recA.EndMWh/1000 {
		t.Errorf("StopTransaction A = %+v, want transaction 100, Local, meterStop %d", stA, recA.EndMWh/1000)
	}
	if stB.TransactionID != 200 || stB.Reason != "PowerLoss" || stB.MeterStop != recB.EndMWh/1000 || stB.IDTag != "TAG-B" {
		t.Errorf("StopTransaction B = %+v, want transaction 200 (given after it was queued), PowerLoss, meterStop %d, TAG-B", stB, recB.EndMWh/1000)
	}
	if stops[1].Life != 2 || starts[1].Life != 2 {
		t.Errorf("session B's messages were seen by CSMS run %d/%d, want the restarted one", starts[1].Life, stops[1].Life)
	}
	for _, st := range []stopTx{stA, stB} {
		sd := signedData(st)
		if len(sd) != 1 || ocmf.Verify(sd[0].Value, g.spki()) != nil {
			t.Errorf("transaction %d: signed value missing or not verifying", st.TransactionID)
		}
	}
	for _, l := range c.Calls("MeterValues") {
		m := params[struct {
			TransactionID int64 `json:"transactionId"`
		}](t, l)
		if m.TransactionID != 100 && m.TransactionID != 200 {
			t.Errorf("MeterValues for transaction %d", m.TransactionID)
		}
	}
}
