package bundle_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/chargegate/chargegate/ota/bundle"
)

func Example() {
	seed := make([]byte, ed25519.SeedSize) // a real release key comes from GenerateKey
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)

	var buf bytes.Buffer
	_, err := bundle.Create(&buf, bundle.Meta{Version: "2.1.0", SecurityVersion: 3, Compatible: []string{"rpi4"}},
		[]bundle.Input{{Name: "app", Type: bundle.TypeApp, Data: bytes.NewReader([]byte("new chargegate binary"))}},
		1<<20, []ed25519.PrivateKey{key})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := bundle.Verify(&buf, map[string]ed25519.PublicKey{bundle.KeyID(pub): pub})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Version, m.SecurityVersion, m.Payloads[0].Type, m.Payloads[0].Size)
	// Output: 2.1.0 3 app 21
}
