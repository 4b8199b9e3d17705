package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/chargegate/chargegate/ledger/ocmf"
)

// cmdOCMF implements `chargegate ocmf verify --key KEY RECORD` (RECORD "-" reads stdin):
// exit 0 if the record verifies, 1 if not (with the reason), 2 on a usage error. KEY is a DER
// SubjectPublicKeyInfo in hex (spaces allowed) or base64, or @FILE holding one (or PEM).
func cmdOCMF(_ context.Context, args []string, stdout, stderr io.Writer) int {
	usage := func() int {
		fmt.Fprintln(stderr, "usage: chargegate ocmf verify --key KEY|@FILE RECORD|-")
		return 2
	}
	if len(args) == 0 || args[0] != "verify" {
		return usage()
	}
	fs := newFlagSet("ocmf verify", "ocmf verify --key KEY|@FILE RECORD|-", stderr)
	keyArg := fs.String("key", "", "public `KEY`: hex or base64 DER SPKI, or @FILE")
	if code, ok := fs.parse(args[1:], 1); !ok {
		return code
	}
	if *keyArg == "" || fs.NArg() != 1 {
		return usage()
	}
	keyText := *keyArg
	if strings.HasPrefix(keyText, "@") {
		b, err := os.ReadFile(keyText[1:])
		if err != nil {
			fmt.Fprintln(stderr, "chargegate: ocmf verify: read key:", err)
			return 2
		}
		keyText = string(b)
	}
	key, err := ocmf.ParsePublicKey(keyText)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: ocmf verify:", err)
		return 2
	}
	record := fs.Arg(0)
	if record == "-" {
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		if err != nil {
			fmt.Fprintln(stderr, "chargegate: ocmf verify: read record:", err)
			return 2
		}
		record = string(b)
	}
	r, err := ocmf.Parse(record)
	if err == nil {
		err = r.Verify(key)
	}
	if err != nil {
		fmt.Fprintln(stderr, "invalid:", err)
		return 1
	}
	source := r.Data.MS
	if source == "" {
		source = r.Data.GS
	}
	fmt.Fprintf(stdout, "valid: %s record %s from %s, %d readings\n", algorithmOf(r), r.Data.PG, source, len(r.Data.RD))
	return 0
}

func algorithmOf(r *ocmf.Record) string {
	if r.Signature.SA == "" {
		return ocmf.DefaultAlgorithm
	}
	return r.Signature.SA
}
