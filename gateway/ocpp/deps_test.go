package ocpp_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The charge point is a part the appliance wires, like the MQTT link: it must not import the
// appliance (gateway/cmd/...) nor the other operator link.
func TestImportsNoAppliance(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		rest, ok := strings.CutPrefix(dep, "github.com/chargegate/chargegate/")
		if ok && (strings.HasPrefix(rest, "gateway/cmd") || rest == "gateway/mqtt" || rest == "gateway/rig") {
			t.Errorf("gateway/ocpp depends on %s", dep)
		}
	}
}
