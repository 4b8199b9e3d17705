package ocpp_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
)

// windowArchive is a diagnostics source that records the window asked for in the archive.
type windowArchive struct{}

func (windowArchive) Archive(ctx context.Context, w io.Writer, kind string, from, to time.Time) (string, error) {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	body := fmt.Sprintf("%s %s %s\n", kind, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	tw.WriteHeader(&tar.Header{Name: "window.txt", Mode: 0o644, Size: int64(len(body))})
	tw.Write([]byte(body))
	tw.Close()
	zw.Close()
	return "chargegate-" + strings.ToLower(kind) + ".tar.gz", nil
}

// uploads is a loopback upload server: the first failFirst requests fail with 503; it keeps
// every accepted body by path.
type uploads struct {
	mu        sync.Mutex
	failFirst int
	got       map[string][]byte
	methods   []string
}

func (u *uploads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.methods = append(u.methods, r.Method)
	if u.failFirst > 0 {
		u.failFirst--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPut {
		http.Error(w, "PUT only", http.StatusMethodNotAllowed)
		return
	}
	b, _ := io.ReadAll(r.Body)
	u.got[r.URL.Path] = b
	w.WriteHeader(http.StatusCreated)
}

func (u *uploads) file(path string) []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.got[path]
}

// untar returns the files of a tar.gz.
func untar(t *testing.T, b []byte) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the upload is not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("the upload is not a tar: %v", err)
		}
		c, _ := io.ReadAll(tr)
		files[h.Name] = string(c)
	}
}

