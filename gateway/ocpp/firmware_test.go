package ocpp_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/slot"
)

// release is a signed app-only bundle served over HTTP, and its signing certificate.
type release struct {
	pub      ed25519.PublicKey
	priv     ed25519.PrivateKey
	payload  []byte
	bundle   []byte
	manifest []byte // manifest.json as stored
	certPEM  string
}

func newRelease(t *testing.T, payload string) release {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := bundle.Create(&buf, bundle.Meta{Version: "2.0.0", SecurityVersion: 2, Compatible: []string{"test-board"}},
		[]bundle.Input{{Name: "chargegate", Type: "app", Data: strings.NewReader(payload)}}, 1<<20, []ed25519.PrivateKey{priv}); err != nil {
		t.Fatal(err)
	}
	_, raw, _, err := bundle.NewReader(bytes.NewReader(buf.Bytes())).Manifest(map[string]ed25519.PublicKey{bundle.KeyID(pub): pub})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "chargegate release"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return release{pub: pub, priv: priv, payload: []byte(payload), bundle: buf.Bytes(), manifest: raw,
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// signature is what SignedUpdateFirmware carries: the release key's signature over the
// bundle's manifest (see firmware.go).
func (r release) signature() string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(r.priv, append([]byte("chargegate-bundle-manifest/1\n"), r.manifest...)))
}

// box is the update side of a charge point: file slots with a launcher, and the agent.
type box struct {
	t        *testing.T
	dir      string
	dirs     *slot.Dirs
	restarts chan struct{}
}

func newBox(t *testing.T) *box {
	b := &box{t: t, dir: t.TempDir(), restarts: make(chan struct{}, 1)}
	b.dirs = &slot.Dirs{FS: durable.OS{}, Root: filepath.Join(b.dir, "slots"), Restart: func(context.Context) error {
		b.restarts <- struct{}{}
		return nil
	}}
	if err := os.MkdirAll(filepath.Join(b.dirs.Root, "A"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dirs.Root, "A", slot.AppFile), []byte("old firmware"), 0o755); err != nil {
		t.Fatal(err)
	}
	b.launch("A")
	return b
}

// launch runs the launcher, as systemd does at each start, and checks which slot it chose.
func (b *box) launch(want string) {
	b.t.Helper()
	p, err := b.dirs.Launch()
	if err != nil || filepath.Base(filepath.Dir(p)) != want {
		b.t.Fatalf("launcher chose %s, %v; want slot %s", p, err, want)
	}
}

// agent starts an update agent trusting keys, held off by g's sessions, until the returned
// stop.
func (b *box) agent(g *standIn, keys ...ed25519.PublicKey) (*ota.Agent, func()) {
	trusted := map[string]ed25519.PublicKey{}
	for _, k := range keys {
		trusted[bundle.KeyID(k)] = k
	}
	a, err := ota.New(ota.Config{StateDir: filepath.Join(b.dir, "update"), Slots: b.dirs, TrustedKeys: trusted, Hardware: "test-board",
		Version: "1.0.0", HealthCheck: func(context.Context) error { return nil }, PollInterval: 100 * time.Millisecond,
		RetryDelay: 100 * time.Millisecond, MaxAttempts: 2}, chargingHold{g})
	if err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	stop := func() { cancel(); <-done }
	b.t.Cleanup(stop)
	return a, stop
}

func (b *box) current() string {
	cur, _ := os.ReadFile(filepath.Join(b.dirs.Root, "current"))
	if len(cur) == 0 {
		return "A"
	}
	return strings.TrimSpace(string(cur))
}

// chargingHold is gateway.Controller.Hold as the update agent wants it (ota.ErrCharging
// while a session runs).
type chargingHold struct{ g *standIn }

func (h chargingHold) Hold(ctx context.Context) (func(), error) {
	r, err := h.g.Hold(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w (%w)", err, ota.ErrCharging)
	}
	return r, nil
}

func serveBundles(t *testing.T, bundles map[string][]byte) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bundles[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "fw.bundle", time.Unix(0, 0), bytes.NewReader(b))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type fwNote struct {
	Status    string `json:"status"`
	RequestID *int   `json:"requestId"`
}

func fwStatuses(t *testing.T, c *csms, action string) []string {
	var out []string
	for _, l := range c.Calls(action) {
		n := params[fwNote](t, l)
		s := n.Status
		if n.RequestID != nil {
			s += fmt.Sprintf("#%d", *n.RequestID)
		}
		out = append(out, s)
	}
	return out
}

