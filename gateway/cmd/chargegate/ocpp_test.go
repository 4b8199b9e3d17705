package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/slot"
)

// Issue 16 (started): the real daemon as an OCPP 1.6J charge point of the strict ocpp-rpc
// CSMS. Every call and reply is checked against the official schemas (a violation fails the
// test); a remote start and stop run a session through the control loop, and the session's
// OCMF record arrives in StopTransaction as SignedData that chargegate ocmf verify accepts.
func TestOCPPRemoteSessionWithSignedMeterValues(t *testing.T) {
	c := rig.StartCSMS(t, filepath.Join("..", "..", "ocpp", "testdata", "csms"), "--interval", "30", "--txid-start", "500")
	s := rig.StartStack(t, rig.StackOptions{})
	dir := t.TempDir()
	cfg := s.Config(filepath.Join(dir, "data"), rig.Config{
		Sessions: "  mode: authorized\n",
		Extra:    "ocpp:\n  url: " + c.URL() + "\n  identity: CG-E2E-1\n  meter_value_sample_interval: 1s\n",
	})
	g := startGateway(t, dir, cfg)
	c.WaitCalls("BootNotification", 1)
	c.WaitFor("connector 1 available", func() bool {
		for _, l := range c.Calls("StatusNotification") {
			if strings.Contains(string(l.Params), `"connectorId":1`) && strings.Contains(string(l.Params), `"Available"`) {
				return true
			}
		}
		return false
	})
	if st := c.Status("ChangeConfiguration", map[string]string{"key": "SampledDataSignReadings", "value": "true"}); st != "Accepted" {
		t.Fatalf("ChangeConfiguration SampledDataSignReadings: %s", st)
	}
	if st := c.Status("RemoteStartTransaction", map[string]any{"connectorId": 1, "idTag": "TAG-E2E"}); st != "Accepted" {
		t.Fatalf("RemoteStartTransaction: %s", st)
	}
	start := c.WaitCalls("StartTransaction", 1)[0]
	if !strings.Contains(string(start.Params), `"idTag":"TAG-E2E"`) {
		t.Errorf("StartTransaction %s does not carry the remote idTag", start.Params)
	}
	c.WaitCalls("MeterValues", 2)
	if st := c.Status("RemoteStopTransaction", map[string]any{"transactionId": 500}); st != "Accepted" {
		t.Fatalf("RemoteStopTransaction: %s", st)
	}
	stop := c.WaitCalls("StopTransaction", 1)[0]
	var sp struct {
		TransactionID   int    `json:"transactionId"`
		Reason          string `json:"reason"`
		TransactionData []struct {
			SampledValue []struct {
				Value, Format, Context string
			} `json:"sampledValue"`
		} `json:"transactionData"`
	}
	if err := json.Unmarshal(stop.Params, &sp); err != nil {
		t.Fatal(err)
	}
	if sp.TransactionID != 500 || sp.Reason != "Remote" {
		t.Errorf("StopTransaction id %d reason %q, want 500 Remote", sp.TransactionID, sp.Reason)
	}
	var signed string
	for _, mv := range sp.TransactionData {
		for _, sv := range mv.SampledValue {
			if sv.Format == "SignedData" {
				signed = sv.Value
			}
		}
	}
	if !strings.HasPrefix(signed, "OCMF|") {
		t.Fatalf("no OCMF record as SignedData in StopTransaction: %s", stop.Params)
	}
	res, err := c.Call("GetConfiguration", map[string]any{"key": []string{"MeterPublicKey1"}})
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		ConfigurationKey []struct{ Value string } `json:"configurationKey"`
	}
	if json.Unmarshal(res, &conf) != nil || len(conf.ConfigurationKey) != 1 {
		t.Fatalf("GetConfiguration MeterPublicKey1: %s", res)
	}
	if code, out := rig.CLI(t, "", "ocmf", "verify", "--key", conf.ConfigurationKey[0].Value, signed); code != 0 {
		t.Errorf("chargegate ocmf verify of the SignedData = %d: %s", code, out)
	}
	// SampledDataSignReadings: each periodic sample carries its own signed record.
	var sampleSigned string
	for _, l := range c.Calls("MeterValues") {
		var mv struct {
			MeterValue []struct {
				SampledValue []struct{ Value, Format string } `json:"sampledValue"`
			} `json:"meterValue"`
		}
		json.Unmarshal(l.Params, &mv)
		for _, m := range mv.MeterValue {
			for _, sv := range m.SampledValue {
				if sv.Format == "SignedData" {
					sampleSigned = sv.Value
				}
			}
		}
	}
	if code, out := rig.CLI(t, "", "ocmf", "verify", "--key", conf.ConfigurationKey[0].Value, sampleSigned); sampleSigned == "" || code != 0 {
		t.Errorf("signed sample %q: chargegate ocmf verify = %d: %s", sampleSigned, code, out)
	}
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ends := endsBySession(chain(t, g.DataDir))
	if len(ends) != 1 {
		t.Fatalf("%d sessions ended in the chain, want 1", len(ends))
	}
	for _, es := range ends {
		if len(es) != 1 || es[0].Event != ledger.EndRemote {
			t.Errorf("session ends %+v, want one remote end", es)
		}
	}
}

