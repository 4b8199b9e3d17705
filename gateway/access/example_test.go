package access_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"time"

	"github.com/chargegate/chargegate/gateway/access"
)

// An issuer signs a single-use token for one card at one EVSE; the box, offline, lets it charge
// once within its limits and refuses the replay.
func Example() {
	dir, _ := os.MkdirTemp("", "access")
	defer os.RemoveAll(dir)
	pub, priv, _ := ed25519.GenerateKey(nil)

	tok, _ := access.Issue(priv, "emsp-2026", access.Claims{
		Subject: "04A1B2C3D4E5F6", EVSEs: []string{"DE*CGT*E0001*1"},
		Expiry: time.Now().Add(24 * time.Hour).Unix(), ID: "t-42", SingleUse: true,
		Limits: access.Limits{MaxEnergyWh: 20000},
	})
	a, _ := access.New(access.Config{
		Dir: dir, EVSEID: "DE*CGT*E0001*1", Policy: access.DefaultPolicy(),
		Issuers: map[string]ed25519.PublicKey{"emsp-2026": pub},
	})
	d := a.Authorize(context.Background(), access.Request{IDToken: "04A1B2C3D4E5F6", Token: tok})
	fmt.Println(d.Allowed, d.Source, d.IssuerKeyID, d.Limits.MaxEnergyWh)
	d = a.Authorize(context.Background(), access.Request{Token: tok})
	fmt.Println(d.Allowed, d.Reason)
	// Output:
	// true token emsp-2026 20000
	// false replayed
}
