package ocpp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
)

func (g *standIn) running() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.session != nil
}

func listVersion(t *testing.T, c *csms) int {
	t.Helper()
	res, err := c.Call("GetLocalListVersion", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	return params[struct {
		ListVersion int `json:"listVersion"`
	}](t, csmsLine{Params: res}).ListVersion
}

func setKey(t *testing.T, c *csms, key, value string) {
	t.Helper()
	if got := c.Status("ChangeConfiguration", map[string]string{"key": key, "value": value}); got != "Accepted" {
		t.Fatalf("ChangeConfiguration %s=%s: %s", key, value, got)
	}
}

// The CSMS is down: an idTag on the Local Authorization List (or in the authorization cache)
// starts a session through Sessions, an unknown one does not, until AllowOfflineTxForUnknownId;
// only the same idTag or one with the same parentIdTag stops it; the list survives a restart.
func TestLocalListOffline(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	g := newStandIn(t)
	dir := t.TempDir()
	cp, _, stop := startCP(t, c, g, dir)
	c.WaitFor("online", cp.Online)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if v := listVersion(t, c); v != 0 {
		t.Errorf("GetLocalListVersion before any list = %d, want 0", v)
	}
	full := map[string]any{"listVersion": 1, "updateType": "Full", "localAuthorizationList": []any{
		map[string]any{"idTag": "LISTED1", "idTagInfo": map[string]any{"status": "Accepted"}},
		map[string]any{"idTag": "BLOCKED1", "idTagInfo": map[string]any{"status": "Blocked"}},
		map[string]any{"idTag": "GONE1", "idTagInfo": map[string]any{"status": "Accepted"}},
	}}
	if got := c.Status("SendLocalList", full); got != "Accepted" {
		t.Fatalf("SendLocalList Full = %s", got)
	}
	diff := map[string]any{"listVersion": 1, "updateType": "Differential", "localAuthorizationList": []any{
		map[string]any{"idTag": "GONE1"},
		map[string]any{"idTag": "FLEET1", "idTagInfo": map[string]any{"status": "Accepted", "parentIdTag": "FLEET"}},
		map[string]any{"idTag": "FLEET2", "idTagInfo": map[string]any{"status": "Accepted", "parentIdTag": "FLEET"}},
		map[string]any{"idTag": "OLD1", "idTagInfo": map[string]any{"status": "Accepted", "expiryDate": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}},
	}}
	if got := c.Status("SendLocalList", diff); got != "VersionMismatch" {
		t.Errorf("SendLocalList Differential with the same version = %s, want VersionMismatch", got)
	}
	diff["listVersion"] = 2
	if got := c.Status("SendLocalList", diff); got != "Accepted" {
		t.Fatalf("SendLocalList Differential = %s", got)
	}
	if v := listVersion(t, c); v != 2 {
		t.Errorf("GetLocalListVersion = %d, want 2", v)
	}
	setKey(t, c, "LocalAuthorizeOffline", "true")
	// Authorized online: the CSMS's answer goes into the cache.
	if st, err := cp.Authorize(ctx, "CACHED1"); err != nil || st != "Accepted" {
		t.Fatalf("Authorize CACHED1 = %q, %v", st, err)
	}

	c.Kill()
	c.WaitFor("offline", func() bool { return !cp.Online() })
	for _, tag := range []string{"UNKNOWN1", "BLOCKED1", "GONE1", "OLD1"} {
		if _, err := cp.StartLocal(ctx, tag); err == nil || g.running() {
			t.Fatalf("offline, %s started a session (err %v)", tag, err)
		}
	}
	if _, err := cp.StartLocal(ctx, "UNKNOWN1"); !errors.Is(err, ocpp.ErrOffline) {
		t.Errorf("offline unknown idTag: %v, want ErrOffline", err)
	}
	if _, err := cp.StartLocal(ctx, "BLOCKED1"); !errors.Is(err, ocpp.ErrNotAuthorized) {
		t.Errorf("offline Blocked idTag: %v, want ErrNotAuthorized", err)
	}
	for _, tag := range []string{"LISTED1", "CACHED1"} {
		if _, err := cp.StartLocal(ctx, tag); err != nil || !g.running() {
			t.Fatalf("offline, %s (listed or cached) did not start: %v", tag, err)
		}
		if err := cp.StopLocal(ctx, "FLEET1"); !errors.Is(err, ocpp.ErrNotAuthorized) || !g.running() {
			t.Errorf("another idTag stopped %s's session: %v", tag, err)
		}
		if err := cp.StopLocal(ctx, tag); err != nil {
			t.Fatal(err)
		}
		c.WaitFor(tag+"'s session to end", func() bool { return !g.running() })
	}

	// The list is in ocpp.db: a restarted charge point, still offline, knows FLEET2; FLEET1
	// shares its parentIdTag and may stop its session.
	stop()
	cp, q, _ := startCP(t, c, g, dir)
	if _, err := cp.StartLocal(ctx, "FLEET2"); err != nil {
		t.Fatalf("after a restart, FLEET2 did not start: %v", err)
	}
	if err := cp.StopLocal(ctx, "FLEET1"); err != nil {
		t.Fatalf("FLEET1 (same parentIdTag) could not stop FLEET2's session: %v", err)
	}
	c.WaitFor("FLEET2's session to end", func() bool { return !g.running() })

	// The CSMS returns: the three offline sessions arrive, stopped Local by their idTags.
	c.Start(2)
	c.WaitFor("the backlog delivered", func() bool { n, _ := q.Backlog(context.Background()); return cp.Online() && n == 0 })
	var tags []string
	for _, l := range c.Calls("StopTransaction") {
		st := params[stopTx](t, l)
		tags = append(tags, st.IDTag)
		if st.Reason != "Local" {
			t.Errorf("StopTransaction %+v, want reason Local", st)
		}
	}
	if len(tags) != 3 || tags[0] != "LISTED1" || tags[1] != "CACHED1" || tags[2] != "FLEET2" {
		t.Errorf("StopTransactions for %v, want LISTED1, CACHED1, FLEET2", tags)
	}
	if v := listVersion(t, c); v != 2 {
		t.Errorf("GetLocalListVersion after a restart = %d, want 2", v)
	}

	// AllowOfflineTxForUnknownId: offline, an unknown idTag starts.
	setKey(t, c, "AllowOfflineTxForUnknownId", "true")
	c.Kill()
	c.WaitFor("offline", func() bool { return !cp.Online() })
	if _, err := cp.StartLocal(ctx, "UNKNOWN2"); err != nil || !g.running() {
		t.Fatalf("offline with AllowOfflineTxForUnknownId, UNKNOWN2 did not start: %v", err)
	}
}

// LocalPreAuthorize: an Accepted listed idTag starts without asking the CSMS (which would
// block it); ClearCache empties the cache; GetLocalListVersion is -1 with the list disabled.
func TestLocalPreAuthorizeAndClearCache(t *testing.T) {
	c := startCSMS(t, "--interval", "30", "--auth", "Blocked")
	g := newStandIn(t)
	cp, _, _ := startCP(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := map[string]any{"listVersion": 5, "updateType": "Full", "localAuthorizationList": []any{
		map[string]any{"idTag": "LISTED1", "idTagInfo": map[string]any{"status": "Accepted"}},
	}}
	if got := c.Status("SendLocalList", full); got != "Accepted" {
		t.Fatal(got)
	}
	if st, err := cp.Authorize(ctx, "LISTED1"); err != nil || st != "Blocked" {
		t.Errorf("Authorize LISTED1 without LocalPreAuthorize = %q, %v; want the CSMS's Blocked", st, err)
	}
	setKey(t, c, "LocalPreAuthorize", "true")
	if st, err := cp.Authorize(ctx, "LISTED1"); err != nil || st != "Accepted" {
		t.Errorf("Authorize LISTED1 with LocalPreAuthorize = %q, %v; want Accepted", st, err)
	}
	if n := len(c.Calls("Authorize")); n != 1 {
		t.Errorf("%d Authorize calls, want 1 (the pre-authorized one decided locally)", n)
	}
	// The cache holds OTHER1 as Blocked; offline with LocalAuthorizeOffline it stays refused,
	// and after ClearCache it is unknown (ErrOffline rather than Blocked).
	if st, _ := cp.Authorize(ctx, "OTHER1"); st != "Blocked" {
		t.Fatalf("Authorize OTHER1 = %q", st)
	}
	setKey(t, c, "LocalAuthorizeOffline", "true")
	if got := c.Status("ClearCache", map[string]any{}); got != "Accepted" {
		t.Errorf("ClearCache = %s", got)
	}
	setKey(t, c, "LocalAuthListEnabled", "false")
	if v := listVersion(t, c); v != -1 {
		t.Errorf("GetLocalListVersion with the list disabled = %d, want -1", v)
	}
	if got := c.Status("SendLocalList", full); got != "NotSupported" {
		t.Errorf("SendLocalList with the list disabled = %s, want NotSupported", got)
	}
	c.Kill()
	c.WaitFor("offline", func() bool { return !cp.Online() })
	if _, err := cp.Authorize(ctx, "OTHER1"); !errors.Is(err, ocpp.ErrOffline) {
		t.Errorf("after ClearCache, offline OTHER1: %v, want ErrOffline", err)
	}
	if _, err := cp.Authorize(ctx, "LISTED1"); !errors.Is(err, ocpp.ErrOffline) {
		t.Errorf("with the list disabled, offline LISTED1: %v, want ErrOffline", err)
	}
}
