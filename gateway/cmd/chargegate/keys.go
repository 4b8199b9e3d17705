package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"

	"github.com/chargegate/chargegate/ledger"
)

// cmdKeys implements `chargegate keys show --data DIR`: the device ID and both public keys.
func cmdKeys(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "show" {
		fmt.Fprintln(stderr, "usage: chargegate keys show --data DIR")
		return 2
	}
	fs := newFlagSet("keys show", "keys show --data DIR", stderr)
	dir := fs.String("data", "", "data `DIR` holding entry.key and ocmf.key")
	if code, ok := fs.parse(args[1:], 0); !ok {
		return code
	}
	if *dir == "" {
		fs.Usage()
		return 2
	}
	keys, err := ledger.LoadKeys(*dir)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: keys:", err)
		return 1
	}
	edPub := keys.Entry.Public().(ed25519.PublicKey)
	edDER, err := x509.MarshalPKIXPublicKey(edPub)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: keys:", err)
		return 1
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&keys.OCMF.PublicKey)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: keys:", err)
		return 1
	}
	fmt.Fprintf(stdout, "device-id: %s\n", ledger.DeviceID(edPub))
	fmt.Fprintf(stdout, "entry-key: ed25519 %s\n", hex.EncodeToString(edPub))
	fmt.Fprintf(stdout, "entry-key-spki: %s\n", hex.EncodeToString(edDER))
	fmt.Fprintf(stdout, "ocmf-key: ECDSA-secp256r1 %s\n", hex.EncodeToString(ecDER))
	fmt.Fprint(stdout, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: edDER})))
	fmt.Fprint(stdout, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER})))
	return 0
}
