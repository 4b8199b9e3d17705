package ocpp_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ocmf"
)

// The OCPP 2.0.1 face against the strict peer in 2.0.1 mode (csms.js --ocpp 2.0.1): every call
// and answer is checked against the OCPP 2.0.1 JSON schemas, and a violation fails the test.

func startCSMS201(t *testing.T, args ...string) *csms {
	return startCSMS(t, append([]string{"--ocpp", "2.0.1"}, args...)...)
}

// startCP201 opens the queue in dir and runs a 2.0.1 charge point against c until stop.
func startCP201(t *testing.T, c *csms, g *standIn, dir string, opts ...cpOpt) (cp *ocpp.ChargePoint201, q *ocpp.Queue, stop func()) {
	t.Helper()
	q, err := ocpp.OpenQueue(context.Background(), filepath.Join(dir, "ocpp.db"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := ocpp.Config{
		URL: c.URL(), Identity: "CG-TEST-201", Vendor: "chargegate", Model: "chargegate-test", SerialNumber: "TEST-1",
		FirmwareVersion: "test", MeterPublicKey: hex.EncodeToString(g.spki()),
		HeartbeatInterval: time.Second, MeterValueSampleInterval: time.Second, RetryInterval: time.Second, BootRetry: time.Second,
		CallTimeout: 5 * time.Second, ReconnectMin: 100 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	cp, err = ocpp.New201(cfg, q, g)
	if err != nil {
		t.Fatal(err)
	}
	g.attach(cp)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			q.Close()
		})
	}
	t.Cleanup(stop)
	return cp, q, stop
}

type cv struct {
	Component struct {
		Name string `json:"name"`
	} `json:"component"`
	Variable struct {
		Name     string `json:"name"`
		Instance string `json:"instance,omitempty"`
	} `json:"variable"`
	AttributeStatus string `json:"attributeStatus"`
	AttributeValue  string `json:"attributeValue"`
}

func varReq(comp, name, instance string, value ...string) map[string]any {
	v := map[string]any{"name": name}
	if instance != "" {
		v["instance"] = instance
	}
	m := map[string]any{"component": map[string]any{"name": comp}, "variable": v}
	if len(value) > 0 {
		m["attributeValue"] = value[0]
	}
	return m
}

func getVars(t *testing.T, c *csms, reqs ...map[string]any) []cv {
	t.Helper()
	res, err := c.Call("GetVariables", map[string]any{"getVariableData": reqs})
	if err != nil {
		t.Fatalf("GetVariables: %v", err)
	}
	var r struct{ GetVariableResult []cv }
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatal(err)
	}
	return r.GetVariableResult
}

func setVars(t *testing.T, c *csms, reqs ...map[string]any) []cv {
	t.Helper()
	res, err := c.Call("SetVariables", map[string]any{"setVariableData": reqs})
	if err != nil {
		t.Fatalf("SetVariables: %v", err)
	}
	var r struct{ SetVariableResult []cv }
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatal(err)
	}
	return r.SetVariableResult
}

