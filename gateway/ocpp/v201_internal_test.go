package ocpp

import (
	"testing"
)

// Every end reason the ledger defines has a deliberate 2.0.1 trigger and stopped reason.
func TestEveryEndReasonMapped201(t *testing.T) {
	for name, v := range ledgerEndReasons(t) {
		if _, ok := endReasons201[v]; !ok {
			t.Errorf("ledger.%s (%q) has no OCPP 2.0.1 reason in endReasons201", name, v)
		}
	}
}

// Every default in the device model passes its own type check, and the keys are unique.
func TestDeviceModelDefaults(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range deviceModel {
		if seen[v.key()] {
			t.Errorf("%s twice", v.key())
		}
		seen[v.key()] = true
		if d := v.def(Config{Vendor: "v", Identity: "id", URL: "ws://x"}); v.dataType != "string" && d != "" && v.checkValue(d) != nil {
			t.Errorf("%s default %q: %v", v.key(), d, v.checkValue(d))
		}
	}
}
