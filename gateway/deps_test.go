package gateway_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection enforces DESIGN.md: meter, hal, ledger and ota import neither gateway nor
// each other; only gateway composes them.
func TestImportDirection(t *testing.T) {
	const mod = "github.com/chargegate/chargegate/"
	parts := []string{"meter", "hal", "ledger", "ota"}
	for _, part := range parts {
		out, err := exec.Command("go", "list", "-deps", "-test", "../"+part+"/...").CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", part, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if !strings.HasPrefix(dep, mod) {
				continue
			}
			top := strings.SplitN(strings.TrimPrefix(dep, mod), "/", 2)[0]
			// Test binaries and external test packages of the part itself ("hal.test", "ota_test").
			top = strings.TrimSuffix(strings.TrimSuffix(top, ".test"), "_test")
			if top != part {
				t.Errorf("%s depends on %s: only gateway may compose the parts", part, dep)
			}
		}
	}
}

// TestControlLoopImportsNoBackends keeps package gateway to domain and control logic: concrete
// backends (GPIO, simulator, SQLite, MQTT, IOTA, update slots) are wired in cmd/chargegate.
func TestControlLoopImportsNoBackends(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{"hal": true, "ledger": true, "ledger/ocmf": true, "meter": true, "ota": true, "gateway/access": true}
	for _, imp := range strings.Fields(string(out)) {
		rest, ok := strings.CutPrefix(imp, "github.com/chargegate/chargegate/")
		if ok && !allowed[rest] {
			t.Errorf("package gateway imports %s; wire it in cmd/chargegate instead", imp)
		}
	}
}
