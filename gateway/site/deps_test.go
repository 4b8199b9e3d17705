package site_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoGatewayImport keeps load management a package of its own: it may use meter (the
// grid reading) but never package gateway or its other subpackages, which compose it.
func TestNoGatewayImport(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/chargegate/chargegate/"
	for _, dep := range strings.Fields(string(out)) {
		rest, ok := strings.CutPrefix(dep, mod)
		if !ok || rest == "gateway/site" {
			continue
		}
		if rest == "gateway" || strings.HasPrefix(rest, "gateway/") || rest == "hal" || strings.HasPrefix(rest, "ledger") {
			t.Errorf("gateway/site depends on %s", dep)
		}
	}
}