func securityEvents(t *testing.T, c *csms) []string {
	var out []string
	for _, l := range c.Calls("SecurityEventNotification") {
		out = append(out, params[struct{ Type string }](t, l).Type)
	}
	return out
}

// SignedUpdateFirmware through the real update agent with file slots: the update waits for
// the running session (InstallScheduled), installs when it ends, restarts into the new slot,
// commits, and the charge point reports every status in order across the restart. A signing
// certificate of an untrusted key is InvalidCertificate; a signature that does not match the
// bundle is InvalidSignature, before anything is downloaded or changed.
func TestSignedFirmwareUpdateWaitsForSessionAndCommits(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	g := newStandIn(t)
	rel, stranger := newRelease(t, "new firmware"), newRelease(t, "foreign firmware")
	base := serveBundles(t, map[string][]byte{"/fw.bundle": rel.bundle, "/foreign.bundle": stranger.bundle})
	b := newBox(t)
	dir := t.TempDir()
	agent, stopAgent := b.agent(g, rel.pub)
	withFirmware := func(a *ota.Agent) cpOpt {
		return func(c *ocpp.Config) { c.Firmware, c.FirmwareKeys = ocpp.FirmwareAgent(a), []ed25519.PublicKey{rel.pub} }
	}
	cp, _, stopCP := startCP(t, c, g, dir, withFirmware(agent))
	c.WaitFor("online", cp.Online)
	g.startLocal("FWTAG")

	req := func(id int, cert, sig, loc string) map[string]any {
		return map[string]any{"requestId": id, "retries": 1, "firmware": map[string]any{"location": base + loc,
			"retrieveDateTime": time.Now().UTC().Format(time.RFC3339), "signingCertificate": cert, "signature": sig}}
	}
	if got := c.Status("SignedUpdateFirmware", req(6, stranger.certPEM, stranger.signature(), "/foreign.bundle")); got != "InvalidCertificate" {
		t.Errorf("SignedUpdateFirmware with an untrusted signing key = %s, want InvalidCertificate", got)
	}
	c.WaitFor("InvalidFirmwareSigningCertificate", func() bool {
		return slices.Contains(securityEvents(t, c), ocpp.EventInvalidFirmwareSigningCertificate)
	})
	if got := c.Status("SignedUpdateFirmware", req(7, rel.certPEM, rel.signature(), "/fw.bundle")); got != "Accepted" {
		t.Fatalf("SignedUpdateFirmware = %s, want Accepted", got)
	}
	c.WaitFor("InstallScheduled while the session runs", func() bool {
		return slices.Contains(fwStatuses(t, c, "SignedFirmwareStatusNotification"), "InstallScheduled#7")
	})
	if got := c.Status("SignedUpdateFirmware", req(8, rel.certPEM, rel.signature(), "/fw.bundle")); got != "Rejected" {
		t.Errorf("a second SignedUpdateFirmware while one runs = %s, want Rejected", got)
	}
	g.mu.Lock()
	running := g.session != nil
	g.mu.Unlock()
	if !running || agent.Status().State != ota.StateWaiting {
		t.Fatalf("the update did not wait for the session: running %v, agent %s", running, agent.Status().State)
	}
	g.end(ledger.EndLocal)
	select {
	case <-b.restarts:
	case <-time.After(30 * time.Second):
		t.Fatalf("no restart into the new slot; agent %+v", agent.Status())
	}
	// The service goes down and systemd starts the launcher, which tries slot B once.
	stopCP()
	stopAgent()
	b.launch("B")
	agent, _ = b.agent(g, rel.pub)
	cp, _, _ = startCP(t, c, g, dir, withFirmware(agent))
	c.WaitFor("Installed", func() bool {
		return slices.Contains(fwStatuses(t, c, "SignedFirmwareStatusNotification"), "Installed#7")
	})
	want := []string{"Downloading#7", "Downloaded#7", "SignatureVerified#7", "InstallScheduled#7", "Installing#7", "InstallRebooting#7", "Installed#7"}
	if got := fwStatuses(t, c, "SignedFirmwareStatusNotification"); !slices.Equal(got, want) {
		t.Errorf("SignedFirmwareStatusNotifications %v, want %v", got, want)
	}
	c.WaitFor("FirmwareUpdated", func() bool { return slices.Contains(securityEvents(t, c), ocpp.EventFirmwareUpdated) })
	if b.current() != "B" {
		t.Fatalf("default slot %s after the update, want B", b.current())
	}
	if got, _ := os.ReadFile(filepath.Join(b.dirs.Root, "B", slot.AppFile)); !bytes.Equal(got, rel.payload) {
		t.Errorf("slot B holds %q, want the bundle's payload", got)
	}

	// A signature that is not over this bundle's manifest: nothing is downloaded or changed.
	n := len(c.Calls("SignedFirmwareStatusNotification"))
	if got := c.Status("SignedUpdateFirmware", req(9, rel.certPEM, base64.StdEncoding.EncodeToString(make([]byte, 64)), "/fw.bundle")); got != "Accepted" {
		t.Fatalf("SignedUpdateFirmware = %s", got)
	}
	c.WaitFor("InvalidSignature", func() bool { return len(c.Calls("SignedFirmwareStatusNotification")) > n })
	if got := fwStatuses(t, c, "SignedFirmwareStatusNotification")[n:]; !slices.Equal(got, []string{"InvalidSignature#9"}) {
		t.Errorf("statuses of a bad signature %v, want [InvalidSignature#9]", got)
	}
	c.WaitFor("InvalidFirmwareSignature", func() bool { return slices.Contains(securityEvents(t, c), ocpp.EventInvalidFirmwareSignature) })
	if st := agent.Status(); st.State != ota.StateCommitted || b.current() != "B" {
		t.Errorf("after a bad signature: agent %s, slot %s; want committed on B unchanged", st.State, b.current())
	}

	// ExtendedTriggerMessage FirmwareStatusNotification: the signed status message, Idle once
	// no update runs; TriggerMessage: the 1.6 one.
	if got := c.Status("ExtendedTriggerMessage", map[string]any{"requestedMessage": "FirmwareStatusNotification"}); got != "Accepted" {
		t.Errorf("ExtendedTriggerMessage = %s", got)
	}
	c.WaitFor("SignedFirmwareStatusNotification Idle", func() bool {
		return slices.Contains(fwStatuses(t, c, "SignedFirmwareStatusNotification"), "Idle")
	})
	if got := c.Status("TriggerMessage", map[string]any{"requestedMessage": "FirmwareStatusNotification"}); got != "Accepted" {
		t.Errorf("TriggerMessage = %s", got)
	}
	c.WaitFor("FirmwareStatusNotification Idle", func() bool {
		return slices.Contains(fwStatuses(t, c, "FirmwareStatusNotification"), "Idle")
	})
}

