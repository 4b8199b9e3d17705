package ocpp_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
)

// AuthCtrlr.AuthorizeRemoteStart true with a CSMS that answers Invalid: RequestStartTransaction
// is Accepted (F01/F02: the answer says the station will try), the idToken goes to Authorize
// with its type, and nothing starts — no session, no TransactionEvent. With the variable false
// (after a restart) the same token starts at once; the Started event's idTokenInfo Invalid then
// ends it (StopTxOnInvalidId).
func TestV201AuthorizeRemoteStartRefused(t *testing.T) {
	c := startCSMS201(t, "--interval", "30", "--auth", "Invalid")
	g := newStandIn(t)
	dir := t.TempDir()
	cp, _, stop := startCP201(t, c, g, dir)
	c.WaitFor("online", cp.Online)
	setAll(t, c, varReq("AuthCtrlr", "AuthorizeRemoteStart", "", "true"))
	start := map[string]any{"remoteStartId": 5, "idToken": map[string]string{"idToken": "REMOTE-1", "type": "eMAID"}}
	if s := c.Status("RequestStartTransaction", start); s != "Accepted" {
		t.Fatalf("RequestStartTransaction = %s", s)
	}
	tok := params[struct {
		IDToken struct{ IDToken, Type string }
	}](t, c.WaitCalls("Authorize", 1)[0]).IDToken
	if tok.IDToken != "REMOTE-1" || tok.Type != "eMAID" {
		t.Errorf("Authorize idToken %+v, want the request's REMOTE-1 / eMAID", tok)
	}
	c.WaitFor("the Authorize answer", func() bool {
		return c.Count(func(l csmsLine) bool { return l.Type == "reply" && l.Action == "Authorize" }) == 1
	})
	stop() // Run waits for the remote start's goroutine
	g.mu.Lock()
	started := g.n
	g.mu.Unlock()
	if started != 0 || len(c.Calls("TransactionEvent")) != 0 {
		t.Fatalf("a token the CSMS called Invalid started %d sessions, %d TransactionEvents", started, len(c.Calls("TransactionEvent")))
	}

	cp, _, _ = startCP201(t, c, g, dir)
	c.WaitFor("online again", cp.Online)
	setAll(t, c, varReq("AuthCtrlr", "AuthorizeRemoteStart", "", "false"))
	if s := c.Status("RequestStartTransaction", start); s != "Accepted" {
		t.Fatalf("RequestStartTransaction = %s", s)
	}
	c.WaitFor("the session", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.n == 1 })
	g.publish()
	c.WaitFor("the Ended event (DeAuthorized)", func() bool {
		ev := txEvents(t, c)
		return len(ev) > 0 && ev[len(ev)-1].EventType == "Ended"
	})
	ev := txEvents(t, c)
	if ev[0].TriggerReason != "RemoteStart" || ev[len(ev)-1].TransactionInfo.StoppedReason != "DeAuthorized" {
		t.Errorf("events %+v, want RemoteStart … DeAuthorized", ev)
	}
	if n := len(c.Calls("Authorize")); n != 1 {
		t.Errorf("%d Authorize calls, want none without AuthorizeRemoteStart", n-1)
	}
}

// AuthCacheCtrlr.LifeTime: a cached token decides offline while it was used within the
// lifetime (each use renews it) and not once the lifetime has passed since.
func TestV201AuthCacheLifeTime(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	cp, _, _ := startCP201(t, c, g, t.TempDir())
	var mu sync.Mutex
	now := time.Now()
	cp.SetCacheClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	pass := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c.WaitFor("online", cp.Online)
	setAll(t, c, varReq("AuthCacheCtrlr", "LifeTime", "", "60"))
	ctx := context.Background()
	for _, tok := range []string{"TAG-USED", "TAG-IDLE"} {
		if s, err := cp.Authorize(ctx, tok); s != "Accepted" || err != nil {
			t.Fatalf("Authorize %s online = %s, %v", tok, s, err)
		}
	}
	c.Kill()
	c.WaitFor("offline", func() bool { return !cp.Online() })

	pass(40 * time.Second)
	if s, err := cp.Authorize(ctx, "TAG-USED"); s != "Accepted" || err != nil {
		t.Errorf("Authorize TAG-USED offline 40 s after caching = %s, %v; want Accepted from the cache", s, err)
	}
	pass(40 * time.Second) // 80 s after caching, 40 s after TAG-USED's last use
	if s, err := cp.Authorize(ctx, "TAG-USED"); s != "Accepted" || err != nil {
		t.Errorf("Authorize TAG-USED offline 40 s after its last use = %s, %v; want Accepted", s, err)
	}
	if _, err := cp.Authorize(ctx, "TAG-IDLE"); !errors.Is(err, ocpp.ErrOffline) {
		t.Errorf("Authorize TAG-IDLE offline 80 s after caching: %v, want ErrOffline (past LifeTime 60 s)", err)
	}
	pass(61 * time.Second)
	if _, err := cp.Authorize(ctx, "TAG-USED"); !errors.Is(err, ocpp.ErrOffline) {
		t.Errorf("Authorize TAG-USED offline 61 s after its last use: %v, want ErrOffline", err)
	}
}
