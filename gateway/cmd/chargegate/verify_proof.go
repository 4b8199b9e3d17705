package main

import (
	"context"
	"fmt"
	"io"
)

func cmdVerifyProof(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "chargegate: verify_proof: not built yet")
	return 2
}