// UpdateFirmware of a bundle signed by a key the device does not trust ends
// InstallationFailed after Downloading, and the slots are as before.
func TestUpdateFirmwareBadBundleInstallationFailed(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	g := newStandIn(t)
	stranger := newRelease(t, "foreign firmware")
	trusted := newRelease(t, "unused")
	base := serveBundles(t, map[string][]byte{"/foreign.bundle": stranger.bundle})
	b := newBox(t)
	agent, _ := b.agent(g, trusted.pub)
	cp, _, _ := startCP(t, c, g, t.TempDir(), func(c *ocpp.Config) { c.Firmware = ocpp.FirmwareAgent(agent) })
	c.WaitFor("online", cp.Online)
	if _, err := c.Call("UpdateFirmware", map[string]any{"location": base + "/foreign.bundle", "retrieveDate": time.Now().UTC().Format(time.RFC3339)}); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("InstallationFailed", func() bool {
		return slices.Contains(fwStatuses(t, c, "FirmwareStatusNotification"), "InstallationFailed")
	})
	if got := fwStatuses(t, c, "FirmwareStatusNotification"); !slices.Equal(got, []string{"Downloading", "InstallationFailed"}) {
		t.Errorf("FirmwareStatusNotifications %v, want [Downloading InstallationFailed]", got)
	}
	if st := agent.Status(); st.State != ota.StateFailed || !strings.Contains(st.Error, bundle.ErrUnknownKey.Error()) || b.current() != "A" {
		t.Errorf("agent %s (%s), slot %s; want failed for the untrusted key, slot A", st.State, st.Error, b.current())
	}
	if got, _ := os.ReadFile(filepath.Join(b.dirs.Root, "A", slot.AppFile)); string(got) != "old firmware" {
		t.Errorf("slot A changed: %q", got)
	}
	// An FTP location is refused as DownloadFailed without reaching the agent.
	if _, err := c.Call("UpdateFirmware", map[string]any{"location": "ftp://fw.example/x.bundle", "retrieveDate": time.Now().UTC().Format(time.RFC3339)}); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("DownloadFailed", func() bool {
		return slices.Contains(fwStatuses(t, c, "FirmwareStatusNotification"), "DownloadFailed")
	})
}
