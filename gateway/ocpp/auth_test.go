package ocpp_test

import (
	"context"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
)

// The CSMS answers StartTransaction with idTagInfo Invalid: with StopTransactionOnInvalidId
// (default true) the charge point stops the session and reports DeAuthorized.
func TestInvalidIDTagStopsSession(t *testing.T) {
	c := startCSMS(t, "--interval", "30", "--auth", "Invalid")
	g := newStandIn(t)
	cp, _, _ := startCP(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	g.startLocal("BADTAG")
	st := params[stopTx](t, c.WaitCalls("StopTransaction", 1)[0])
	if st.Reason != "DeAuthorized" || st.IDTag != "BADTAG" {
		t.Errorf("StopTransaction = %+v, want reason DeAuthorized for BADTAG", st)
	}
}

// With AuthorizeRemoteTxRequests a remote start is authorized first, and a Blocked idTag
// starts nothing; Authorize is also there for a local reader.
func TestAuthorizeRemoteTxRequests(t *testing.T) {
	c := startCSMS(t, "--interval", "30", "--auth", "Blocked")
	g := newStandIn(t)
	cp, _, _ := startCP(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	if got := c.Status("ChangeConfiguration", map[string]string{"key": "AuthorizeRemoteTxRequests", "value": "true"}); got != "Accepted" {
		t.Fatalf("ChangeConfiguration AuthorizeRemoteTxRequests: %s", got)
	}
	if got := c.Status("RemoteStartTransaction", map[string]any{"idTag": "BLOCKED1"}); got != "Accepted" {
		t.Fatalf("RemoteStartTransaction = %s, want Accepted (the answer precedes the authorization)", got)
	}
	auth := c.WaitCalls("Authorize", 1)
	if a := params[map[string]string](t, auth[0]); a["idTag"] != "BLOCKED1" {
		t.Errorf("Authorize %v, want BLOCKED1", a)
	}
	// A second remote start can be accepted once the first attempt has given up, and must
	// again be authorized: so both attempts were decided by the CSMS.
	c.WaitFor("the remote start to give up", func() bool {
		return c.Status("RemoteStartTransaction", map[string]any{"idTag": "BLOCKED2"}) == "Accepted"
	})
	c.WaitCalls("Authorize", 2)
	g.mu.Lock()
	running := g.session != nil
	g.mu.Unlock()
	if running || len(c.Calls("StartTransaction")) != 0 {
		t.Errorf("a Blocked idTag started a session")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if st, err := cp.Authorize(ctx, "LOCAL1"); err != nil || st != "Blocked" {
		t.Errorf("Authorize = %q, %v; want Blocked", st, err)
	}
}

// A CALLERROR on a transaction message is retried under the same message id until the CSMS
// takes it; the messages behind it wait.
func TestTransactionMessageRetried(t *testing.T) {
	c := startCSMS(t, "--interval", "30", "--fail", "StartTransaction:2")
	g := newStandIn(t)
	cp, q, _ := startCP(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	g.startLocal("TAG")
	g.end(ledger.EndLocal)
	c.WaitFor("the backlog delivered", func() bool { n, _ := q.Backlog(context.Background()); return n == 0 })
	starts := c.Calls("StartTransaction")
	if len(starts) != 3 || starts[0].ID != starts[1].ID || starts[1].ID != starts[2].ID {
		t.Errorf("StartTransaction calls %d with ids %v, want 3 under one id", len(starts), ids(starts))
	}
	stops := c.Calls("StopTransaction")
	if len(stops) != 1 || params[stopTx](t, stops[0]).TransactionID != 1 {
		t.Errorf("StopTransaction %d, want one for transaction 1", len(stops))
	}
}

// After TransactionMessageAttempts refusals a StartTransaction is given up with its session:
// the StopTransaction, which could not name a transaction, is not sent either.
func TestTransactionMessageGivenUp(t *testing.T) {
	c := startCSMS(t, "--interval", "30", "--fail", "StartTransaction:5")
	g := newStandIn(t)
	cp, q, _ := startCP(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	if got := c.Status("ChangeConfiguration", map[string]string{"key": "TransactionMessageAttempts", "value": "2"}); got != "Accepted" {
		t.Fatal(got)
	}
	g.startLocal("TAG")
	g.end(ledger.EndLocal)
	c.WaitFor("the backlog given up", func() bool { n, _ := q.Backlog(context.Background()); return n == 0 })
	if n := len(c.Calls("StartTransaction")); n != 2 {
		t.Errorf("%d StartTransaction attempts, want 2", n)
	}
	if n := len(c.Calls("StopTransaction")); n != 0 {
		t.Errorf("%d StopTransaction for a session the CSMS never took, want 0", n)
	}
}

func TestBootRejectedThenAccepted(t *testing.T) {
	c := startCSMS(t, "--boot", "Rejected,Rejected,Accepted", "--interval", "1")
	g := newStandIn(t)
	cp, _, _ := startCP(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	var seq []string
	for _, l := range c.All() {
		if l.Type == "call" {
			seq = append(seq, l.Action)
		}
	}
	if len(seq) < 3 || seq[0] != "BootNotification" || seq[1] != "BootNotification" || seq[2] != "BootNotification" {
		t.Errorf("calls %v, want three BootNotifications first", seq)
	}
}

func ids(ls []csmsLine) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.ID)
	}
	return out
}