// Boot with a reason, the connector's status, and the device model: reads, writes (read-only
// and bad values refused), a full base report, and the written values after a restart.
func TestV201BootDeviceModel(t *testing.T) {
	c := startCSMS201(t, "--boot", "Pending,Accepted", "--interval", "1")
	g := newStandIn(t)
	dir := t.TempDir()
	cp, _, stop := startCP201(t, c, g, dir)

	boots := c.WaitCalls("BootNotification", 2)
	b := params[struct {
		Reason          string
		ChargingStation map[string]string
	}](t, boots[0])
	if b.Reason != "PowerUp" || b.ChargingStation["vendorName"] != "chargegate" || b.ChargingStation["model"] != "chargegate-test" {
		t.Errorf("BootNotification = %+v", b)
	}
	c.WaitFor("online", cp.Online)
	st := params[map[string]any](t, c.WaitCalls("StatusNotification", 1)[0])
	if st["connectorStatus"] != "Available" || st["evseId"] != 1.0 || st["connectorId"] != 1.0 {
		t.Errorf("StatusNotification = %v, want Available on EVSE 1 connector 1", st)
	}
	c.WaitCalls("Heartbeat", 1)

	got := getVars(t, c, varReq("OCPPCommCtrlr", "HeartbeatInterval", ""), varReq("FiscalMetering", "PublicKey", ""),
		varReq("NoSuchCtrlr", "X", ""), varReq("AuthCtrlr", "NoSuchVariable", ""), varReq("SecurityCtrlr", "SecurityProfile", ""))
	if got[0].AttributeStatus != "Accepted" || got[0].AttributeValue != "1" {
		t.Errorf("HeartbeatInterval = %+v, want 1 (the boot's interval)", got[0])
	}
	if want := base64.StdEncoding.EncodeToString(g.spki()); got[1].AttributeValue != want {
		t.Errorf("FiscalMetering.PublicKey = %q, want the meter key as base64 DER %q", got[1].AttributeValue, want)
	}
	if got[2].AttributeStatus != "UnknownComponent" || got[3].AttributeStatus != "UnknownVariable" || got[4].AttributeValue != "1" {
		t.Errorf("unknown component / variable / profile = %+v", got[2:])
	}

	set := setVars(t, c, varReq("SampledDataCtrlr", "TxUpdatedInterval", "", "17"),
		varReq("FiscalMetering", "PublicKey", "", "AAAA"),
		varReq("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent", "5"),
		varReq("AuthCtrlr", "LocalPreAuthorize", "", "maybe"),
		varReq("OCPPCommCtrlr", "PublicKeyWithSignedMeterValue", "", "EveryMeterValue"))
	want := []string{"Accepted", "Rejected", "Accepted", "Rejected", "Accepted"}
	for i, s := range set {
		if s.AttributeStatus != want[i] {
			t.Errorf("SetVariables %s.%s = %s, want %s", s.Component.Name, s.Variable.Name, s.AttributeStatus, want[i])
		}
	}

	if s := c.Status("GetBaseReport", map[string]any{"requestId": 42, "reportBase": "FullInventory"}); s != "Accepted" {
		t.Fatalf("GetBaseReport = %s", s)
	}
	reports := c.WaitCalls("NotifyReport", 1)
	c.WaitFor("the last NotifyReport", func() bool {
		rs := c.Calls("NotifyReport")
		return !params[struct{ Tbc bool }](t, rs[len(rs)-1]).Tbc
	})
	reports = c.Calls("NotifyReport")
	seen := map[string]string{}
	for i, l := range reports {
		r := params[struct {
			RequestID  int
			SeqNo      int
			ReportData []struct {
				Component         struct{ Name string }
				Variable          struct{ Name, Instance string }
				VariableAttribute []struct{ Value, Mutability string }
			}
		}](t, l)
		if r.RequestID != 42 || r.SeqNo != i {
			t.Errorf("NotifyReport %d: requestId %d seqNo %d", i, r.RequestID, r.SeqNo)
		}
		for _, d := range r.ReportData {
			seen[d.Component.Name+"/"+d.Variable.Name+"/"+d.Variable.Instance] = d.VariableAttribute[0].Mutability + "=" + d.VariableAttribute[0].Value
		}
	}
	for k, v := range map[string]string{
		"SampledDataCtrlr/TxUpdatedInterval/": "ReadWrite=17", "FiscalMetering/PublicKey/": "ReadOnly=" + base64.StdEncoding.EncodeToString(g.spki()),
		"SecurityCtrlr/SecurityProfile/": "ReadOnly=1", "AuthCacheCtrlr/Enabled/": "ReadWrite=true", "LocalAuthListCtrlr/Enabled/": "ReadWrite=true",
		"SmartChargingCtrlr/Enabled/": "ReadOnly=true", "TxCtrlr/StopTxOnInvalidId/": "ReadWrite=true",
	} {
		if seen[k] != v {
			t.Errorf("report %s = %q, want %q", k, seen[k], v)
		}
	}

	// A restart keeps what the CSMS set.
	stop()
	c.Restart(2)
	g2 := newStandIn(t)
	g2.key = g.key
	cp, _, _ = startCP201(t, c, g2, dir)
	c.WaitFor("online again", cp.Online)
	got = getVars(t, c, varReq("SampledDataCtrlr", "TxUpdatedInterval", ""), varReq("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent"),
		varReq("OCPPCommCtrlr", "PublicKeyWithSignedMeterValue", ""))
	if got[0].AttributeValue != "17" || got[1].AttributeValue != "5" || got[2].AttributeValue != "EveryMeterValue" {
		t.Errorf("after a restart: %+v, want 17, 5, EveryMeterValue", got)
	}
}