// Issue 16: UpdateFirmware through the real daemon with file slots. The update is asked for
// mid-session, downloads, waits (Downloaded) until the CSMS stops the session, installs,
// restarts into slot B and commits there; the new process reports Installing and Installed to
// the same CSMS. A bundle signed by a key the device does not trust then ends
// InstallationFailed and nothing changes.
func TestOCPPFirmwareUpdateAfterSession(t *testing.T) {
	dir := t.TempDir()
	f := newFirmwareRig(t, dir)
	slotDir, dirs, srv := f.slotDir, f.dirs, f.srv
	c := rig.StartCSMS(t, filepath.Join("..", "..", "ocpp", "testdata", "csms"), "--interval", "30", "--txid-start", "900")
	s := rig.StartStack(t, rig.StackOptions{})
	cfg := s.Config(filepath.Join(dir, "data"), rig.Config{
		Sessions: "  mode: authorized\n",
		Extra:    fmt.Sprintf("ocpp:\n  url: %s\n  identity: CG-FW-1\n  meter_value_sample_interval: 1s\n", c.URL()) + f.updateConfig(dir),
	})
	g := startGateway(t, dir, cfg)
	fw := func() []string {
		var out []string
		for _, l := range c.Calls("FirmwareStatusNotification") {
			var p struct{ Status string }
			json.Unmarshal(l.Params, &p)
			out = append(out, p.Status)
		}
		return out
	}
	c.WaitCalls("BootNotification", 1)
	c.WaitFor("connected", func() bool { return len(c.Calls("StatusNotification")) >= 2 })
	if st := c.Status("RemoteStartTransaction", map[string]any{"connectorId": 1, "idTag": "FW-TAG"}); st != "Accepted" {
		t.Fatalf("RemoteStartTransaction: %s", st)
	}
	c.WaitCalls("StartTransaction", 1)
	if _, err := c.Call("UpdateFirmware", map[string]any{"location": srv.URL + "/fw.bundle", "retrieveDate": time.Now().UTC().Format(time.RFC3339)}); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("Downloaded while the session runs", func() bool { return slices.Contains(fw(), "Downloaded") })
	rig.WaitFor(t, 30*time.Second, "update waiting for the session", func() bool {
		u, _ := g.StatusMap(t)["update"].(map[string]any)
		return u != nil && u["state"] == "waiting"
	})
	if st := g.StatusMap(t); st["session"] == nil || st["relay_closed"] != true {
		t.Fatalf("the update interrupted the session: %v", st)
	}
	if st := c.Status("RemoteStopTransaction", map[string]any{"transactionId": 900}); st != "Accepted" {
		t.Fatalf("RemoteStopTransaction: %s", st)
	}
	waitInstallExit(t, g)
	c.WaitCalls("StopTransaction", 1)
	if next, err := dirs.Launch(); err != nil || !strings.HasSuffix(next, filepath.Join("B", slot.AppFile)) {
		t.Fatalf("launcher chose %q, %v; want slot B", next, err)
	}
	g2 := startGateway(t, dir, cfg)
	rig.WaitFor(t, 60*time.Second, "Installed reported", func() bool { return slices.Contains(fw(), "Installed") })
	if got, want := fw(), []string{"Downloading", "Downloaded", "Installing", "Installed"}; !slices.Equal(got, want) {
		t.Errorf("FirmwareStatusNotifications %v, want %v", got, want)
	}
	cur, _ := os.ReadFile(filepath.Join(slotDir, "current"))
	if strings.TrimSpace(string(cur)) != "B" {
		t.Fatalf("default slot after commit = %q, want B", cur)
	}

	// A bundle the device does not trust: InstallationFailed, slot B stays the default.
	if _, err := c.Call("UpdateFirmware", map[string]any{"location": srv.URL + "/bad.bundle", "retrieveDate": time.Now().UTC().Format(time.RFC3339)}); err != nil {
		t.Fatal(err)
	}
	rig.WaitFor(t, 30*time.Second, "InstallationFailed", func() bool { return slices.Contains(fw(), "InstallationFailed") })
	if got := fw()[4:]; !slices.Equal(got, []string{"Downloading", "InstallationFailed"}) {
		t.Errorf("statuses of the bad bundle %v, want [Downloading InstallationFailed]", got)
	}
	cur, _ = os.ReadFile(filepath.Join(slotDir, "current"))
	if strings.TrimSpace(string(cur)) != "B" {
		t.Errorf("default slot after a bad bundle = %q, want B", cur)
	}
	if err := g2.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// Issue 16: a SIGKILL after the session's end entry committed but before the OCPP queue took
// its StopTransaction (gateway.StepEndCommitted) loses nothing: at the next start the queue is
// reconciled with the chain, and the CSMS receives the StopTransaction once, with the chain's
// end register and reason.
func TestOCPPStopTransactionSurvivesKillAfterEndEntry(t *testing.T) {
	c := rig.StartCSMS(t, filepath.Join("..", "..", "ocpp", "testdata", "csms"), "--interval", "30", "--txid-start", "700")
	s := rig.StartStack(t, rig.StackOptions{})
	dir := t.TempDir()
	cfg := s.Config(filepath.Join(dir, "data"), rig.Config{
		Sessions: "  mode: authorized\n",
		Extra:    "ocpp:\n  url: " + c.URL() + "\n  identity: CG-KILL-1\n  meter_value_sample_interval: 1s\n",
	})
	t.Setenv("CHARGEGATE_CRASH_AT", gateway.StepEndCommitted)
	g := startGateway(t, dir, cfg)
	c.WaitFor("connected", func() bool { return len(c.Calls("StatusNotification")) >= 2 })
	if st := c.Status("RemoteStartTransaction", map[string]any{"connectorId": 1, "idTag": "KILL-TAG"}); st != "Accepted" {
		t.Fatalf("RemoteStartTransaction: %s", st)
	}
	c.WaitCalls("StartTransaction", 1)
	c.WaitCalls("MeterValues", 1)
	if st := c.Status("RemoteStopTransaction", map[string]any{"transactionId": 700}); st != "Accepted" {
		t.Fatalf("RemoteStopTransaction: %s", st)
	}
	select {
	case <-g.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the gateway did not die after the end entry")
	}
	if n := len(c.Calls("StopTransaction")); n != 0 {
		t.Fatalf("%d StopTransactions before the restart; the kill came too late", n)
	}
	t.Setenv("CHARGEGATE_CRASH_AT", "")
	g = startGateway(t, dir, cfg)
	stop := c.WaitCalls("StopTransaction", 1)[0]
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !g.Logged("OCPP queue reconciled with the chain") {
		t.Errorf("the StopTransaction did not come from the reconciliation")
	}
	if n := len(c.Calls("StopTransaction")); n != 1 {
		t.Errorf("%d StopTransactions, want 1", n)
	}
	var sp struct {
		TransactionID   int    `json:"transactionId"`
		Reason          string `json:"reason"`
		IDTag           string `json:"idTag"`
		MeterStop       int64  `json:"meterStop"`
		TransactionData []struct {
			SampledValue []struct {
				Value  string `json:"value"`
				Format string `json:"format"`
			} `json:"sampledValue"`
		} `json:"transactionData"`
	}
	json.Unmarshal(stop.Params, &sp)
	ends := endsBySession(chain(t, g.DataDir))
	if len(ends) != 1 {
		t.Fatalf("%d sessions ended in the chain, want 1", len(ends))
	}
	for _, es := range ends {
		if sp.TransactionID != 700 || sp.Reason != "Remote" || sp.IDTag != "KILL-TAG" || sp.MeterStop != es[0].ImportMWh/1000 {
			t.Errorf("StopTransaction %+v, want transaction 700, Remote, KILL-TAG, meterStop %d (the chain's end)", sp, es[0].ImportMWh/1000)
		}
		// The OCMF record signed before the kill goes as SignedData, as it would have live: the
		// very record whose digest the end entry holds, verifying under the gateway's OCMF key.
		var signed []string
		for _, mv := range sp.TransactionData {
			for _, v := range mv.SampledValue {
				if v.Format == "SignedData" {
					signed = append(signed, v.Value)
				}
			}
		}
		if len(signed) != 1 {
			t.Fatalf("%d SignedData values in the reconciled StopTransaction, want the session's OCMF record", len(signed))
		}
		if sha256.Sum256([]byte(signed[0])) != es[0].Attachment {
			t.Errorf("the SignedData is not the record the end entry names: %.120s", signed[0])
		}
		keys, err := ledger.LoadKeys(g.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(&keys.OCMF.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if code, out := rig.CLI(t, signed[0], "ocmf", "verify", "--key", hex.EncodeToString(der), "-"); code != 0 {
			t.Errorf("chargegate ocmf verify of the reconciled SignedData = %d: %s", code, out)
		}
	}
}

// Issue 16: a charging limit of 0 from the CSMS pauses the running session through the
// control loop (relay open, session kept, SuspendedEVSE), clearing it resumes; the chain
// records one pause and one resume by ocpp, and GetCompositeSchedule shows the limit.
func TestOCPPChargingLimitPausesAndResumes(t *testing.T) {
	c := rig.StartCSMS(t, filepath.Join("..", "..", "ocpp", "testdata", "csms"), "--interval", "30", "--txid-start", "300")
	s := rig.StartStack(t, rig.StackOptions{})
	dir := t.TempDir()
	cfg := s.Config(filepath.Join(dir, "data"), rig.Config{
		Sessions: "  mode: authorized\n",
		Extra:    "ocpp:\n  url: " + c.URL() + "\n  identity: CG-LIMIT-1\n",
	})
	g := startGateway(t, dir, cfg)
	c.WaitFor("connected", func() bool { return len(c.Calls("StatusNotification")) >= 2 })
	if st := c.Status("RemoteStartTransaction", map[string]any{"connectorId": 1, "idTag": "LIMIT-TAG"}); st != "Accepted" {
		t.Fatalf("RemoteStartTransaction: %s", st)
	}
	c.WaitCalls("StartTransaction", 1)
	rig.WaitFor(t, 20*time.Second, "charging", func() bool { return g.StatusMap(t)["relay_closed"] == true })
	zero := map[string]any{"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative", "transactionId": 300,
		"chargingSchedule": map[string]any{"chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 0}}}}
	if st := c.Status("SetChargingProfile", map[string]any{"connectorId": 1, "csChargingProfiles": zero}); st != "Accepted" {
		t.Fatalf("SetChargingProfile: %s", st)
	}
	rig.WaitFor(t, 20*time.Second, "paused with the relay open", func() bool {
		st := g.StatusMap(t)
		sess, _ := st["session"].(map[string]any)
		return sess != nil && sess["state"] == "paused" && st["relay_closed"] == false
	})
	c.WaitFor("SuspendedEVSE", func() bool {
		for _, l := range c.Calls("StatusNotification") {
			if strings.Contains(string(l.Params), `"SuspendedEVSE"`) {
				return true
			}
		}
		return false
	})
	res, err := c.Call("GetCompositeSchedule", map[string]any{"connectorId": 1, "duration": 60})
	if err != nil || !strings.Contains(string(res), `"limit":0`) {
		t.Errorf("GetCompositeSchedule = %s, %v; want limit 0", res, err)
	}
	if st := c.Status("ClearChargingProfile", map[string]any{"id": 1}); st != "Accepted" {
		t.Fatalf("ClearChargingProfile: %s", st)
	}
	rig.WaitFor(t, 20*time.Second, "charging again", func() bool {
		st := g.StatusMap(t)
		sess, _ := st["session"].(map[string]any)
		return sess != nil && sess["state"] == "charging" && st["relay_closed"] == true
	})
	if st := c.Status("RemoteStopTransaction", map[string]any{"transactionId": 300}); st != "Accepted" {
		t.Fatalf("RemoteStopTransaction: %s", st)
	}
	c.WaitCalls("StopTransaction", 1)
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range chain(t, g.DataDir) {
		if e.Event == ledger.EventSessionPaused || e.Event == ledger.EventSessionResumed {
			events = append(events, e.Event+" "+e.Detail)
		}
	}
	if want := []string{"session_paused by=ocpp", "session_resumed by=ocpp"}; !slices.Equal(events, want) {
		t.Errorf("chain events %v, want %v", events, want)
	}
}

// Issue 16/17: DataTransfer org.chargegate/token carries a signed capability token that starts
// a session through the Operator, as MQTT's start does (a foreign token is refused with its
// reason); the session's signed receipt goes back as DataTransfer org.chargegate/receipt after
// its StopTransaction, through the durable queue.
func TestOCPPDataTransferTokenAndReceipt(t *testing.T) {
	dir := t.TempDir()
	issuer, other := filepath.Join(dir, "emsp"), filepath.Join(dir, "other")
	for _, p := range []string{issuer, other} {
		if code, out := rig.CLI(t, "", "token", "keygen", "--out", p); code != 0 {
			t.Fatalf("token keygen: %s", out)
		}
	}
	issue := func(key string) string {
		t.Helper()
		code, out := rig.CLI(t, "", "token", "issue", "--key", key+".key", "--kid", "emsp-1", "--id-token", "04A1B2C3D4",
			"--evse", "DE*CGT*ETEST*1", "--expires", "1h", "--max-energy-wh", "2")
		if code != 0 {
			t.Fatalf("token issue: %s", out)
		}
		return strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	}
	good, foreign := issue(issuer), issue(other)
	c := rig.StartCSMS(t, filepath.Join("..", "..", "ocpp", "testdata", "csms"), "--interval", "30", "--txid-start", "800")
	s := rig.StartStack(t, rig.StackOptions{})
	cfg := s.Config(filepath.Join(dir, "data"), rig.Config{
		Sessions: "  mode: authorized\n",
		Extra:    "ocpp:\n  url: " + c.URL() + "\n  identity: CG-DT-1\naccess:\n  issuers: [\"emsp-1=" + issuer + ".pub\"]\n",
	})
	g := startGateway(t, dir, cfg)
	c.WaitFor("connected", func() bool { return len(c.Calls("StatusNotification")) >= 2 })
	dt := func(vendor, msg, data string) (string, string) {
		res, err := c.Call("DataTransfer", map[string]string{"vendorId": vendor, "messageId": msg, "data": data})
		if err != nil {
			t.Fatal(err)
		}
		var r struct{ Status, Data string }
		json.Unmarshal(res, &r)
		return r.Status, r.Data
	}
	if st, _ := dt("com.example", "token", good); st != "UnknownVendorId" {
		t.Errorf("DataTransfer of another vendor = %s", st)
	}
	if st, _ := dt("org.chargegate", "nonsense", good); st != "UnknownMessageId" {
		t.Errorf("DataTransfer of an unknown message = %s", st)
	}
	if st, data := dt("org.chargegate", "token", foreign); st != "Rejected" || !strings.HasPrefix(data, "unauthorized") {
		t.Errorf("DataTransfer with a foreign token = %s %q, want Rejected unauthorized", st, data)
	}
	st, session := dt("org.chargegate", "token", good)
	if st != "Accepted" || session == "" {
		t.Fatalf("DataTransfer with a valid token = %s %q", st, session)
	}
	c.WaitCalls("StartTransaction", 1)
	// The token's 2 Wh limit ends the session; its receipt follows the StopTransaction.
	rig.WaitFor(t, 30*time.Second, "the receipt as DataTransfer", func() bool {
		for _, l := range c.Calls("DataTransfer") {
			if strings.Contains(string(l.Params), `"messageId":"receipt"`) {
				return true
			}
		}
		return false
	})
	var order []string
	var receipt string
	for _, l := range c.All() {
		if l.Type != "call" {
			continue
		}
		switch l.Action {
		case "StopTransaction":
			order = append(order, l.Action)
		case "DataTransfer":
			var p struct{ VendorID, MessageID, Data string }
			json.Unmarshal(l.Params, &p)
			order = append(order, l.Action)
			receipt = p.Data
		}
	}
	if !slices.Equal(order, []string{"StopTransaction", "DataTransfer"}) {
		t.Errorf("calls %v, want StopTransaction then the receipt", order)
	}
	if !strings.Contains(receipt, session) || !strings.Contains(receipt, "VerifiableCredential") {
		t.Errorf("receipt %.200s… does not name session %s as a verifiable credential", receipt, session)
	}
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// Issue 16: GetDiagnostics uploads the appliance's archive of the window asked for to a
// loopback HTTP server: the status, the chain's entries in the window (a session's begin and
// end among them) and the journal (or a note that there is none).
func TestOCPPDiagnosticsArchive(t *testing.T) {
	var mu sync.Mutex
	uploads := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.Error(w, "PUT only", http.StatusMethodNotAllowed)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		uploads[r.URL.Path] = b
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	c := rig.StartCSMS(t, filepath.Join("..", "..", "ocpp", "testdata", "csms"), "--interval", "30", "--txid-start", "100")
	s := rig.StartStack(t, rig.StackOptions{})
	dir := t.TempDir()
	cfg := s.Config(filepath.Join(dir, "data"), rig.Config{
		Sessions: "  mode: authorized\n",
		Extra:    "ocpp:\n  url: " + c.URL() + "\n  identity: CG-DIAG-1\n",
	})
	g := startGateway(t, dir, cfg)
	c.WaitFor("connected", func() bool { return len(c.Calls("StatusNotification")) >= 2 })
	from := time.Now().Add(-time.Second)
	if st := c.Status("RemoteStartTransaction", map[string]any{"idTag": "DIAG"}); st != "Accepted" {
		t.Fatalf("RemoteStartTransaction: %s", st)
	}
	c.WaitCalls("StartTransaction", 1)
	if st := c.Status("RemoteStopTransaction", map[string]any{"transactionId": 100}); st != "Accepted" {
		t.Fatalf("RemoteStopTransaction: %s", st)
	}
	c.WaitCalls("StopTransaction", 1)
	res, err := c.Call("GetDiagnostics", map[string]any{"location": srv.URL + "/diag/", "startTime": from.UTC().Format(time.RFC3339Nano),
		"stopTime": time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)})
	if err != nil {
		t.Fatal(err)
	}
	var conf struct{ FileName string }
	json.Unmarshal(res, &conf)
	if !strings.HasPrefix(conf.FileName, "chargegate-") || !strings.HasSuffix(conf.FileName, ".tar.gz") {
		t.Fatalf("GetDiagnostics fileName %q", conf.FileName)
	}
	c.WaitFor("Uploaded", func() bool {
		for _, l := range c.Calls("DiagnosticsStatusNotification") {
			if strings.Contains(string(l.Params), `"Uploaded"`) {
				return true
			}
		}
		return false
	})
	mu.Lock()
	archive := uploads["/diag/"+conf.FileName]
	mu.Unlock()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("the upload is not gzip: %v", err)
	}
	files := map[string]string{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = string(b)
	}
	var status map[string]any
	if err := json.Unmarshal([]byte(files["status.json"]), &status); err != nil || status["device"] != g.Device {
		t.Errorf("status.json %.200q: want the device's status (%v)", files["status.json"], err)
	}
	chainTxt := files["chain.txt"]
	if !strings.Contains(chainTxt, " session_begin ") || !strings.Contains(chainTxt, " session_end remote ") {
		t.Errorf("chain.txt lacks the session's begin and remote end:\n%s", chainTxt)
	}
	if _, ok := files["journal.txt"]; !ok {
		t.Errorf("no journal.txt in the archive: %v", files)
	}
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// Issues 16 and 19: `chargegate demo --ocpp DIR` (make demo OCPP=1, OCPP=2.0.1) runs the
// strict CSMS beside the demo in the chosen version, connects the gateway and prints its
// message log's path and summary: the autostarted session's begin and, at the end, its end,
// with no schema violation.
func TestDemoWithOCPP(t *testing.T) {
	bin := filepath.Dir(rig.Bin(t, "metersim"))
	csmsDir, err := filepath.Abs(filepath.Join("..", "..", "ocpp", "testdata", "csms"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		version string
		want    []string
	}{
		{"1.6", []string{"strict OCPP 1.6J CSMS on port", "StartTransaction 1", "StopTransaction 1"}},
		{"2.0.1", []string{"strict OCPP 2.0.1 CSMS on port", "TransactionEvent "}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			dir := t.TempDir()
			code, out := rig.CLI(t, "", "demo", "--data", dir, "--bin", bin, "--duration", "12s", "--http", "127.0.0.1:0",
				"--ocpp", csmsDir, "--ocpp-version", tc.version)
			if code != 0 {
				t.Fatalf("demo --ocpp = %d:\n%s", code, out)
			}
			for _, want := range append(tc.want, "OCPP message log   "+filepath.Join(dir, "csms.log"),
				"BootNotification 1", "schema violations 0", "chain verified     yes") {
				if !strings.Contains(out, want) {
					t.Errorf("demo output lacks %q:\n%s", want, out)
				}
			}
			if tc.version != "2.0.1" {
				return
			}
			// One transaction, begun and ended once, its events numbered from 0 without a gap.
			log, err := os.ReadFile(filepath.Join(dir, "csms.log"))
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, line := range strings.Split(string(log), "\n") {
				var l struct {
					Type, Action string
					Params       struct {
						EventType string
						SeqNo     int
					}
				}
				if json.Unmarshal([]byte(line), &l) != nil || l.Type != "call" || l.Action != "TransactionEvent" {
					continue
				}
				if l.Params.SeqNo != len(types) {
					t.Errorf("TransactionEvent %d has seqNo %d", len(types), l.Params.SeqNo)
				}
				types = append(types, l.Params.EventType)
			}
			if len(types) < 2 || types[0] != "Started" || types[len(types)-1] != "Ended" || slices.Contains(types[1:len(types)-1], "Ended") {
				t.Errorf("TransactionEvents = %v, want Started, Updated…, Ended", types)
			}
		})
	}
}

// firmwareRig is a box with file slots running this build in slot A, and a server of two
// bundles of it as version 2.0.0: /fw.bundle signed by the release key in pubFile (which the
// device is to trust), /bad.bundle by a key it does not know.
type firmwareRig struct {
	slotDir, pubFile string
	dirs             *slot.Dirs
	srv              *httptest.Server
}

func newFirmwareRig(t *testing.T, dir string) firmwareRig {
	t.Helper()
	slotDir := filepath.Join(dir, "slots")
	bin, err := os.ReadFile(rig.Bin(t, "chargegate"))
	if err != nil {
		t.Fatal(err)
	}
	dirs := &slot.Dirs{FS: durable.OS{}, Root: slotDir}
	if err := os.MkdirAll(filepath.Join(slotDir, "A"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(slotDir, "A", slot.AppFile), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := dirs.Launch(); err != nil {
		t.Fatal(err)
	}
	release := func(name string) ([]byte, string) {
		priv, pub := filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
		if _, err := bundle.GenerateKey(priv, pub); err != nil {
			t.Fatal(err)
		}
		key, err := bundle.ReadPrivateKeyFile(priv)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := bundle.Create(&buf, bundle.Meta{Version: "2.0.0", SecurityVersion: 2, Compatible: []string{"test-board"}},
			[]bundle.Input{{Name: "chargegate", Type: "app", Data: bytes.NewReader(bin)}}, 1<<20, []ed25519.PrivateKey{key}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes(), pub
	}
	good, pubFile := release("release")
	bad, _ := release("stranger")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := good
		if r.URL.Path == "/bad.bundle" {
			b = bad
		}
		http.ServeContent(w, r, "fw.bundle", time.Unix(0, 0), bytes.NewReader(b))
	}))
	t.Cleanup(srv.Close)
	return firmwareRig{slotDir: slotDir, pubFile: pubFile, dirs: dirs, srv: srv}
}

// updateConfig is the update section of a box on rig f.
func (f firmwareRig) updateConfig(dir string) string {
	return fmt.Sprintf("update:\n  enabled: true\n  state_dir: %q\n  slots: files\n  slot_dir: %q\n  hardware: test-board\n  trusted_keys: [%q]\n  health_deadline: 30s\n",
		filepath.Join(dir, "update"), f.slotDir, f.pubFile)
}

// waitInstallExit waits for the gateway to exit cleanly after installing an update, as it does
// so that systemd restarts the service into the new slot.
func waitInstallExit(t *testing.T, g *rig.Gateway) {
	t.Helper()
	select {
	case <-g.Done():
		if g.Err() != nil {
			t.Fatalf("gateway exit for the restart: %v", g.Err())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("gateway did not restart into the new slot")
	}
}
