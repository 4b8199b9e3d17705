package hal_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOnlyPeriphTouchesTheHost enforces the backend split: periph.io's host
// drivers (which open /dev/gpiochip*, /dev/mem, sysfs) are linked only
// through hal/periph; hal, hal/sim, hal/pilot and hal/heidelberg build on
// periph.io/x/conn alone.
func TestOnlyPeriphTouchesTheHost(t *testing.T) {
	for _, pkg := range []string{".", "./sim", "./pilot", "./heidelberg"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "periph.io/x/host") || strings.HasSuffix(dep, "/hal/periph") {
				t.Errorf("%s depends on %s: only hal/periph may touch the host", pkg, dep)
			}
		}
	}
	out, err := exec.Command("go", "list", "-deps", "./periph").CombinedOutput()
	if err != nil {
		t.Fatalf("go list ./periph: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "periph.io/x/host/v3/gpioioctl\n") {
		t.Error("hal/periph does not use the GPIO character-device driver")
	}
}