type txEvent struct {
	EventType       string
	TriggerReason   string
	SeqNo           int
	Offline         bool
	TransactionInfo struct {
		TransactionID string
		StoppedReason string
		RemoteStartID *int
	}
	IDToken    *struct{ IDToken, Type string }
	Evse       *struct{ ID, ConnectorID int }
	MeterValue []struct {
		SampledValue []struct {
			Value            float64
			Context          string
			Measurand        string
			SignedMeterValue *struct{ SignedMeterData, SigningMethod, EncodingMethod, PublicKey string }
		}
	}
}

func txEvents(t *testing.T, c *csms) []txEvent {
	var out []txEvent
	for _, l := range c.Calls("TransactionEvent") {
		out = append(out, params[txEvent](t, l))
	}
	return out
}

// A remote start, periodic values and a remote stop; the begin and the end carry OCMF records
// as signedMeterValue that verify with the meter's key; seqNo counts up from 0.
func TestV201RemoteSessionSignedValues(t *testing.T) {
	c := startCSMS201(t, "--interval", "30", "--fail", "TransactionEvent:1")
	g := newStandIn(t)
	cp, _, _ := startCP201(t, c, g, t.TempDir(), withSampleSigner(t, g, func(s ocpp.Sample) []ocmf.Reading {
		return []ocmf.Reading{{Time: s.Start, TimeStatus: 'S', TX: "B", EnergyMWh: s.BeginMWh}}
	}))
	c.WaitFor("online", cp.Online)
	if s := setVars(t, c, varReq("SampledDataCtrlr", "SignReadings", "", "true"), varReq("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent", "1")); s[0].AttributeStatus != "Accepted" {
		t.Fatalf("SignReadings: %+v", s)
	}

	res, err := c.Call("RequestStartTransaction", map[string]any{"remoteStartId": 77, "idToken": map[string]string{"idToken": "04A1B2C3D4E5F6", "type": "ISO14443"}})
	if err != nil || string(res) != `{"status":"Accepted"}` {
		t.Fatalf("RequestStartTransaction = %s, %v", res, err)
	}
	c.WaitFor("the session", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.session != nil })
	g.publish()
	c.WaitCalls("TransactionEvent", 2) // the first refused (--fail), then sent again
	if s := c.Status("RequestStartTransaction", map[string]any{"remoteStartId": 78, "idToken": map[string]string{"idToken": "X", "type": "Central"}}); s != "Rejected" {
		t.Errorf("a second RequestStartTransaction = %s, want Rejected while one runs", s)
	}
	for range 3 {
		g.tick(1_000_000) // a second of telemetry time each: TxUpdatedInterval is 1 s
	}
	ev := txEvents(t, c)
	txID := ev[0].TransactionInfo.TransactionID
	if s := c.Status("RequestStopTransaction", map[string]string{"transactionId": "unknown"}); s != "Rejected" {
		t.Errorf("RequestStopTransaction of an unknown transaction = %s", s)
	}
	if s := c.Status("RequestStopTransaction", map[string]string{"transactionId": txID}); s != "Accepted" {
		t.Fatalf("RequestStopTransaction = %s", s)
	}
	c.WaitFor("the Ended event", func() bool {
		ev := txEvents(t, c)
		return ev[len(ev)-1].EventType == "Ended"
	})
	ev = txEvents(t, c)[1:] // the first was refused and sent again under the same message id
	calls := c.Calls("TransactionEvent")
	if calls[0].ID != calls[1].ID {
		t.Errorf("the retried event has message id %s, first sent as %s", calls[1].ID, calls[0].ID)
	}
	start, end := ev[0], ev[len(ev)-1]
	if start.EventType != "Started" || start.TriggerReason != "RemoteStart" || start.TransactionInfo.RemoteStartID == nil || *start.TransactionInfo.RemoteStartID != 77 ||
		start.IDToken == nil || start.IDToken.IDToken != "04A1B2C3D4E5F6" || start.Evse == nil || start.Evse.ID != 1 {
		t.Errorf("Started = %+v", start)
	}
	if end.TriggerReason != "RemoteStop" || end.TransactionInfo.StoppedReason != "Remote" {
		t.Errorf("Ended = %+v, want RemoteStop / Remote", end)
	}
	updated := 0
	for i, e := range ev {
		if e.SeqNo != i || e.TransactionInfo.TransactionID != txID || e.Offline {
			t.Errorf("event %d: seqNo %d transaction %s offline %v", i, e.SeqNo, e.TransactionInfo.TransactionID, e.Offline)
		}
		if e.EventType == "Updated" {
			updated++
			if e.TriggerReason != "MeterValuePeriodic" {
				t.Errorf("Updated trigger %s", e.TriggerReason)
			}
		}
	}
	if updated < 2 {
		t.Errorf("%d Updated events, want one per TxUpdatedInterval", updated)
	}
	for i, e := range []txEvent{start, end} {
		sv := e.MeterValue[len(e.MeterValue)-1].SampledValue[0] // the Ended event's last: Transaction.End
		smv := sv.SignedMeterValue
		if smv == nil {
			t.Fatalf("%s has no signedMeterValue: %+v", e.EventType, sv)
		}
		rec, err := base64.StdEncoding.DecodeString(smv.SignedMeterData)
		if err != nil || smv.EncodingMethod != "OCMF" || smv.SigningMethod == "" || len(smv.SignedMeterData) > 2500 {
			t.Errorf("%s signedMeterValue %+v: %v", e.EventType, smv, err)
		}
		if err := ocmf.Verify(string(rec), g.spki()); err != nil {
			t.Errorf("%s: the OCMF record does not verify: %v", e.EventType, err)
		}
		// PublicKeyWithSignedMeterValue OncePerTransaction (the default): with the first only.
		if wantKey := i == 0; (smv.PublicKey == base64.StdEncoding.EncodeToString(g.spki())) != wantKey || (smv.PublicKey == "") == wantKey {
			t.Errorf("%s publicKey %q, want it only on the first signed value", e.EventType, smv.PublicKey)
		}
	}
	if endV := end.MeterValue[len(end.MeterValue)-1].SampledValue[0]; endV.Value != float64(g.importMWh/1000) || endV.Context != "Transaction.End" {
		t.Errorf("end value %+v, want %v Wh", endV, g.importMWh/1000)
	}
}

