package ocpp_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/slot"
)

// Blocks L and N on the 2.0.1 face against the strict peer: UpdateFirmware through the real
// update agent with file slots (the 1.6 tests' box and release), GetLog to a loopback upload
// server, and TriggerMessage for both status notifications.

func withAgent201(a *ota.Agent, keys ...ed25519.PublicKey) cpOpt {
	return func(c *ocpp.Config) { c.Firmware, c.FirmwareKeys = ocpp.FirmwareAgent(a), keys }
}

// updateFirmware201 is an UpdateFirmwareRequest retrieving now (or at retrieve); cert and sig
// are left out when empty.
func updateFirmware201(id int, location, cert, sig string, retrieve ...time.Time) map[string]any {
	at := time.Now()
	if len(retrieve) > 0 {
		at = retrieve[0]
	}
	fw := map[string]any{"location": location, "retrieveDateTime": at.UTC().Format(time.RFC3339)}
	if cert != "" {
		fw["signingCertificate"] = cert
	}
	if sig != "" {
		fw["signature"] = sig
	}
	return map[string]any{"requestId": id, "retries": 1, "retryInterval": 1, "firmware": fw}
}

type fwAnswer struct {
	Status     string
	StatusInfo *struct{ ReasonCode, AdditionalInfo string }
}

