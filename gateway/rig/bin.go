package rig

import (
	"path/filepath"
	"sync"
	"testing"
)

// Programs are the main packages Bin builds, by import path.
var Programs = []string{
	"github.com/chargegate/chargegate/gateway/cmd/chargegate",
	"github.com/chargegate/chargegate/meter/cmd/metersim",
	"github.com/chargegate/chargegate/ledger/cmd/ledgernode",
}

// BuildTags are the tags Bin builds with: faultinject adds the crash hooks the tests use
// (SIGUSR1 panics, CHARGEGATE_CRASH_AT); without them a binary behaves as a release build.
const BuildTags = "faultinject"

var built = sync.OnceValues(func() (string, error) { return Build(BuildTags, Programs...) })

// Bin returns the path of one of Programs ("chargegate", "metersim", "ledgernode"), built
// once per test binary (the first call builds all three) with BuildTags.
func Bin(tb testing.TB, name string) string {
	tb.Helper()
	dir, err := built()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(dir, name)
}
