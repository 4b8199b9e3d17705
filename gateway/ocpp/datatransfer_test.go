package ocpp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/access"
)

// The CSMS's Authorize as the access component's online source: Available while accepted,
// the CSMS's answer mapped (Blocked is refused with its reason), an error while offline.
func TestOnlineChecker(t *testing.T) {
	t.Run("1.6", func(t *testing.T) {
		c := startCSMS(t, "--interval", "30", "--auth", "Blocked")
		cp, _, _ := startCP(t, c, newStandIn(t), t.TempDir())
		c.WaitFor("online", cp.Online)
		checkOnline(t, c, cp.OnlineChecker(), 20)
	})
	t.Run("2.0.1", func(t *testing.T) {
		c := startCSMS201(t, "--interval", "30", "--auth", "Blocked")
		cp, _, _ := startCP201(t, c, newStandIn(t), t.TempDir())
		c.WaitFor("online", cp.Online)
		checkOnline(t, c, cp.OnlineChecker(), 36)
	})
}

func checkOnline(t *testing.T, c *csms, oc access.OnlineChecker, maxLen int) {
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
	if _, err := oc.Check(ctx, strings.Repeat("0", maxLen+1)); err == nil {
		t.Errorf("an idToken of %d characters was sent", maxLen+1)
	}
	c.Kill()
	c.WaitFor("offline", func() bool { return !oc.Available() })
	if _, err := oc.Check(ctx, "04A1B2C3"); err == nil {
		t.Error("Check answered while the CSMS is down")
	}
}
