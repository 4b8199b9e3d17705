package ocpp

import (
	"bytes"
	"encoding/json"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/ledger"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Every end reason the ledger defines has a deliberate OCPP reason: a new End* constant fails
// here until stopReasons (and the table in doc.go) says what it maps to.
func TestEveryEndReasonMapped(t *testing.T) {
	for name, v := range ledgerEndReasons(t) {
		if _, ok := stopReasons[v]; !ok {
			t.Errorf("ledger.%s (%q) has no OCPP stop reason in stopReasons", name, v)
		}
	}
}

// ledgerEndReasons reads every End* constant of ledger/events.go (name → value) from its source,
// so that a new one cannot be forgotten by a mapping table.
func ledgerEndReasons(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../../ledger/events.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || !strings.HasPrefix(vs.Names[0].Name, "End") || len(vs.Values) != 1 {
			return true
		}
		if lit, ok := vs.Values[0].(*ast.BasicLit); ok {
			out[vs.Names[0].Name], _ = strconv.Unquote(lit.Value)
		}
		return true
	})
	if len(out) < 15 {
		t.Fatalf("found %d End* constants in ledger/events.go; the parser missed them", len(out))
	}
	return out
}

func TestStopReason(t *testing.T) {
	for _, tc := range []struct{ end, want string }{
		{ledger.EndLocal, "Local"}, {ledger.EndRemote, "Remote"}, {ledger.EndEmergencyStop, "EmergencyStop"},
		{ledger.EndRCDTrip, "EmergencyStop"}, {ledger.EndPowerFailure, "PowerLoss"}, {ledger.EndShutdown, "Reboot"},
		{ledger.EndEnergyLimit, "Other"}, {ledger.EndTimeLimit, "Other"}, {ledger.EndRelayFault, "Other"},
		{ledger.EndMeterLost, "Other"}, {ledger.EndDiskFull, "Other"}, {"something_new", "Other"},
	} {
		if got := StopReason(tc.end); got != tc.want {
			t.Errorf("StopReason(%q) = %s, want %s", tc.end, got, tc.want)
		}
	}
}

func TestConnectorStatuses(t *testing.T) {
	idle := gateway.Status{Alarms: map[string]string{}}
	charging := gateway.Status{RelayClosed: true, Session: &gateway.SessionStatus{ID: "s", State: "charging"}, Alarms: map[string]string{}}
	ok := ConnectorStatus{Status: "Available", ErrorCode: "NoError"}
	for _, tc := range []struct {
		name        string
		st          gateway.Status
		unavailable bool
		cp, outlet  ConnectorStatus
	}{
		{"idle", idle, false, ok, ok},
		{"inoperative", idle, true, ConnectorStatus{Status: "Unavailable", ErrorCode: "NoError"}, ConnectorStatus{Status: "Unavailable", ErrorCode: "NoError"}},
		{"inoperative, still charging", charging, true, ok, ConnectorStatus{Status: "Charging", ErrorCode: "NoError"}},
		{"starting", gateway.Status{Session: &gateway.SessionStatus{State: "starting"}}, false, ok, ConnectorStatus{Status: "Preparing", ErrorCode: "NoError"}},
		{"charging", charging, false, ok, ConnectorStatus{Status: "Charging", ErrorCode: "NoError"}},
		{"relay open", gateway.Status{Session: &gateway.SessionStatus{State: "charging"}}, false, ok, ConnectorStatus{Status: "SuspendedEVSE", ErrorCode: "NoError"}},
		{"closing", gateway.Status{Session: &gateway.SessionStatus{State: "closing"}}, false, ok, ConnectorStatus{Status: "Finishing", ErrorCode: "NoError"}},
		{"welded", gateway.Status{Alarms: map[string]string{gateway.AlarmRelay: "welded"}}, false, ok,
			ConnectorStatus{Status: "Faulted", ErrorCode: "PowerSwitchFailure", Info: "relay_fault: welded"}},
		{"meter lost", gateway.Status{Alarms: map[string]string{gateway.AlarmMeterLost: "timeout"}}, false, ok,
			ConnectorStatus{Status: "Faulted", ErrorCode: "PowerMeterFailure", Info: "meter_lost: timeout"}},
		{"rcd", gateway.Status{Alarms: map[string]string{gateway.AlarmRCD: "tripped"}}, false, ok,
			ConnectorStatus{Status: "Faulted", ErrorCode: "GroundFailure", Info: "rcd_trip: tripped"}},
		{"e-stop is charge-point wide", gateway.Status{Alarms: map[string]string{gateway.AlarmEStop: "pressed"}}, false,
			ConnectorStatus{Status: "Faulted", ErrorCode: "OtherError", Info: "emergency_stop: pressed"},
			ConnectorStatus{Status: "Faulted", ErrorCode: "OtherError", Info: "emergency_stop: pressed"}},
		{"hal fault", gateway.Status{HALFault: "gpio chip gone"}, false,
			ConnectorStatus{Status: "Faulted", ErrorCode: "OtherError", Info: "hal: gpio chip gone"},
			ConnectorStatus{Status: "Faulted", ErrorCode: "OtherError", Info: "hal: gpio chip gone"}},
		{"meter lost while charging keeps Charging", gateway.Status{RelayClosed: true, Session: &gateway.SessionStatus{State: "charging"},
			Alarms: map[string]string{gateway.AlarmMeterLost: "timeout"}}, false, ok,
			ConnectorStatus{Status: "Charging", ErrorCode: "PowerMeterFailure", Info: "meter_lost: timeout"}},
		{"long info is cut to 50", gateway.Status{Alarms: map[string]string{gateway.AlarmStore: strings.Repeat("é", 60)}}, false,
			ConnectorStatus{Status: "Faulted", ErrorCode: "InternalError", Info: "store: " + strings.Repeat("?", 43)},
			ConnectorStatus{Status: "Faulted", ErrorCode: "InternalError", Info: "store: " + strings.Repeat("?", 43)}},
	} {
		cp, outlet := connectorStatuses(tc.st, tc.unavailable)
		if cp != tc.cp || outlet != tc.outlet {
			t.Errorf("%s: got %+v / %+v, want %+v / %+v", tc.name, cp, outlet, tc.cp, tc.outlet)
		}
	}
}