// The CSMS dies mid-transaction and the charge point restarts while it is away: every event is
// delivered once, in order, seqNo 0..n-1, the ones made offline flagged offline.
func TestV201OutageAndRestartKeepOrder(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	dir := t.TempDir()
	cp, q, stop := startCP201(t, c, g, dir)
	c.WaitFor("online", cp.Online)
	g.startLocal("TAG-OUTAGE")
	c.WaitCalls("TransactionEvent", 1)
	c.WaitFor("the Started event's answer", func() bool { n, err := q.Backlog(context.Background()); return err == nil && n == 0 })

	c.Kill()
	c.WaitFor("offline", func() bool { return !cp.Online() })
	for range 3 {
		g.tick(500_000)
	}
	stop() // the process ends with events queued (ocpp.db is committed before each notify returns)
	cp, _, _ = startCP201(t, c, g, dir)
	g.publish() // the appliance's status poll: the restarted face adopts the running session
	g.tick(500_000)
	rec := g.end(ledger.EndEmergencyStop)
	c.Restart(2)
	c.WaitFor("the Ended event", func() bool {
		ev := txEvents(t, c)
		return len(ev) > 0 && ev[len(ev)-1].EventType == "Ended"
	})
	ev := txEvents(t, c)
	if len(ev) != 6 {
		t.Errorf("%d events, want Started, 4 Updated, Ended", len(ev))
	}
	for i, e := range ev {
		if e.SeqNo != i || e.TransactionInfo.TransactionID != rec.ID {
			t.Errorf("event %d: seqNo %d transaction %s", i, e.SeqNo, e.TransactionInfo.TransactionID)
		}
		if offline := i > 0; e.Offline != offline {
			t.Errorf("event %d (%s) offline = %v, want %v", i, e.EventType, e.Offline, offline)
		}
	}
	end := ev[len(ev)-1]
	if end.TriggerReason != "AbnormalCondition" || end.TransactionInfo.StoppedReason != "EmergencyStop" {
		t.Errorf("Ended = %s / %s, want AbnormalCondition / EmergencyStop", end.TriggerReason, end.TransactionInfo.StoppedReason)
	}
	ids := map[string]bool{}
	for _, l := range c.Calls("TransactionEvent") {
		if ids[l.ID] {
			t.Errorf("message %s delivered twice", l.ID)
		}
		ids[l.ID] = true
	}
}

