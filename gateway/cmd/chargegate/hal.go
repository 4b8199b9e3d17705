package main

import (
	"context"
	"fmt"
	"io"
)

func cmdHal(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "chargegate: hal: not built yet")
	return 2
}
