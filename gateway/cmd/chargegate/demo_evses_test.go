package main

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chargegate/chargegate/gateway/rig"
)

// `chargegate demo --evses 2` runs two charging points under a site limit: both charge at once,
// each at the site_limit share, the shares together within the limit, and the chain verifies.
func TestDemoWithTwoEVSEs(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Dir(rig.Bin(t, "metersim"))
	code, out := rig.CLI(t, "", "demo", "--data", dir, "--bin", bin, "--duration", "20s", "--http", "127.0.0.1:0", "--evses", "2")
	if code != 0 {
		t.Fatalf("demo --evses 2 = %d:\n%s", code, out)
	}
	if !strings.Contains(out, "chain verified     yes") {
		t.Errorf("demo output lacks a verified chain:\n%s", out)
	}
	m := regexp.MustCompile(`both EVSEs charged at ([0-9.]+) A \(site_limit\) \+ ([0-9.]+) A \(site_limit\) = ([0-9.]+) A`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("demo output does not show both EVSEs sharing the site limit:\n%s", out)
	}
	a1, _ := strconv.ParseFloat(m[1], 64)
	a2, _ := strconv.ParseFloat(m[2], 64)
	if a1 < 6 || a2 < 6 || a1+a2 > demoSiteLimitA {
		t.Errorf("shares %.1f A + %.1f A: want each at least the 6 A minimum and together within %d A", a1, a2, demoSiteLimitA)
	}
	if code, out := rig.CLI(t, "", "demo", "--data", dir, "--bin", bin, "--evses", "3"); code != 2 || !strings.Contains(out, "--evses must be 1 or 2") {
		t.Errorf("demo --evses 3 = %d: %s", code, out)
	}
}
