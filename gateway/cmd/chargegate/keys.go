package main

import (
	"context"
	"fmt"
	"io"
)

func cmdKeys(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "chargegate: keys: not built yet")
	return 2
}
