package ocpp_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
)

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
	sign := func(by testCA) string { return by.signCSR(t, csr) }
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

// signCSR issues the client certificate a CSR asks for (PEM), valid for an hour.
func (ca testCA) signCSR(t *testing.T, csr *x509.CertificateRequest) string {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: csr.Subject,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