func callUpdateFirmware(t *testing.T, c *csms, req map[string]any) fwAnswer {
	t.Helper()
	res, err := c.Call("UpdateFirmware", req)
	if err != nil {
		t.Fatalf("UpdateFirmware: %v", err)
	}
	var a fwAnswer
	if err := json.Unmarshal(res, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func bootReasons(t *testing.T, c *csms) []string {
	var out []string
	for _, l := range c.Calls("BootNotification") {
		out = append(out, params[struct{ Reason string }](t, l).Reason)
	}
	return out
}

// position is the index in everything the CSMS saw of the first call that matches, -1 if none.
func position(t *testing.T, c *csms, action string, match func(csmsLine) bool) int {
	for i, l := range c.All() {
		if l.Type == "call" && l.Action == action && match(l) {
			return i
		}
	}
	return -1
}

func fwStatusIs(t *testing.T, want string) func(csmsLine) bool {
	return func(l csmsLine) bool {
		n := params[fwNote](t, l)
		s := n.Status
		if n.RequestID != nil {
			s += "#" + strconv.Itoa(*n.RequestID)
		}
		return s == want
	}
}

// waitRestart waits for the agent's switch into the new slot (the service would go down).
func waitRestart(t *testing.T, b *box, agent *ota.Agent) {
	t.Helper()
	select {
	case <-b.restarts:
	case <-time.After(30 * time.Second):
		t.Fatalf("no restart into the new slot; agent %+v", agent.Status())
	}
}

// A transaction runs and ends; then UpdateFirmware with a signing certificate and signature
// goes through the update agent: Downloading, Downloaded, SignatureVerified, Installing,
// InstallRebooting; the charge point restarts over the same ocpp.db into the new slot, boots
// with reason FirmwareUpdate, and reports Installed with the same requestId after that boot,
// with the security event FirmwareUpdated. The start after that is a PowerUp again.
func TestV201FirmwareUpdateAfterTransaction(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	rel := newRelease(t, "new firmware")
	base := serveBundles(t, map[string][]byte{"/fw.bundle": rel.bundle})
	b := newBox(t)
	dir := t.TempDir()
	agent, stopAgent := b.agent(g, rel.pub)
	cp, _, stopCP := startCP201(t, c, g, dir, withAgent201(agent, rel.pub))
	c.WaitFor("online", cp.Online)

	g.startLocal("04A1B2C3")
	c.WaitCalls("TransactionEvent", 1)
	g.end(ledger.EndLocal)
	c.WaitFor("the Ended event", func() bool { ev := txEvents(t, c); return ev[len(ev)-1].EventType == "Ended" })

	if a := callUpdateFirmware(t, c, updateFirmware201(11, base+"/fw.bundle", rel.certPEM, rel.signature())); a.Status != "Accepted" {
		t.Fatalf("UpdateFirmware = %+v, want Accepted", a)
	}
	waitRestart(t, b, agent)
	stopCP()
	stopAgent()
	b.launch("B") // systemd starts the launcher, which tries slot B once
	agent, stopAgent = b.agent(g, rel.pub)
	cp, _, stopCP = startCP201(t, c, g, dir, withAgent201(agent, rel.pub))
	c.WaitFor("Installed#11", func() bool {
		return slices.Contains(fwStatuses(t, c, "FirmwareStatusNotification"), "Installed#11")
	})
	// A status whose answer the stopped process did not get is sent again after the restart
	// (at least once): consecutive repeats are one.
	want := []string{"Downloading#11", "Downloaded#11", "SignatureVerified#11", "Installing#11", "InstallRebooting#11", "Installed#11"}
	if got := slices.Compact(fwStatuses(t, c, "FirmwareStatusNotification")); !slices.Equal(got, want) {
		t.Errorf("FirmwareStatusNotifications %v, want %v", got, want)
	}
	if got := bootReasons(t, c); !slices.Equal(got, []string{"PowerUp", "FirmwareUpdate"}) {
		t.Errorf("boot reasons %v, want [PowerUp FirmwareUpdate]", got)
	}
	boot := position(t, c, "BootNotification", func(l csmsLine) bool { return params[struct{ Reason string }](t, l).Reason == "FirmwareUpdate" })
	if installed := position(t, c, "FirmwareStatusNotification", fwStatusIs(t, "Installed#11")); installed < boot {
		t.Errorf("Installed (line %d) before the FirmwareUpdate boot (line %d)", installed, boot)
	}
	c.WaitFor("FirmwareUpdated", func() bool { return slices.Contains(securityEvents(t, c), ocpp.EventFirmwareUpdated) })
	if st := agent.Status(); st.State != ota.StateCommitted || b.current() != "B" {
		t.Errorf("agent %s, default slot %s; want committed on B", st.State, b.current())
	}
	if got, _ := os.ReadFile(filepath.Join(b.dirs.Root, "B", slot.AppFile)); string(got) != string(rel.payload) {
		t.Errorf("slot B holds %q, want the bundle's payload", got)
	}

	// The update is over: the next start is an ordinary one.
	stopCP()
	stopAgent()
	agent, _ = b.agent(g, rel.pub)
	cp, _, _ = startCP201(t, c, g, dir, withAgent201(agent, rel.pub))
	c.WaitFor("the third boot", func() bool { return len(c.Calls("BootNotification")) == 3 })
	if got := bootReasons(t, c)[2]; got != "PowerUp" {
		t.Errorf("boot after the update's end: reason %s, want PowerUp", got)
	}
}

// An update asked for while a transaction runs (without a signature: the agent checks the
// bundle's own) is downloaded, then InstallScheduled until the transaction ends; the
// TransactionEvent Ended goes out before Installing. A job still waiting for its
// retrieveDateTime is replaced (AcceptedCanceled); one that reached the agent is not
// (Rejected).
func TestV201FirmwareWaitsForTransaction(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	rel := newRelease(t, "new firmware")
	base := serveBundles(t, map[string][]byte{"/fw.bundle": rel.bundle})
	b := newBox(t)
	dir := t.TempDir()
	agent, stopAgent := b.agent(g, rel.pub)
	cp, _, stopCP := startCP201(t, c, g, dir, withAgent201(agent, rel.pub))
	c.WaitFor("online", cp.Online)
	g.startLocal("04A1B2C3")
	c.WaitCalls("TransactionEvent", 1)

	later := time.Now().Add(time.Hour)
	if a := callUpdateFirmware(t, c, updateFirmware201(20, base+"/fw.bundle", "", "", later)); a.Status != "Accepted" {
		t.Fatalf("UpdateFirmware for later = %+v", a)
	}
	c.WaitFor("DownloadScheduled#20", func() bool {
		return slices.Contains(fwStatuses(t, c, "FirmwareStatusNotification"), "DownloadScheduled#20")
	})
	if a := callUpdateFirmware(t, c, updateFirmware201(21, base+"/fw.bundle", "", "")); a.Status != "AcceptedCanceled" {
		t.Fatalf("UpdateFirmware replacing a scheduled job = %+v, want AcceptedCanceled", a)
	}
	c.WaitFor("InstallScheduled#21", func() bool {
		return slices.Contains(fwStatuses(t, c, "FirmwareStatusNotification"), "InstallScheduled#21")
	})
	if st := agent.Status(); st.State != ota.StateWaiting || st.WaitingFor != "charging session" || !g.running() {
		t.Fatalf("agent %s waiting for %q, session running %v; want the agent waiting for the session", st.State, st.WaitingFor, g.running())
	}
	if a := callUpdateFirmware(t, c, updateFirmware201(22, base+"/fw.bundle", "", "")); a.Status != "Rejected" || a.StatusInfo == nil {
		t.Errorf("UpdateFirmware while the agent holds an update = %+v, want Rejected with statusInfo", a)
	}

	g.end(ledger.EndLocal)
	waitRestart(t, b, agent)
	c.WaitFor("the Ended event", func() bool { ev := txEvents(t, c); return ev[len(ev)-1].EventType == "Ended" })
	stopCP()
	stopAgent()
	b.launch("B")
	agent, _ = b.agent(g, rel.pub)
	startCP201(t, c, g, dir, withAgent201(agent, rel.pub))
	c.WaitFor("Installed#21", func() bool {
		return slices.Contains(fwStatuses(t, c, "FirmwareStatusNotification"), "Installed#21")
	})
	want := []string{"DownloadScheduled#20", "Downloading#21", "Downloaded#21", "InstallScheduled#21", "Installing#21", "InstallRebooting#21", "Installed#21"}
	if got := slices.Compact(fwStatuses(t, c, "FirmwareStatusNotification")); !slices.Equal(got, want) { // repeats: see above
		t.Errorf("FirmwareStatusNotifications %v, want %v", got, want)
	}
	ended := position(t, c, "TransactionEvent", func(l csmsLine) bool { return params[txEvent](t, l).EventType == "Ended" })
	scheduled := position(t, c, "FirmwareStatusNotification", fwStatusIs(t, "InstallScheduled#21"))
	installing := position(t, c, "FirmwareStatusNotification", fwStatusIs(t, "Installing#21"))
	if !(scheduled < ended && ended < installing) {
		t.Errorf("lines: InstallScheduled %d, TransactionEvent Ended %d, Installing %d; want them in this order", scheduled, ended, installing)
	}
	if got := bootReasons(t, c); !slices.Equal(got, []string{"PowerUp", "FirmwareUpdate"}) {
		t.Errorf("boot reasons %v, want [PowerUp FirmwareUpdate]", got)
	}
}

// Hostile and broken updates: a signing certificate of an untrusted key (InvalidCertificate
// and its event), a certificate without a signature, a signature that is not over the bundle
// (InvalidSignature and its event, the agent untouched), a bundle signed by a stranger without
// a request signature (the agent refuses it: InvalidSignature), a bundle that is not there
// (DownloadFailed), ftp:// and garbage locations (Rejected, saying why). TriggerMessage
// FirmwareStatusNotification: Idle without a requestId when none runs, the status of the job
// in force with its requestId.
func TestV201FirmwareHostile(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	rel, stranger := newRelease(t, "new firmware"), newRelease(t, "foreign firmware")
	base := serveBundles(t, map[string][]byte{"/fw.bundle": rel.bundle, "/foreign.bundle": stranger.bundle})
	b := newBox(t)
	agent, _ := b.agent(g, rel.pub)
	cp, _, _ := startCP201(t, c, g, t.TempDir(), withAgent201(agent, rel.pub))
	c.WaitFor("online", cp.Online)

	if s := c.Status("TriggerMessage", map[string]any{"requestedMessage": "FirmwareStatusNotification"}); s != "Accepted" {
		t.Fatalf("TriggerMessage FirmwareStatusNotification = %s", s)
	}
	c.WaitFor("Idle", func() bool { return slices.Contains(fwStatuses(t, c, "FirmwareStatusNotification"), "Idle") })

	a := callUpdateFirmware(t, c, updateFirmware201(30, base+"/foreign.bundle", stranger.certPEM, stranger.signature()))
	if a.Status != "InvalidCertificate" {
		t.Errorf("UpdateFirmware with an untrusted signing key = %+v, want InvalidCertificate", a)
	}
	c.WaitFor("InvalidFirmwareSigningCertificate", func() bool {
		return slices.Contains(securityEvents(t, c), ocpp.EventInvalidFirmwareSigningCertificate)
	})
	if a := callUpdateFirmware(t, c, updateFirmware201(31, base+"/fw.bundle", rel.certPEM, "")); a.Status != "Rejected" || a.StatusInfo == nil {
		t.Errorf("UpdateFirmware with a certificate and no signature = %+v, want Rejected with statusInfo", a)
	}
	for _, loc := range []string{"ftp://fw.example/fw.bundle", "not a location"} {
		a := callUpdateFirmware(t, c, updateFirmware201(32, loc, "", ""))
		if a.Status != "Rejected" || a.StatusInfo == nil || a.StatusInfo.ReasonCode != "InvalidURL" || a.StatusInfo.AdditionalInfo == "" {
			t.Errorf("UpdateFirmware to %q = %+v, want Rejected InvalidURL saying why", loc, a)
		}
	}

	// Scheduled: the trigger reports the job in force with its requestId.
	if a := callUpdateFirmware(t, c, updateFirmware201(33, base+"/fw.bundle", "", "", time.Now().Add(time.Hour))); a.Status != "Accepted" {
		t.Fatalf("UpdateFirmware for later = %+v", a)
	}
	c.WaitFor("DownloadScheduled#33", func() bool {
		return slices.Contains(fwStatuses(t, c, "FirmwareStatusNotification"), "DownloadScheduled#33")
	})
	c.Status("TriggerMessage", map[string]any{"requestedMessage": "FirmwareStatusNotification"})
	c.WaitFor("the triggered DownloadScheduled#33", func() bool {
		return len(slices.DeleteFunc(fwStatuses(t, c, "FirmwareStatusNotification"), func(s string) bool { return s != "DownloadScheduled#33" })) == 2
	})

	// A signature that is not over this bundle's manifest: nothing downloaded.
	n := len(c.Calls("FirmwareStatusNotification"))
	if a := callUpdateFirmware(t, c, updateFirmware201(34, base+"/fw.bundle", rel.certPEM, base64.StdEncoding.EncodeToString(make([]byte, 64)))); a.Status != "AcceptedCanceled" {
		t.Fatalf("UpdateFirmware replacing the scheduled job = %+v, want AcceptedCanceled", a)
	}
	c.WaitFor("InvalidSignature#34", func() bool {
		return slices.Contains(fwStatuses(t, c, "FirmwareStatusNotification"), "InvalidSignature#34")
	})
	if got := fwStatuses(t, c, "FirmwareStatusNotification")[n:]; !slices.Equal(got, []string{"InvalidSignature#34"}) {
		t.Errorf("statuses of a bad signature %v, want [InvalidSignature#34]", got)
	}
	c.WaitFor("InvalidFirmwareSignature", func() bool { return slices.Contains(securityEvents(t, c), ocpp.EventInvalidFirmwareSignature) })
	if st := agent.Status(); st.State != ota.StateIdle {
		t.Errorf("agent %s after a refused signature, want idle (nothing downloaded)", st.State)
	}

	// No request signature: the agent checks the bundle's and refuses the stranger's.
	n = len(c.Calls("FirmwareStatusNotification"))
	events := len(securityEvents(t, c))
	if a := callUpdateFirmware(t, c, updateFirmware201(35, base+"/foreign.bundle", "", "")); a.Status != "Accepted" {
		t.Fatalf("UpdateFirmware = %+v", a)
	}
	c.WaitFor("InvalidSignature#35", func() bool {
		return slices.Contains(fwStatuses(t, c, "FirmwareStatusNotification"), "InvalidSignature#35")
	})
	if got := fwStatuses(t, c, "FirmwareStatusNotification")[n:]; !slices.Equal(got, []string{"Downloading#35", "InvalidSignature#35"}) {
		t.Errorf("statuses of a stranger's bundle %v, want [Downloading#35 InvalidSignature#35]", got)
	}
	c.WaitFor("a second InvalidFirmwareSignature", func() bool {
		return slices.Contains(securityEvents(t, c)[events:], ocpp.EventInvalidFirmwareSignature)
	})
	if b.current() != "A" {
		t.Errorf("default slot %s, want A unchanged", b.current())
	}

	// A bundle that is not there.
	n = len(c.Calls("FirmwareStatusNotification"))
	if a := callUpdateFirmware(t, c, updateFirmware201(36, base+"/missing.bundle", "", "")); a.Status != "Accepted" {
		t.Fatalf("UpdateFirmware = %+v", a)
	}
	c.WaitFor("DownloadFailed#36", func() bool {
		return slices.Contains(fwStatuses(t, c, "FirmwareStatusNotification"), "DownloadFailed#36")
	})
	if got := fwStatuses(t, c, "FirmwareStatusNotification")[n:]; got[len(got)-1] != "DownloadFailed#36" || slices.Contains(got, "Downloaded#36") {
		t.Errorf("statuses of a missing bundle %v, want DownloadFailed#36 last and no Downloaded", got)
	}
}

// blockingUploads holds every upload until release is closed, then hands it to next.
type blockingUploads struct {
	release chan struct{}
	next    http.Handler
}

func (u blockingUploads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case <-u.release:
	case <-r.Context().Done():
		return
	}
	u.next.ServeHTTP(w, r)
}

// GetLog DiagnosticsLog and SecurityLog upload by HTTP PUT (a failed attempt retried):
// Uploading then Uploaded with the requestId; the SecurityLog holds the charge point's
// security events. An upload server that keeps failing ends UploadFailure after the retries;
// ftp:// is Rejected. TriggerMessage LogStatusNotification: Uploading with the requestId while
// one runs, Idle without one after.
func TestV201GetLog(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	up := &uploads{failFirst: 1, got: map[string][]byte{}}
	release := make(chan struct{})
	srv := httptest.NewServer(blockingUploads{release: release, next: up})
	t.Cleanup(srv.Close)
	cp, _, _ := startCP201(t, c, newStandIn(t), t.TempDir(), func(c *ocpp.Config) { c.Diagnostics = windowArchive{} })
	c.WaitFor("online", cp.Online)
	c.WaitFor("StartupOfTheDevice", func() bool { return slices.Contains(securityEvents(t, c), ocpp.EventStartupOfTheDevice) })

	getLog := func(kind string, id int, location string, extra map[string]any) struct{ Status, Filename string } {
		t.Helper()
		req := map[string]any{"logType": kind, "requestId": id, "log": map[string]any{"remoteLocation": location}}
		for k, v := range extra {
			req[k] = v
		}
		res, err := c.Call("GetLog", req)
		if err != nil {
			t.Fatalf("GetLog: %v", err)
		}
		var a struct{ Status, Filename string }
		json.Unmarshal(res, &a)
		return a
	}
	from, to := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC), time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	a := getLog("DiagnosticsLog", 5, srv.URL+"/logs/", map[string]any{"retries": 2, "retryInterval": 1,
		"log": map[string]any{"remoteLocation": srv.URL + "/logs/", "oldestTimestamp": from.Format(time.RFC3339), "latestTimestamp": to.Format(time.RFC3339)}})
	if a.Status != "Accepted" || a.Filename != "chargegate-diagnosticslog.tar.gz" {
		t.Fatalf("GetLog DiagnosticsLog = %+v", a)
	}
	if s := getLog("SecurityLog", 6, srv.URL+"/logs/", nil); s.Status != "Rejected" {
		t.Errorf("GetLog while an upload runs = %+v, want Rejected", s)
	}
	c.Status("TriggerMessage", map[string]any{"requestedMessage": "LogStatusNotification"})
	c.WaitFor("the triggered Uploading#5", func() bool {
		return len(slices.DeleteFunc(fwStatuses(t, c, "LogStatusNotification"), func(s string) bool { return s != "Uploading#5" })) == 2
	})
	close(release)
	c.WaitFor("Uploaded#5", func() bool { return slices.Contains(fwStatuses(t, c, "LogStatusNotification"), "Uploaded#5") })
	if got := untar(t, up.file("/logs/"+a.Filename))["window.txt"]; got != "DiagnosticsLog 2026-12-05T08:00:00Z 2026-12-05T09:00:00Z\n" {
		t.Errorf("diagnostics archive window %q", got)
	}

	if a := getLog("SecurityLog", 7, srv.URL+"/sec.tgz", nil); a.Status != "Accepted" {
		t.Fatalf("GetLog SecurityLog = %+v", a)
	}
	c.WaitFor("Uploaded#7", func() bool { return slices.Contains(fwStatuses(t, c, "LogStatusNotification"), "Uploaded#7") })
	files := untar(t, up.file("/sec.tgz"))
	if !strings.HasPrefix(files["window.txt"], "SecurityLog ") {
		t.Errorf("security log archive %v: the appliance's files are missing", files)
	}
	if ev := files["security_events.jsonl"]; !strings.Contains(ev, `"type":"StartupOfTheDevice"`) {
		t.Errorf("security_events.jsonl %q, want the charge point's security events", ev)
	}

	if s := getLog("DiagnosticsLog", 8, "ftp://logs.example/", nil); s.Status != "Rejected" {
		t.Errorf("GetLog to ftp:// = %+v, want Rejected", s)
	}
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "disk full", http.StatusInsufficientStorage)
	}))
	t.Cleanup(failing.Close)
	if a := getLog("DiagnosticsLog", 9, failing.URL+"/", map[string]any{"retries": 1, "retryInterval": 1}); a.Status != "Accepted" {
		t.Fatalf("GetLog = %+v", a)
	}
	c.WaitFor("UploadFailure#9", func() bool { return slices.Contains(fwStatuses(t, c, "LogStatusNotification"), "UploadFailure#9") })
	want := []string{"Uploading#5", "Uploading#5", "Uploaded#5", "Uploading#7", "Uploaded#7", "Uploading#9", "UploadFailure#9"}
	if got := fwStatuses(t, c, "LogStatusNotification"); !slices.Equal(got, want) {
		t.Errorf("LogStatusNotifications %v, want %v", got, want)
	}
	c.Status("TriggerMessage", map[string]any{"requestedMessage": "LogStatusNotification"})
	c.WaitFor("LogStatusNotification Idle", func() bool { return slices.Contains(fwStatuses(t, c, "LogStatusNotification"), "Idle") })
}

