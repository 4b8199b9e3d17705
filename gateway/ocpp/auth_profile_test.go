package ocpp_test

import (
	"strings"
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

	// The CSMS comes back with another password: refused (LastError says so); with the right
	// one again, the charge point reports FailedToAuthenticateAtCentralSystem.
	c.Restart(2, "--password", "rotated-password")
	c.WaitFor("refused after the rotation", func() bool {
		err := good.LastError()
		return err != nil && strings.Contains(err.Error(), "refused the credentials (HTTP 401)")
	})
	c.Restart(3)
	c.WaitFor("online again", good.Online)
	c.WaitFor("FailedToAuthenticateAtCentralSystem reported", func() bool {
		for _, l := range c.Calls("SecurityEventNotification") {
			if params[map[string]string](t, l)["type"] == ocpp.EventFailedToAuthenticateAtCentralSystem {
				return true
			}
		}
		return false
	})
}
