package ocpp_test

import (
	"context"
	"testing"
	"time"
)

// The CSMS's Authorize as the access component's online source: Available while accepted,
// the CSMS's answer mapped (Blocked is refused with its reason), an error while offline.
func TestOnlineChecker(t *testing.T) {
	c := startCSMS(t, "--interval", "30", "--auth", "Blocked")
	cp, _, _ := startCP(t, c, newStandIn(t), t.TempDir())
	c.WaitFor("online", cp.Online)
	oc := cp.OnlineChecker()
	if !oc.Available() {
		t.Fatal("not available while online")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := oc.Check(ctx, "04A1B2C3")
	if err != nil || r.Allowed || r.Reason != "Blocked" {
		t.Errorf("Check = %+v, %v; want refused as Blocked", r, err)
	}
	if len(c.Calls("Authorize")) != 1 {
		t.Errorf("%d Authorize calls, want 1", len(c.Calls("Authorize")))
	}
	if _, err := oc.Check(ctx, "012345678901234567890"); err == nil {
		t.Error("an idTag of 21 characters was sent")
	}
	c.Kill()
	c.WaitFor("offline", func() bool { return !oc.Available() })
	if _, err := oc.Check(ctx, "04A1B2C3"); err == nil {
		t.Error("Check answered while the CSMS is down")
	}
}
