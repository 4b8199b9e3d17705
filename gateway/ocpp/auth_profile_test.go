package ocpp_test

import (
	"testing"

	"github.com/chargegate/chargegate/gateway/ocpp"
)

// Security profile 1: HTTP Basic auth with the identity as user. A wrong password is refused
// at the handshake and never gets online; the right one boots.
func TestBasicAuth(t *testing.T) {
	c := startCSMS(t, "--interval", "30", "--password", "s3cret-0123456789")
	g := newStandIn(t)
	bad, _, stopBad := startCP(t, c, g, t.TempDir(), func(cfg *ocpp.Config) { cfg.Password = "wrong" })
	c.WaitFor("the wrong password refused twice", func() bool { return c.Count(func(l csmsLine) bool { return l.Type == "refused" }) >= 2 })
	if bad.Online() || len(c.Calls("BootNotification")) != 0 {
		t.Fatal("a charge point with the wrong password got online")
	}
	stopBad()
	good, _, _ := startCP(t, c, g, t.TempDir(), func(cfg *ocpp.Config) { cfg.Password = "s3cret-0123456789" })
	c.WaitFor("online with the right password", good.Online)
}