// stepAgent is an update agent that stays where the test puts it.
type stepAgent struct {
	mu sync.Mutex
	p  ocpp.FirmwareProgress
}

func (a *stepAgent) Update(ctx context.Context, url string) error {
	a.set(ota.StateDownloading, "")
	return nil
}

func (a *stepAgent) Progress() ocpp.FirmwareProgress {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.p
}

func (a *stepAgent) set(s ota.State, err string) {
	a.mu.Lock()
	a.p = ocpp.FirmwareProgress{State: s, Error: err}
	a.mu.Unlock()
}

// Two updates that fail the same way in a row: the second failure is reported as promptly
// as the first (the agent's state is Failed again, not a new one), not at the next heartbeat.
func TestV201FirmwareFailsTwice(t *testing.T) {
	c := startCSMS201(t, "--interval", "60")
	agent := &stepAgent{}
	cp, _, _ := startCP201(t, c, newStandIn(t), t.TempDir(), func(c *ocpp.Config) { c.Firmware = agent })
	c.WaitFor("online", cp.Online)
	for _, id := range []int{40, 41} {
		if a := callUpdateFirmware(t, c, updateFirmware201(id, "http://127.0.0.1:1/fw.bundle", "", "")); a.Status != "Accepted" {
			t.Fatalf("UpdateFirmware %d = %+v", id, a)
		}
		downloading, failed := fmt.Sprintf("Downloading#%d", id), fmt.Sprintf("DownloadFailed#%d", id)
		c.WaitFor(downloading, func() bool { return slices.Contains(fwStatuses(t, c, "FirmwareStatusNotification"), downloading) })
		agent.set(ota.StateFailed, "download: connection refused")
		c.WaitFor(failed, func() bool { return slices.Contains(fwStatuses(t, c, "FirmwareStatusNotification"), failed) })
	}
}