// The StopTransaction of a gateway-signed session, as queued, is a golden vector of the wire
// format; the OCMF record is opaque here (carried byte for byte, its signature is not checked)
// (doc.go, "Signed meter values"); testdata/csms/validate.js checks it against the
// official schema.
func TestStopTransactionGolden(t *testing.T) {
	rec := gateway.SessionRecord{ID: "0123456789abcdef", IDToken: "04A1B2C3D4E5F6", MeterSerial: "SIM-1",
		Start: time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 5, 9, 30, 0, 250e6, time.UTC),
		BeginMWh: 1_234_567_890, EndMWh: 1_245_678_999, Reason: ledger.EndLocal,
		OCMF: `OCMF|{"FV":"1.0","GI":"chargegate","GS":"TEST","PG":"T1","MS":"SIM-1","IS":true,"IF":[],"IT":"CENTRAL","ID":"04A1B2C3D4E5F6","RD":[{"TM":"2026-12-05T08:00:00,000+0000 S","TX":"B","RV":1234.567,"RI":"01-00:01.08.00*FF","RU":"kWh","RT":"AC","EF":"","ST":"G"},{"TM":"2026-12-05T09:30:00,250+0000 S","TX":"L","RV":1245.678,"RI":"01-00:01.08.00*FF","RU":"kWh","RT":"AC","EF":"","ST":"G"}]}|{"SA":"ECDSA-secp256r1-SHA256","SD":"3045022100937A6B7154539A1DC8A86DBCCA723AC918F84655561B77F82D47FA6A723D2F6D022043049C741407C8B4BA25042774E17DB577757039DD0F090499EF56EE723A01F6"}`}
	req := stopRequest(rec, rec.IDToken, StopReason(rec.Reason))
	req.TransactionID = 7001
	got, err := json.MarshalIndent(req, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "stop_transaction.json")
	if *update {
		os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("StopTransaction changed; the wire format is frozen (go test -update if on purpose):\n%s", got)
	}
	// The golden request is valid against the official OCPP 1.6 schema (ocpp-rpc's copy).
	if _, err := os.Stat("testdata/csms/node_modules/ocpp-rpc"); err != nil {
		t.Fatalf("the test CSMS is not installed: run .ci/deps: %v", err)
	}
	out, err := exec.Command("node", "testdata/csms/validate.js", "StopTransaction", path).CombinedOutput()
	if err != nil {
		t.Errorf("the golden StopTransaction fails the OCPP 1.6 schema: %v\n%s", err, out)
	}
}

func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		`[2,"1","BootNotification",{"chargePointVendor":"x","chargePointModel":"y"}]`,
		`[3,"tx12",{"transactionId":7}]`,
		`[4,"9","NotImplemented","no",{}]`,
		`[2,"1"]`, `[5,"1",{}]`, `{}`, `[2,1,"A",{}]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := parseFrame(data)
		if err != nil {
			return
		}
		switch fr.typ {
		case msgCall:
			if fr.action == "" && !bytes.Contains(data, []byte(`""`)) {
				t.Errorf("a CALL without action parsed: %q", data)
			}
		case msgCallResult:
			if fr.payload == nil {
				t.Errorf("a CALLRESULT without payload parsed: %q", data)
			}
		case msgCallError:
			if fr.cerr == nil {
				t.Errorf("a CALLERROR without error parsed: %q", data)
			}
		default:
			t.Errorf("message type %d accepted: %q", fr.typ, data)
		}
	})
}
