package main

import (
	"context"
	"fmt"
	"io"
)

func cmdProof(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "chargegate: proof: not built yet")
	return 2
}