func statusNotes201(t *testing.T, c *csms) []string {
	var out []string
	for _, l := range c.Calls("StatusNotification") {
		out = append(out, params[struct{ ConnectorStatus string }](t, l).ConnectorStatus)
	}
	return out
}

func lastStatus201(t *testing.T, c *csms) string {
	s := statusNotes201(t, c)
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// TriggerMessage, ChangeAvailability (at once and Scheduled), Authorize, and an Immediate
// Reset that ends the transaction (ResetCommand / ImmediateReset) and boots again with
// reason RemoteReset, then PowerUp.
func TestV201ResetAvailabilityTriggerAuthorize(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	dir := t.TempDir()
	resets := make(chan bool, 1)
	cp, _, stop := startCP201(t, c, g, dir, func(c *ocpp.Config) { c.Reset = func(hard bool) { resets <- hard } })
	c.WaitFor("online", cp.Online)
	c.WaitCalls("StatusNotification", 1)

	if s := c.Status("TriggerMessage", map[string]any{"requestedMessage": "StatusNotification", "evse": map[string]int{"id": 1, "connectorId": 1}}); s != "Accepted" {
		t.Errorf("TriggerMessage StatusNotification = %s", s)
	}
	c.WaitCalls("StatusNotification", 2)
	if s := c.Status("TriggerMessage", map[string]any{"requestedMessage": "BootNotification"}); s != "Accepted" {
		t.Errorf("TriggerMessage BootNotification = %s", s)
	}
	if r := params[struct{ Reason string }](t, c.WaitCalls("BootNotification", 2)[1]).Reason; r != "Triggered" {
		t.Errorf("triggered boot reason %q", r)
	}
	if s := c.Status("TriggerMessage", map[string]any{"requestedMessage": "SignV2GCertificate"}); s != "NotImplemented" {
		t.Errorf("TriggerMessage SignV2GCertificate = %s, want NotImplemented (no ISO 15118)", s)
	}

	status, err := cp.Authorize(context.Background(), "04A1B2C3")
	if err != nil || status != "Accepted" {
		t.Errorf("Authorize = %s, %v", status, err)
	}
	if tok := params[struct {
		IDToken struct{ IDToken, Type string }
	}](t, c.WaitCalls("Authorize", 1)[0]).IDToken; tok.Type != "ISO14443" || tok.IDToken != "04A1B2C3" {
		t.Errorf("Authorize idToken %+v, want the card UID as ISO14443", tok)
	}

	if s := c.Status("ChangeAvailability", map[string]any{"operationalStatus": "Inoperative"}); s != "Accepted" {
		t.Fatalf("ChangeAvailability Inoperative = %s", s)
	}
	c.WaitFor("Unavailable", func() bool { return lastStatus201(t, c) == "Unavailable" })
	if _, err := g.Start(context.Background(), "X"); err == nil {
		t.Errorf("a session started while Inoperative")
	}
	if s := c.Status("ChangeAvailability", map[string]any{"operationalStatus": "Operative", "evse": map[string]int{"id": 1}}); s != "Accepted" {
		t.Fatalf("ChangeAvailability Operative = %s", s)
	}
	c.WaitFor("Available", func() bool { return lastStatus201(t, c) == "Available" })
	if s := c.Status("ChangeAvailability", map[string]any{"operationalStatus": "Inoperative", "evse": map[string]int{"id": 2}}); s != "Rejected" {
		t.Errorf("ChangeAvailability of EVSE 2 = %s, want Rejected", s)
	}

	g.startLocal("04A1B2C3")
	c.WaitFor("Occupied", func() bool { return lastStatus201(t, c) == "Occupied" })
	if s := c.Status("ChangeAvailability", map[string]any{"operationalStatus": "Inoperative"}); s != "Scheduled" {
		t.Errorf("ChangeAvailability during a transaction = %s, want Scheduled", s)
	}
	if s := c.Status("Reset", map[string]any{"type": "Immediate"}); s != "Accepted" {
		t.Fatalf("Reset = %s", s)
	}
	<-resets
	ev := txEvents(t, c)
	if end := ev[len(ev)-1]; end.EventType != "Ended" || end.TriggerReason != "ResetCommand" || end.TransactionInfo.StoppedReason != "ImmediateReset" {
		t.Errorf("last event %+v, want Ended ResetCommand / ImmediateReset", end)
	}
	c.WaitFor("Unavailable after the session (Scheduled)", func() bool { return lastStatus201(t, c) == "Unavailable" })
	c.WaitFor("ResetOrReboot", func() bool {
		for _, l := range c.Calls("SecurityEventNotification") {
			if params[map[string]string](t, l)["type"] == ocpp.EventResetOrReboot {
				return true
			}
		}
		return false
	})
	stop()
	for i, want := range []string{"RemoteReset", "PowerUp"} {
		n, ns := len(c.Calls("BootNotification")), len(c.Calls("StatusNotification"))
		cp, _, stop = startCP201(t, c, g, dir)
		c.WaitFor("online", cp.Online)
		if r := params[struct{ Reason string }](t, c.WaitCalls("BootNotification", n+1)[n]).Reason; r != want {
			t.Errorf("boot %d after the reset: reason %q, want %q", i+1, r, want)
		}
		if got := statusNotes201(t, c)[len(c.WaitCalls("StatusNotification", ns+1))-1]; i == 0 && got != "Unavailable" {
			t.Errorf("status after the restart %q, want Unavailable (Inoperative persisted)", got)
		}
		if i == 0 && c.Status("ChangeAvailability", map[string]any{"operationalStatus": "Operative"}) != "Accepted" {
			t.Errorf("ChangeAvailability Operative refused")
		}
		stop()
	}
}

// SendLocalList (full, differential, version mismatch), GetLocalListVersion, LocalPreAuthorize,
// the cache filled from Authorize, ClearCache, and the offline decisions from list and cache.
func TestV201LocalListAndCacheOffline(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	cp, _, _ := startCP201(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	entry := func(tok, status string) map[string]any {
		return map[string]any{"idToken": map[string]string{"idToken": tok, "type": "Central"}, "idTokenInfo": map[string]string{"status": status}}
	}
	if s := c.Status("SendLocalList", map[string]any{"versionNumber": 3, "updateType": "Full",
		"localAuthorizationList": []any{entry("TAG-A", "Accepted"), entry("TAG-B", "Blocked")}}); s != "Accepted" {
		t.Fatalf("SendLocalList Full = %s", s)
	}
	if s := c.Status("SendLocalList", map[string]any{"versionNumber": 3, "updateType": "Differential",
		"localAuthorizationList": []any{entry("TAG-C", "Accepted")}}); s != "VersionMismatch" {
		t.Errorf("SendLocalList Differential of the same version = %s, want VersionMismatch", s)
	}
	if s := c.Status("SendLocalList", map[string]any{"versionNumber": 4, "updateType": "Differential",
		"localAuthorizationList": []any{entry("TAG-C", "Accepted")}}); s != "Accepted" {
		t.Errorf("SendLocalList Differential = %s", s)
	}
	res, err := c.Call("GetLocalListVersion", map[string]any{})
	if err != nil || string(res) != `{"versionNumber":4}` {
		t.Errorf("GetLocalListVersion = %s, %v", res, err)
	}
	ctx := context.Background()
	for _, tok := range []string{"TAG-X", "TAG-A"} {
		if s, err := cp.Authorize(ctx, tok); s != "Accepted" || err != nil {
			t.Errorf("Authorize %s online = %s, %v", tok, s, err)
		}
	}
	// The CSMS's output is read on its own goroutine: wait for both calls to show up.
	if n := len(c.WaitCalls("Authorize", 2)); n != 2 {
		t.Errorf("%d Authorize calls, want 2 (LocalPreAuthorize is false)", n)
	}
	setVars(t, c, varReq("AuthCtrlr", "LocalPreAuthorize", "", "true"))
	if s, _ := cp.Authorize(ctx, "TAG-C"); s != "Accepted" || len(c.Calls("Authorize")) != 2 {
		t.Errorf("Authorize TAG-C with LocalPreAuthorize = %s after %d calls, want Accepted from the list", s, len(c.Calls("Authorize")))
	}

	c.Kill()
	c.WaitFor("offline", func() bool { return !cp.Online() })
	for tok, want := range map[string]string{"TAG-A": "Accepted", "TAG-B": "Blocked", "TAG-X": "Accepted"} {
		if s, err := cp.Authorize(ctx, tok); s != want || err != nil {
			t.Errorf("Authorize %s offline = %s, %v; want %s (list or cache)", tok, s, err, want)
		}
	}
	if _, err := cp.Authorize(ctx, "TAG-Z"); !errors.Is(err, ocpp.ErrOffline) {
		t.Errorf("Authorize of an unknown token offline: %v, want ErrOffline", err)
	}

	c.Restart(2)
	c.WaitFor("online again", cp.Online)
	if s := c.Status("ClearCache", map[string]any{}); s != "Accepted" {
		t.Errorf("ClearCache = %s", s)
	}
	c.Kill()
	c.WaitFor("offline again", func() bool { return !cp.Online() })
	if _, err := cp.Authorize(ctx, "TAG-X"); !errors.Is(err, ocpp.ErrOffline) {
		t.Errorf("Authorize TAG-X offline after ClearCache: %v, want ErrOffline", err)
	}
	if s, err := cp.Authorize(ctx, "TAG-C"); s != "Accepted" || err != nil {
		t.Errorf("Authorize TAG-C (listed) offline after ClearCache = %s, %v", s, err)
	}
}

// SetChargingProfile at 0 A pauses the charging session through Config.Pause, clearing it
// resumes; GetCompositeSchedule shows the stacked limit; a TxProfile needs the running
// transaction and ends with it.
func TestV201SmartChargingPausesAndResumes(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	var mu sync.Mutex
	var pauses []bool
	cp, _, _ := startCP201(t, c, g, t.TempDir(), func(c *ocpp.Config) {
		c.Pause = func(p bool) { mu.Lock(); pauses = append(pauses, p); mu.Unlock() }
	})
	c.WaitFor("online", cp.Online)
	profile := func(id int, purpose string, limit float64, tx string) map[string]any {
		p := map[string]any{"id": id, "stackLevel": 1, "chargingProfilePurpose": purpose, "chargingProfileKind": "Absolute",
			"chargingSchedule": []any{map[string]any{"id": 1, "startSchedule": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), "chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": limit}}}}}
		if tx != "" {
			p["transactionId"] = tx
		}
		return p
	}
	if s := c.Status("SetChargingProfile", map[string]any{"evseId": 1, "chargingProfile": profile(1, "TxProfile", 10, "")}); s != "Rejected" {
		t.Errorf("TxProfile without a transaction = %s, want Rejected", s)
	}
	if s := c.Status("SetChargingProfile", map[string]any{"evseId": 1, "chargingProfile": profile(2, "ChargingStationMaxProfile", 10, "")}); s != "Rejected" {
		t.Errorf("ChargingStationMaxProfile on EVSE 1 = %s, want Rejected", s)
	}
	if got := compositeLimit(t, c); got != 32 {
		t.Errorf("composite limit without profiles = %v, want 32 (MaxCurrentA)", got)
	}

	g.startLocal("04A1B2C3")
	c.WaitCalls("TransactionEvent", 1)
	txID := txEvents(t, c)[0].TransactionInfo.TransactionID
	if s := c.Status("SetChargingProfile", map[string]any{"evseId": 0, "chargingProfile": profile(3, "TxDefaultProfile", 0, "")}); s != "Accepted" {
		t.Fatalf("TxDefaultProfile 0 A = %s", s)
	}
	c.WaitFor("the pause", func() bool { mu.Lock(); defer mu.Unlock(); return len(pauses) == 1 && pauses[0] })
	if got := compositeLimit(t, c); got != 0 {
		t.Errorf("composite limit = %v, want 0", got)
	}
	if s := c.Status("SetChargingProfile", map[string]any{"evseId": 1, "chargingProfile": profile(4, "TxProfile", 16, "other")}); s != "Rejected" {
		t.Errorf("TxProfile of another transaction = %s, want Rejected", s)
	}
	if s := c.Status("SetChargingProfile", map[string]any{"evseId": 1, "chargingProfile": profile(4, "TxProfile", 16, txID)}); s != "Accepted" {
		t.Fatalf("TxProfile = %s", s)
	}
	c.WaitFor("the resume", func() bool { mu.Lock(); defer mu.Unlock(); return len(pauses) == 2 && !pauses[1] })
	if got := compositeLimit(t, c); got != 16 {
		t.Errorf("composite limit with the TxProfile = %v, want 16", got)
	}
	g.end(ledger.EndLocal)
	if got := compositeLimit(t, c); got != 0 {
		t.Errorf("composite limit after the transaction = %v, want 0 (its TxProfile gone, the default left)", got)
	}
	if s := c.Status("ClearChargingProfile", map[string]any{"chargingProfileId": 3}); s != "Accepted" {
		t.Errorf("ClearChargingProfile = %s", s)
	}
	if s := c.Status("ClearChargingProfile", map[string]any{"chargingProfileId": 3}); s != "Unknown" {
		t.Errorf("ClearChargingProfile again = %s, want Unknown", s)
	}
	if got := compositeLimit(t, c); got != 32 {
		t.Errorf("composite limit after clearing = %v, want 32", got)
	}
}

// A CSMS may extend any 2.0.1 object with customData (CustomDataType): calls that carry it
// are answered (that every other unknown member is still refused is TestDropCustomData's).
func TestV201CustomDataIsAccepted(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	cp, _, _ := startCP201(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	vendor := map[string]any{"vendorId": "com.example", "note": "vendor extension"}
	res, err := c.Call("GetVariables", map[string]any{"customData": vendor, "getVariableData": []any{map[string]any{
		"component": map[string]any{"name": "AuthCtrlr", "customData": vendor}, "variable": map[string]any{"name": "Enabled"}}}})
	if err != nil {
		t.Fatalf("GetVariables with customData: %v", err)
	}
	var r struct{ GetVariableResult []cv }
	if err := json.Unmarshal(res, &r); err != nil || len(r.GetVariableResult) != 1 || r.GetVariableResult[0].AttributeStatus != "Accepted" {
		t.Errorf("GetVariables with customData = %s (%v)", res, err)
	}
}
