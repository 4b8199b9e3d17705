package main

import (
	"context"
	"fmt"
	"io"
)

func cmdOCMF(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "chargegate: ocmf: not built yet")
	return 2
}