// GetDiagnostics and GetLog upload the archive of the window asked for by HTTP PUT, retried
// after a failed attempt, and report Uploading then Uploaded; FTP is refused.
func TestDiagnosticsAndLogUpload(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	up := &uploads{failFirst: 1, got: map[string][]byte{}}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	cp, _, _ := startCP(t, c, newStandIn(t), t.TempDir(), func(c *ocpp.Config) { c.Diagnostics = windowArchive{} })
	c.WaitFor("online", cp.Online)

	from, to := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC), time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	res, err := c.Call("GetDiagnostics", map[string]any{"location": srv.URL + "/diag/", "retries": 2, "retryInterval": 1,
		"startTime": from.Format(time.RFC3339), "stopTime": to.Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	var conf struct{ FileName string }
	json.Unmarshal(res, &conf)
	if conf.FileName != "chargegate-diagnosticslog.tar.gz" {
		t.Errorf("GetDiagnostics fileName %q", conf.FileName)
	}
	c.WaitFor("Uploaded", func() bool { return slices.Contains(fwStatuses(t, c, "DiagnosticsStatusNotification"), "Uploaded") })
	if got := fwStatuses(t, c, "DiagnosticsStatusNotification"); !slices.Equal(got, []string{"Uploading", "Uploaded"}) {
		t.Errorf("DiagnosticsStatusNotifications %v, want [Uploading Uploaded]", got)
	}
	files := untar(t, up.file("/diag/"+conf.FileName))
	if want := "DiagnosticsLog 2026-12-05T08:00:00Z 2026-12-05T09:00:00Z\n"; files["window.txt"] != want {
		t.Errorf("archive window %q, want %q", files["window.txt"], want)
	}
	if up.methods[0] != http.MethodPut || len(up.methods) != 2 {
		t.Errorf("upload requests %v, want a failed PUT and a retried PUT", up.methods)
	}

	// GetLog SecurityLog to a full URL (no file name appended).
	res, err = c.Call("GetLog", map[string]any{"logType": "SecurityLog", "requestId": 3, "log": map[string]any{"remoteLocation": srv.URL + "/sec.tgz"}})
	if err != nil {
		t.Fatal(err)
	}
	var lc struct{ Status, Filename string }
	json.Unmarshal(res, &lc)
	if lc.Status != "Accepted" || lc.Filename != "chargegate-securitylog.tar.gz" {
		t.Errorf("GetLog = %+v", lc)
	}
	c.WaitFor("LogStatusNotification Uploaded", func() bool { return slices.Contains(fwStatuses(t, c, "LogStatusNotification"), "Uploaded#3") })
	if got := untar(t, up.file("/sec.tgz"))["window.txt"]; !strings.HasPrefix(got, "SecurityLog ") {
		t.Errorf("security log archive %q", got)
	}
	if got := c.Status("GetLog", map[string]any{"logType": "DiagnosticsLog", "requestId": 4, "log": map[string]any{"remoteLocation": "ftp://logs.example/"}}); got != "Rejected" {
		t.Errorf("GetLog to ftp:// = %s, want Rejected", got)
	}
	// ExtendedTriggerMessage LogStatusNotification: Idle, nothing uploads now.
	if got := c.Status("ExtendedTriggerMessage", map[string]any{"requestedMessage": "LogStatusNotification"}); got != "Accepted" {
		t.Errorf("ExtendedTriggerMessage = %s", got)
	}
	c.WaitFor("LogStatusNotification Idle", func() bool { return slices.Contains(fwStatuses(t, c, "LogStatusNotification"), "Idle") })
}

// Certificates for security profile 3: root certificates installed, listed and deleted; the
// charge point makes its key (0600) and a CSR on ExtendedTriggerMessage, refuses a chain that
// does not verify, installs one that does, and the next connection presents it.
func TestCertificateManagement(t *testing.T) {
	ca, other := newTestCA(t, "test CSMS CA"), newTestCA(t, "another CA")
	c := tlsCSMS(t, ca, &ca)
	_, _, initial := ca.issue(t, "CG-FACTORY", false)
	certDir := filepath.Join(t.TempDir(), "certs")
	cp, _, _ := startCP(t, c, newStandIn(t), t.TempDir(), withTLS(&tls.Config{RootCAs: ca.pool(), Certificates: []tls.Certificate{initial}}, "CG-CERT-1"),
		func(c *ocpp.Config) { c.CertDir = certDir })
	c.WaitFor("online", cp.Online)

	rootPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.der}))
	leafPEM, _, _ := ca.issue(t, "not a CA", false)
	for _, tc := range []struct{ typ, cert, want string }{
		{"ManufacturerRootCertificate", rootPEM, "Accepted"},
		{"CentralSystemRootCertificate", string(leafPEM), "Rejected"},
		{"CentralSystemRootCertificate", "garbage", "Rejected"},
	} {
		if got := c.Status("InstallCertificate", map[string]string{"certificateType": tc.typ, "certificate": tc.cert}); got != tc.want {
			t.Errorf("InstallCertificate %s: %s, want %s", tc.typ, got, tc.want)
		}
	}
	res, err := c.Call("GetInstalledCertificateIds", map[string]string{"certificateType": "ManufacturerRootCertificate"})
	if err != nil {
		t.Fatal(err)
	}
	var ids struct {
		Status              string
		CertificateHashData []map[string]string
	}
	json.Unmarshal(res, &ids)
	if ids.Status != "Accepted" || len(ids.CertificateHashData) != 1 || ids.CertificateHashData[0]["serialNumber"] != "1" {
		t.Fatalf("GetInstalledCertificateIds = %s", res)
	}
	if got := c.Status("GetInstalledCertificateIds", map[string]string{"certificateType": "CentralSystemRootCertificate"}); got != "NotFound" {
		t.Errorf("GetInstalledCertificateIds CentralSystemRootCertificate = %s, want NotFound", got)
	}
	if got := c.Status("DeleteCertificate", map[string]any{"certificateHashData": ids.CertificateHashData[0]}); got != "Accepted" {
		t.Errorf("DeleteCertificate = %s", got)
	}
	if got := c.Status("DeleteCertificate", map[string]any{"certificateHashData": ids.CertificateHashData[0]}); got != "NotFound" {
		t.Errorf("DeleteCertificate again = %s, want NotFound", got)
	}

	if got := c.Status("ExtendedTriggerMessage", map[string]any{"requestedMessage": "SignChargePointCertificate"}); got != "Accepted" {
		t.Fatalf("ExtendedTriggerMessage SignChargePointCertificate = %s", got)
	}
	csrPEM := params[struct{ CSR string }](t, c.WaitCalls("SignCertificate", 1)[0]).CSR
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("SignCertificate csr %q", csrPEM)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil || csr.CheckSignature() != nil || csr.Subject.CommonName != "CG-CERT-1" {
		t.Fatalf("CSR %+v, %v: want a self-signed request for CG-CERT-1", csr, err)
	}
	if fi, err := os.Stat(filepath.Join(certDir, "client-pending-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the CSR's key file: %v, %v; want mode 0600", fi, err)
	}
	sign := func(by testCA) string {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: csr.Subject,
			NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, by.cert, csr.PublicKey, by.key)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	if got := c.Status("CertificateSigned", map[string]string{"certificateChain": sign(other)}); got != "Rejected" {
		t.Errorf("CertificateSigned by a foreign CA = %s, want Rejected", got)
	}
	c.WaitFor("InvalidChargePointCertificate", func() bool { return slices.Contains(securityEvents(t, c), ocpp.EventInvalidChargePointCertificate) })
	if got := c.Status("CertificateSigned", map[string]string{"certificateChain": sign(ca)}); got != "Accepted" {
		t.Fatalf("CertificateSigned = %s, want Accepted", got)
	}
	if fi, err := os.Stat(filepath.Join(certDir, "client-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the client key file: %v, %v; want mode 0600", fi, err)
	}
	c.WaitFor("a connection with the new certificate", func() bool {
		var last string
		for _, l := range c.All() {
			if l.Type == "client_cert" {
				last = params[map[string]string](t, csmsLine{Params: l.Detail})["subject"]
			}
		}
		return last == "CG-CERT-1"
	})
	c.WaitFor("online again", cp.Online)

	// An installed CentralSystemRootCertificate is trusted from the next connection on: the
	// CSMS comes back with a server certificate from that CA, which the configuration does not
	// know.
	otherRoot := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.der}))
	if got := c.Status("InstallCertificate", map[string]string{"certificateType": "CentralSystemRootCertificate", "certificate": otherRoot}); got != "Accepted" {
		t.Fatalf("InstallCertificate CentralSystemRootCertificate = %s", got)
	}
	c.Restart(2, serverCert(t, other)...)
	c.WaitFor("connected to the CSMS with the installed root's certificate", func() bool {
		return c.Count(func(l csmsLine) bool { return l.Type == "connected" && l.Life == 2 }) > 0
	})
	c.WaitFor("online with the new CSMS certificate", cp.Online)
}
