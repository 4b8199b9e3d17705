package main

import (
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ota/slot"
)

// Issue 19: the real daemon with ocpp.version "2.0.1" against the strict CSMS in 2.0.1 mode.

type txEvent201 struct {
	EventType       string
	TriggerReason   string
	SeqNo           int
	Offline         bool
	TransactionInfo struct {
		TransactionID string
		StoppedReason string
	}
	MeterValue []struct {
		SampledValue []struct {
			Context          string
			SignedMeterValue *struct{ SignedMeterData, EncodingMethod, PublicKey string }
		}
	}
}

func txEvents201(t *testing.T, c *rig.CSMS) []txEvent201 {
	var out []txEvent201
	for _, l := range c.Calls("TransactionEvent") {
		var e txEvent201
		if err := json.Unmarshal(l.Params, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func start201(t *testing.T, identity string) (*rig.CSMS, string, *rig.Gateway, string) {
	c := rig.StartCSMS(t, filepath.Join("..", "..", "ocpp", "testdata", "csms"), "--ocpp", "2.0.1", "--interval", "30")
	s := rig.StartStack(t, rig.StackOptions{})
	dir := t.TempDir()
	cfg := s.Config(filepath.Join(dir, "data"), rig.Config{
		Sessions: "  mode: authorized\n",
		Extra:    "ocpp:\n  url: " + c.URL() + "\n  version: \"2.0.1\"\n  identity: " + identity + "\n  meter_value_sample_interval: 1s\n",
	})
	g := startGateway(t, dir, cfg)
	c.WaitFor("EVSE 1 available", func() bool {
		for _, l := range c.Calls("StatusNotification") {
			if strings.Contains(string(l.Params), `"connectorStatus":"Available"`) {
				return true
			}
		}
		return false
	})
	return c, dir, g, cfg
}

// meterKeyHex reads FiscalMetering.PublicKey (base64 DER) and returns it as hex for the CLI.
func meterKeyHex(t *testing.T, c *rig.CSMS) string {
	res, err := c.Call("GetVariables", map[string]any{"getVariableData": []any{
		map[string]any{"component": map[string]string{"name": "FiscalMetering"}, "variable": map[string]string{"name": "PublicKey"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		GetVariableResult []struct{ AttributeValue string } `json:"getVariableResult"`
	}
	json.Unmarshal(res, &r)
	der, err := base64.StdEncoding.DecodeString(r.GetVariableResult[0].AttributeValue)
	if err != nil || len(der) == 0 {
		t.Fatalf("FiscalMetering.PublicKey %s: %v", res, err)
	}
	return hex.EncodeToString(der)
}

// A remote start and stop through the control loop; the Ended event's signedMeterValue is the
// session's OCMF record, which chargegate ocmf verify accepts with FiscalMetering.PublicKey.
func TestOCPP201RemoteSessionSignedValues(t *testing.T) {
	c, _, g, _ := start201(t, "CG-201-E2E")
	if st := c.Status("RequestStartTransaction", map[string]any{"remoteStartId": 9, "idToken": map[string]string{"idToken": "TAG-E2E", "type": "Central"}}); st != "Accepted" {
		t.Fatalf("RequestStartTransaction: %s", st)
	}
	c.WaitCalls("TransactionEvent", 2)
	ev := txEvents201(t, c)
	if ev[0].EventType != "Started" || ev[0].TriggerReason != "RemoteStart" {
		t.Fatalf("first event %+v, want Started / RemoteStart", ev[0])
	}
	if st := c.Status("RequestStopTransaction", map[string]string{"transactionId": ev[0].TransactionInfo.TransactionID}); st != "Accepted" {
		t.Fatalf("RequestStopTransaction: %s", st)
	}
	c.WaitFor("the Ended event", func() bool { ev := txEvents201(t, c); return ev[len(ev)-1].EventType == "Ended" })
	ev = txEvents201(t, c)
	end := ev[len(ev)-1]
	if end.TriggerReason != "RemoteStop" || end.TransactionInfo.StoppedReason != "Remote" {
		t.Errorf("Ended %+v, want RemoteStop / Remote", end)
	}
	for i, e := range ev {
		if e.SeqNo != i {
			t.Errorf("event %d has seqNo %d", i, e.SeqNo)
		}
	}
	smv := end.MeterValue[len(end.MeterValue)-1].SampledValue[0].SignedMeterValue // Transaction.End, after the Transaction.Begin value
	if smv == nil || smv.EncodingMethod != "OCMF" {
		t.Fatalf("Ended has no OCMF signedMeterValue: %+v", end.MeterValue)
	}
	rec, _ := base64.StdEncoding.DecodeString(smv.SignedMeterData)
	if code, out := rig.CLI(t, "", "ocmf", "verify", "--key", meterKeyHex(t, c), string(rec)); code != 0 {
		t.Errorf("chargegate ocmf verify of signedMeterData = %d: %s", code, out)
	}
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// The CSMS dies mid-session, then the gateway is SIGKILLed; after both come back the session
// ends PowerLoss and every TransactionEvent arrives once, in order, seqNo 0..n-1, the ones
// made while the CSMS was away flagged offline.
func TestOCPP201OutageAndKill(t *testing.T) {
	c, dir, g, cfg := start201(t, "CG-201-KILL")
	if st := c.Status("RequestStartTransaction", map[string]any{"remoteStartId": 1, "idToken": map[string]string{"idToken": "KILL-TAG", "type": "Central"}}); st != "Accepted" {
		t.Fatalf("RequestStartTransaction: %s", st)
	}
	c.WaitCalls("TransactionEvent", 2)
	c.Kill()
	// Kill the gateway once ocpp.db holds a TransactionEvent made offline.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(g.DataDir, "ocpp.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rig.WaitFor(t, 30*time.Second, "a TransactionEvent queued offline", func() bool {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM outbox WHERE action = 'TransactionEvent' AND payload LIKE '%"offline":true%'`).Scan(&n)
		return err == nil && n > 0
	})
	if err := g.Stop(syscall.SIGKILL); err == nil {
		t.Log("gateway killed")
	}
	c.Restart(2)
	g = startGateway(t, dir, cfg)
	c.WaitFor("the Ended event", func() bool {
		ev := txEvents201(t, c)
		return len(ev) > 0 && ev[len(ev)-1].EventType == "Ended"
	})
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ev := txEvents201(t, c)
	ids := map[string]bool{}
	for i, l := range c.Calls("TransactionEvent") {
		if ids[l.ID] {
			t.Errorf("message %s delivered twice", l.ID)
		}
		ids[l.ID] = true
		if ev[i].SeqNo != i || ev[i].TransactionInfo.TransactionID != ev[0].TransactionInfo.TransactionID {
			t.Errorf("event %d: seqNo %d transaction %s", i, ev[i].SeqNo, ev[i].TransactionInfo.TransactionID)
		}
		if l.Life == 2 && !ev[i].Offline && ev[i].EventType != "Ended" {
			t.Errorf("event %d (%s) made while the CSMS was away is not flagged offline", i, ev[i].EventType)
		}
	}
	offline := 0
	for _, e := range ev {
		if e.Offline {
			offline++
		}
	}
	if offline == 0 {
		t.Errorf("no event flagged offline: the outage queued nothing; events %+v", ev)
	}
	end := ev[len(ev)-1]
	if end.TransactionInfo.StoppedReason != "PowerLoss" {
		t.Errorf("Ended %+v, want stoppedReason PowerLoss", end)
	}
	ends := endsBySession(chain(t, g.DataDir))
	if len(ends) != 1 {
		t.Fatalf("%d sessions ended in the chain, want 1", len(ends))
	}
	for _, es := range ends {
		if es[0].Event != ledger.EndPowerFailure {
			t.Errorf("chain end %s, want power_failure", es[0].Event)
		}
	}
}

// Issue 19: UpdateFirmware (2.0.1, L02: no signature in the request, the agent checks the
// bundle's own) through the real daemon with file slots, asked for mid-transaction: the
// update downloads and waits (InstallScheduled) until the CSMS stops the transaction, installs,
// restarts into slot B, boots with reason FirmwareUpdate and reports Installed with the same
// requestId. A bundle signed by a key the device does not trust then ends InvalidSignature,
// with the security event, and slot B stays.
func TestOCPP201FirmwareUpdateAfterSession(t *testing.T) {
	dir := t.TempDir()
	f := newFirmwareRig(t, dir)
	c := rig.StartCSMS(t, filepath.Join("..", "..", "ocpp", "testdata", "csms"), "--ocpp", "2.0.1", "--interval", "30")
	s := rig.StartStack(t, rig.StackOptions{})
	cfg := s.Config(filepath.Join(dir, "data"), rig.Config{
		Sessions: "  mode: authorized\n",
		Extra: "ocpp:\n  url: " + c.URL() + "\n  version: \"2.0.1\"\n  identity: CG-FW-201\n  meter_value_sample_interval: 1s\n" +
			f.updateConfig(dir),
	})
	g := startGateway(t, dir, cfg)
	type fwStatus struct {
		Status    string
		RequestID *int
	}
	fw := func() []fwStatus {
		var out []fwStatus
		for _, l := range c.Calls("FirmwareStatusNotification") {
			var p fwStatus
			if err := json.Unmarshal(l.Params, &p); err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}
	statuses := func(from int) []string {
		var out []string
		for _, s := range fw()[from:] {
			if len(out) == 0 || out[len(out)-1] != s.Status { // a status a restart cut off may come again
				out = append(out, s.Status)
			}
		}
		return out
	}
	has := func(status string) func() bool {
		return func() bool { return slices.Contains(statuses(0), status) }
	}
	c.WaitFor("online", func() bool { return len(c.Calls("StatusNotification")) >= 1 })
	if st := c.Status("RequestStartTransaction", map[string]any{"remoteStartId": 5, "idToken": map[string]string{"idToken": "FW-TAG", "type": "Central"}}); st != "Accepted" {
		t.Fatalf("RequestStartTransaction: %s", st)
	}
	c.WaitFor("the Started event", func() bool { return len(txEvents201(t, c)) > 0 })
	txID := txEvents201(t, c)[0].TransactionInfo.TransactionID
	update := func(requestID int, path string) string {
		return c.Status("UpdateFirmware", map[string]any{"requestId": requestID,
			"firmware": map[string]any{"location": f.srv.URL + path, "retrieveDateTime": time.Now().UTC().Format(time.RFC3339)}})
	}
	if st := update(42, "/fw.bundle"); st != "Accepted" {
		t.Fatalf("UpdateFirmware = %s", st)
	}
	c.WaitFor("InstallScheduled while the transaction runs", has("InstallScheduled"))
	if st := g.StatusMap(t); st["session"] == nil || st["relay_closed"] != true {
		t.Fatalf("the update interrupted the transaction: %v", st)
	}
	if st := c.Status("RequestStopTransaction", map[string]any{"transactionId": txID}); st != "Accepted" {
		t.Fatalf("RequestStopTransaction: %s", st)
	}
	waitInstallExit(t, g)
	if ev := txEvents201(t, c); ev[len(ev)-1].EventType != "Ended" {
		t.Errorf("the last TransactionEvent before the restart is %s, want Ended", ev[len(ev)-1].EventType)
	}
	if next, err := f.dirs.Launch(); err != nil || !strings.HasSuffix(next, filepath.Join("B", slot.AppFile)) {
		t.Fatalf("launcher chose %q, %v; want slot B", next, err)
	}
	g2 := startGateway(t, dir, cfg)
	rig.WaitFor(t, 60*time.Second, "Installed reported", has("Installed"))
	got := statuses(0)
	want := []string{"Downloading", "Downloaded", "InstallScheduled", "Installing", "Installed"}
	i := 0 // want must appear in got in this order
	for _, s := range got {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	if i < len(want) || got[len(got)-1] != "Installed" {
		t.Errorf("FirmwareStatusNotifications %v, want %v in this order, ending Installed", got, want)
	}
	for _, s := range fw() {
		if s.RequestID == nil || *s.RequestID != 42 {
			t.Errorf("FirmwareStatusNotification %s with requestId %v, want 42", s.Status, s.RequestID)
		}
	}
	boots := c.Calls("BootNotification")
	var last struct{ Reason string }
	if err := json.Unmarshal(boots[len(boots)-1].Params, &last); err != nil || last.Reason != "FirmwareUpdate" {
		t.Errorf("BootNotification after the update: reason %q (%v), want FirmwareUpdate", last.Reason, err)
	}
	c.WaitFor("the FirmwareUpdated event", func() bool {
		return slices.ContainsFunc(c.Calls("SecurityEventNotification"), func(l rig.CSMSLine) bool { return strings.Contains(string(l.Params), `"FirmwareUpdated"`) })
	})

	// A bundle the device does not trust: InvalidSignature, slot B stays the default.
	n := len(fw())
	if st := update(43, "/bad.bundle"); st != "Accepted" {
		t.Fatalf("UpdateFirmware of the bad bundle = %s", st)
	}
	rig.WaitFor(t, 30*time.Second, "InvalidSignature", func() bool { return slices.Contains(statuses(n), "InvalidSignature") })
	if got := statuses(n); got[len(got)-1] != "InvalidSignature" || slices.Contains(got, "Installing") {
		t.Errorf("statuses of the bad bundle %v, want it to end InvalidSignature without Installing", got)
	}
	c.WaitFor("the InvalidFirmwareSignature event", func() bool {
		return slices.ContainsFunc(c.Calls("SecurityEventNotification"), func(l rig.CSMSLine) bool { return strings.Contains(string(l.Params), `"InvalidFirmwareSignature"`) })
	})
	cur, _ := os.ReadFile(filepath.Join(f.slotDir, "current"))
	if strings.TrimSpace(string(cur)) != "B" {
		t.Errorf("default slot after a bad bundle = %q, want B", cur)
	}
	if err := g2.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}
