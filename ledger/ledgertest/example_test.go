package ledgertest_test

import (
	"crypto/ed25519"
	"fmt"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

// A test signs with the fixed key of the golden vectors; its device ID never changes.
func Example() {
	key := ledgertest.Key(nil) // in a test: ledgertest.Key(t)
	fmt.Println(ledger.DeviceID(key.Public().(ed25519.PublicKey)))
	// Output: de644516132f06a9
}
