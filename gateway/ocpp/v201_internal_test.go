package ocpp

import (
	"encoding/json"
	"testing"
	"time"
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

// customData is dropped from every object of a 2.0.1 payload, except inside a DataTransfer's
// data (the vendor's own), and numbers keep their exact text; other unknown members are still
// refused.
func TestDropCustomData(t *testing.T) {
	for _, tc := range []struct{ action, in, want string }{
		{"GetVariables", `{"getVariableData":[{"component":{"name":"AuthCtrlr"},"variable":{"name":"Enabled"}}]}`,
			`{"getVariableData":[{"component":{"name":"AuthCtrlr"},"variable":{"name":"Enabled"}}]}`},
		{"GetVariables", `{"customData":{"vendorId":"x","k":1},"getVariableData":[{"component":{"name":"AuthCtrlr","customData":{"vendorId":"x"}},"variable":{"name":"Enabled"}}]}`,
			`{"getVariableData":[{"component":{"name":"AuthCtrlr"},"variable":{"name":"Enabled"}}]}`},
		{"RequestStartTransaction", `{"remoteStartId":12345678901234567890,"idToken":{"idToken":"A","type":"Central","customData":{"vendorId":"v"}}}`,
			`{"idToken":{"idToken":"A","type":"Central"},"remoteStartId":12345678901234567890}`},
		{"DataTransfer", `{"vendorId":"v","data":{"customData":{"keep":true}},"customData":{"vendorId":"v"}}`,
			`{"data":{"customData":{"keep":true}},"vendorId":"v"}`},
	} {
		got, err := dropCustomData(tc.action, json.RawMessage(tc.in))
		if err != nil {
			t.Fatalf("%s %s: %v", tc.action, tc.in, err)
		}
		if string(got) != tc.want {
			t.Errorf("%s %s = %s, want %s", tc.action, tc.in, got, tc.want)
		}
	}
	// Any other unknown member is still a FormationViolation.
	p, err := dropCustomData("GetVariables", json.RawMessage(`{"customData":{"vendorId":"x"},"getVariableData":[{"component":{"name":"AuthCtrlr","colour":"red"},"variable":{"name":"Enabled"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if cerr := decodeStrict(p, &getVariablesReq{}); cerr == nil || cerr.Code != "FormationViolation" {
		t.Errorf("an unknown member beside customData: %v, want FormationViolation", cerr)
	}
	if _, err := dropCustomData("GetVariables", json.RawMessage(`{"customData":`)); err == nil {
		t.Error("a truncated payload with customData passed")
	}
}

// A certificate is renewed once less than a third of its validity, or 30 days, is left.
func TestRenewDue(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tc := range []struct {
		from, to time.Duration // relative to now
		due      bool
	}{
		{-300 * day, 65 * day, false}, // a year: 30 days before the end
		{-340 * day, 25 * day, true},
		{-50 * day, 40 * day, false}, // 90 days: a third is 30 days
		{-61 * day, 29 * day, true},
		{-50 * time.Minute, 10 * time.Minute, true}, // an hour: 20 minutes
		{-30 * time.Minute, 30 * time.Minute, false},
		{-2 * day, -day, true}, // expired
	} {
		if got := renewDue(now.Add(tc.from), now.Add(tc.to), now); got != tc.due {
			t.Errorf("valid %v..%v: due %v, want %v", tc.from, tc.to, got, tc.due)
		}
	}
}
