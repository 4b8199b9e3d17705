package main

import (
	"context"
	"fmt"
	"io"
)

func cmdMeter(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "chargegate: meter: not built yet")
	return 2
}
