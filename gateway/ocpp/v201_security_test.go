package ocpp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/gateway/rig"
)

// Block A on the 2.0.1 face against the strict peer: certificate renewal through
// TriggerMessage SignChargingStationCertificate, root certificates, and security events with
// their 2.0.1 names.

// tlsCSMS201 starts the strict 2.0.1 CSMS behind TLS with a server certificate from ca.
func tlsCSMS201(t *testing.T, ca testCA, args ...string) *csms {
	t.Helper()
	return startCSMS201(t, append(append([]string{"--interval", "30"}, serverCert(t, ca)...), args...)...)
}

// parseCSR reads the PEM CSR of a SignCertificate and checks its self-signature.
func parseCSR(t *testing.T, csrPEM string) *x509.CertificateRequest {
	t.Helper()
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("SignCertificate csr %q: not a PEM CERTIFICATE REQUEST", csrPEM)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil || csr.CheckSignature() != nil {
		t.Fatalf("CSR %+v, %v: want a self-signed request", csr, err)
	}
	return csr
}

type status201 struct {
	Status     string
	StatusInfo *struct{ ReasonCode, AdditionalInfo string }
}

// call201 has the CSMS call action and decodes the status answer.
func call201(t *testing.T, c *csms, action string, params any) status201 {
	t.Helper()
	res, err := c.Call(action, params)
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	var s status201
	if err := json.Unmarshal(res, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s status201) reason() string {
	if s.StatusInfo == nil {
		return ""
	}
	return s.StatusInfo.ReasonCode
}

func securityVar(t *testing.T, c *csms, name string) string {
	t.Helper()
	got := getVars(t, c, varReq("SecurityCtrlr", name, ""))
	if len(got) != 1 || got[0].AttributeStatus != "Accepted" {
		t.Fatalf("GetVariables SecurityCtrlr.%s = %+v", name, got)
	}
	return got[0].AttributeValue
}

// lastClientCert is the CN of the latest client certificate the CSMS saw in its run life.
func lastClientCert(t *testing.T, c *csms, life int) string {
	var last string
	for _, l := range c.All() {
		if l.Type == "client_cert" && l.Life == life {
			last = params[map[string]string](t, csmsLine{Params: l.Detail})["subject"]
		}
	}
	return last
}

// A02 on a security profile 2 connection: TriggerMessage SignChargingStationCertificate makes
// a key on the device (0600) and a CSR (CN the identity, O SecurityCtrlr.OrganizationName,
// certificateType ChargingStationCertificate); a CertificateSigned nobody asked for, for
// another key, from a CA that is no CSMS root, of garbage or of type V2GCertificate is
// Rejected (InvalidChargingStationCertificate for the invalid ones); the right chain is
// Accepted, and a CSMS that requires a client certificate (profile 3) then sees the signed
// one, SecurityProfile says 3, and a replay of the chain is Rejected. The key is never logged.
func TestV201CertificateSigning(t *testing.T) {
	ca, other := newTestCA(t, "test CSMS CA"), newTestCA(t, "another CA")
	c := tlsCSMS201(t, ca)
	certDir := filepath.Join(t.TempDir(), "certs")
	var logs rig.Buffer
	cp, _, _ := startCP201(t, c, newStandIn(t), t.TempDir(), withTLS(&tls.Config{RootCAs: ca.pool()}, "CG-SEC-201"), func(cfg *ocpp.Config) {
		cfg.CertDir = certDir
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	c.WaitFor("online", cp.Online)
	if got := securityVar(t, c, "SecurityProfile"); got != "2" {
		t.Errorf("SecurityProfile over wss:// without a client certificate = %s, want 2", got)
	}

	// Nobody asked: no CSR is pending, whatever the chain.
	strangerPEM, _, _ := ca.issue(t, "CG-SEC-201", false)
	if got := call201(t, c, "CertificateSigned", map[string]string{"certificateChain": string(strangerPEM)}); got.Status != "Rejected" || got.reason() != "InvalidCertificate" {
		t.Errorf("CertificateSigned without a CSR = %+v, want Rejected InvalidCertificate", got)
	}

	if got := setVars(t, c, varReq("SecurityCtrlr", "OrganizationName", "", "Example CPO")); got[0].AttributeStatus != "Accepted" {
		t.Fatalf("SetVariables OrganizationName = %+v", got)
	}
	if got := c.Status("TriggerMessage", map[string]any{"requestedMessage": "SignChargingStationCertificate"}); got != "Accepted" {
		t.Fatalf("TriggerMessage SignChargingStationCertificate = %s", got)
	}
	req := params[struct{ CSR, CertificateType string }](t, c.WaitCalls("SignCertificate", 1)[0])
	csr := parseCSR(t, req.CSR)
	if csr.Subject.CommonName != "CG-SEC-201" || !slices.Equal(csr.Subject.Organization, []string{"Example CPO"}) || req.CertificateType != "ChargingStationCertificate" {
		t.Fatalf("SignCertificate: CN %q O %q type %q; want CG-SEC-201, Example CPO, ChargingStationCertificate",
			csr.Subject.CommonName, csr.Subject.Organization, req.CertificateType)
	}
	if fi, err := os.Stat(filepath.Join(certDir, "client-pending-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the CSR's key file: %v, %v; want mode 0600", fi, err)
	}

	for _, tc := range []struct {
		what, chain, typ, reason string
	}{
		{"a certificate for another key", string(strangerPEM), "", "InvalidCertificate"},
		{"a CA that is no CSMS root", other.signCSR(t, csr), "ChargingStationCertificate", "InvalidCertificate"},
		{"garbage", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n", "", "InvalidCertificate"},
		{"a V2G certificate", ca.signCSR(t, csr), "V2GCertificate", "UnsupportedParam"},
	} {
		p := map[string]string{"certificateChain": tc.chain}
		if tc.typ != "" {
			p["certificateType"] = tc.typ
		}
		if got := call201(t, c, "CertificateSigned", p); got.Status != "Rejected" || got.reason() != tc.reason {
			t.Errorf("CertificateSigned of %s = %+v, want Rejected %s", tc.what, got, tc.reason)
		}
	}
	c.WaitFor("InvalidChargingStationCertificate", func() bool {
		return slices.Contains(securityEvents(t, c), "InvalidChargingStationCertificate")
	})

	chain := ca.signCSR(t, csr)
	if got := call201(t, c, "CertificateSigned", map[string]string{"certificateChain": chain, "certificateType": "ChargingStationCertificate"}); got.Status != "Accepted" {
		t.Fatalf("CertificateSigned = %+v, want Accepted", got)
	}
	keyFile := filepath.Join(certDir, "client-key.pem")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the client key file: %v, %v; want mode 0600", fi, err)
	}

	// Profile 3: the CSMS now requires a client certificate from the CA that signed the CSR.
	c.Restart(2, "--tls-client-ca", caFile(t, ca))
	c.WaitFor("a connection with the signed certificate", func() bool { return lastClientCert(t, c, 2) == "CG-SEC-201" })
	c.WaitFor("online with the signed certificate", cp.Online)
	if got := securityVar(t, c, "SecurityProfile"); got != "3" {
		t.Errorf("SecurityProfile with the signed client certificate = %s, want 3", got)
	}
	if got := securityVar(t, c, "CertificateEntries"); got != "1" {
		t.Errorf("CertificateEntries with the client certificate only = %s, want 1", got)
	}
	if got := call201(t, c, "CertificateSigned", map[string]string{"certificateChain": chain}); got.Status != "Rejected" {
		t.Errorf("CertificateSigned replayed = %+v, want Rejected", got)
	}

	for _, ev := range securityEvents(t, c) {
		if ev == ocpp.EventInvalidChargePointCertificate {
			t.Errorf("security event %s: the 1.6 name on the 2.0.1 face", ev)
		}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	log := logs.String()
	if !strings.Contains(log, "client certificate installed") {
		t.Fatalf("the charge point's log was not captured")
	}
	for _, line := range strings.Split(strings.TrimSpace(string(keyPEM)), "\n") {
		if !strings.HasPrefix(line, "-----") && strings.Contains(log, line) {
			t.Errorf("the private key appears in the log")
		}
	}
	if strings.Contains(log, "PRIVATE KEY") {
		t.Errorf("a private key block appears in the log")
	}
}

type hashChain struct {
	CertificateType     string
	CertificateHashData map[string]string
}

func installedIDs(t *testing.T, c *csms, uses ...string) (string, []hashChain) {
	t.Helper()
	p := map[string]any{}
	if len(uses) > 0 {
		p["certificateType"] = uses
	}
	res, err := c.Call("GetInstalledCertificateIds", p)
	if err != nil {
		t.Fatalf("GetInstalledCertificateIds: %v", err)
	}
	var r struct {
		Status                   string
		CertificateHashDataChain []hashChain
	}
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatal(err)
	}
	return r.Status, r.CertificateHashDataChain
}

// M03–M05: CSMS and manufacturer roots installed, listed by use and deleted; V2G and MO roots,
// leaves and garbage refused with a reason; an installed CSMSRootCertificate verifies the CSMS
// from the next connection on; NotFound when nothing matches. Without Config.CertDir a
// SignChargingStationCertificate trigger is Rejected.
func TestV201InstallGetDeleteCertificates(t *testing.T) {
	ca, csmsRoot, maker := newTestCA(t, "test CSMS CA"), newTestCA(t, "new CSMS CA"), newTestCA(t, "manufacturer CA")
	c := tlsCSMS201(t, ca)
	cp, _, _ := startCP201(t, c, newStandIn(t), t.TempDir(), withTLS(&tls.Config{RootCAs: ca.pool()}, "CG-CERTS-201"))
	c.WaitFor("online", cp.Online)
	rootPEM := func(ca testCA) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der}))
	}

	if status, _ := installedIDs(t, c); status != "NotFound" {
		t.Errorf("GetInstalledCertificateIds before any install = %s, want NotFound", status)
	}
	for msg, want := range map[string]string{"SignChargingStationCertificate": "Rejected", "SignV2GCertificate": "NotImplemented"} {
		if got := c.Status("TriggerMessage", map[string]any{"requestedMessage": msg}); got != want {
			t.Errorf("TriggerMessage %s without Config.CertDir = %s, want %s", msg, got, want)
		}
	}
	leafPEM, _, _ := ca.issue(t, "not a CA", false)
	for _, tc := range []struct{ typ, cert, status, reason string }{
		{"V2GRootCertificate", rootPEM(maker), "Rejected", "UnsupportedParam"},
		{"MORootCertificate", rootPEM(maker), "Rejected", "UnsupportedParam"},
		{"CSMSRootCertificate", string(leafPEM), "Rejected", "InvalidCertificate"},
		{"ManufacturerRootCertificate", "garbage", "Rejected", "InvalidCertificate"},
		{"CSMSRootCertificate", rootPEM(csmsRoot), "Accepted", ""},
		{"ManufacturerRootCertificate", rootPEM(maker), "Accepted", ""},
	} {
		got := call201(t, c, "InstallCertificate", map[string]string{"certificateType": tc.typ, "certificate": tc.cert})
		if got.Status != tc.status || got.reason() != tc.reason {
			t.Errorf("InstallCertificate %s = %+v, want %s %s", tc.typ, got, tc.status, tc.reason)
		}
	}

	status, all := installedIDs(t, c)
	var uses []string
	for _, h := range all {
		uses = append(uses, h.CertificateType)
	}
	slices.Sort(uses)
	if status != "Accepted" || !slices.Equal(uses, []string{"CSMSRootCertificate", "ManufacturerRootCertificate"}) {
		t.Fatalf("GetInstalledCertificateIds = %s %+v, want the CSMS and the manufacturer root", status, all)
	}
	status, csmsIDs := installedIDs(t, c, "CSMSRootCertificate")
	if status != "Accepted" || len(csmsIDs) != 1 || csmsIDs[0].CertificateType != "CSMSRootCertificate" || csmsIDs[0].CertificateHashData["hashAlgorithm"] != "SHA256" {
		t.Fatalf("GetInstalledCertificateIds CSMSRootCertificate = %s %+v", status, csmsIDs)
	}
	_, makerIDs := installedIDs(t, c, "ManufacturerRootCertificate")
	if len(makerIDs) != 1 || makerIDs[0].CertificateHashData["issuerNameHash"] == csmsIDs[0].CertificateHashData["issuerNameHash"] {
		t.Fatalf("GetInstalledCertificateIds ManufacturerRootCertificate = %+v", makerIDs)
	}
	if status, _ := installedIDs(t, c, "V2GRootCertificate", "MORootCertificate", "V2GCertificateChain"); status != "NotFound" {
		t.Errorf("GetInstalledCertificateIds of the ISO 15118 uses = %s, want NotFound", status)
	}
	if got := securityVar(t, c, "CertificateEntries"); got != "2" {
		t.Errorf("CertificateEntries = %s, want 2", got)
	}

	// The installed CSMS root is trusted from the next connection on: the CSMS comes back with
	// a server certificate of that CA, which the configuration does not know.
	c.Restart(2, serverCert(t, csmsRoot)...)
	c.WaitFor("connected with the installed root's server certificate", func() bool {
		return c.Count(func(l csmsLine) bool { return l.Type == "connected" && l.Life == 2 }) > 0
	})
	c.WaitFor("online again", cp.Online)

	sha384 := withField(makerIDs[0].CertificateHashData, "hashAlgorithm", "SHA384")
	for _, tc := range []struct {
		what   string
		hash   map[string]string
		status string
	}{
		{"the manufacturer root", makerIDs[0].CertificateHashData, "Accepted"},
		{"the manufacturer root again", makerIDs[0].CertificateHashData, "NotFound"},
		{"SHA384 hash data", sha384, "NotFound"},
		{"an unknown serial", withField(csmsIDs[0].CertificateHashData, "serialNumber", "abc123"), "NotFound"},
		{"the CSMS root", csmsIDs[0].CertificateHashData, "Accepted"},
	} {
		if got := call201(t, c, "DeleteCertificate", map[string]any{"certificateHashData": tc.hash}); got.Status != tc.status {
			t.Errorf("DeleteCertificate %s = %+v, want %s", tc.what, got, tc.status)
		}
	}
	if status, _ := installedIDs(t, c); status != "NotFound" {
		t.Errorf("GetInstalledCertificateIds after deleting both = %s, want NotFound", status)
	}
	if got := securityVar(t, c, "CertificateEntries"); got != "0" {
		t.Errorf("CertificateEntries after deleting both = %s, want 0", got)
	}
}

// withField returns a copy of m with k set to v.
func withField(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for key, val := range m {
		if key != k {
			out[key] = val
		}
	}
	return out
}

// Security events kept while offline (an untrusted CSMS certificate, then refused Basic-auth
// credentials), across a restart of the charge point, arrive after the reconnect in order and
// under their 2.0.1 names: InvalidCsmsCertificate, FailedToAuthenticateAtCsms.
func TestV201SecurityEventsOffline(t *testing.T) {
	ca, other := newTestCA(t, "test CSMS CA"), newTestCA(t, "another CA")
	c := startCSMS201(t, append([]string{"--interval", "30", "--password", "not-the-charge-point's"}, serverCert(t, other)...)...)
	dir, g := t.TempDir(), newStandIn(t)
	opts := []cpOpt{withTLS(&tls.Config{RootCAs: ca.pool()}, "CG-EVENTS-201"), func(cfg *ocpp.Config) { cfg.Password = "charge-point-secret" }}
	_, _, stop := startCP201(t, c, g, dir, opts...)
	attempts := func(typ string, life int) func() bool {
		return func() bool { return c.Count(func(l csmsLine) bool { return l.Type == typ && l.Life == life }) >= 2 }
	}
	c.WaitFor("two handshakes refused by the charge point", attempts("tls_error", 1))
	c.Restart(2, serverCert(t, ca)...)
	c.WaitFor("two connections with refused credentials", attempts("refused", 2))
	stop()

	c.Restart(3, append(serverCert(t, ca), "--password", "charge-point-secret")...)
	cp, _, _ := startCP201(t, c, g, dir, opts...)
	c.WaitFor("online", cp.Online)
	c.WaitFor("both kinds of events delivered", func() bool {
		evs := securityEvents(t, c)
		return slices.Contains(evs, "InvalidCsmsCertificate") && slices.Contains(evs, "FailedToAuthenticateAtCsms")
	})
	evs := securityEvents(t, c)
	for _, ev := range evs {
		switch ev {
		case ocpp.EventInvalidCentralSystemCertificate, ocpp.EventFailedToAuthenticateAtCentralSystem, ocpp.EventInvalidChargePointCertificate:
			t.Errorf("security event %s: the 1.6 name on the 2.0.1 face", ev)
		}
	}
	if i, j := slices.Index(evs, "InvalidCsmsCertificate"), slices.Index(evs, "FailedToAuthenticateAtCsms"); i > j || evs[0] != "StartupOfTheDevice" {
		t.Errorf("security events %v: want the first start's StartupOfTheDevice, then InvalidCsmsCertificate before FailedToAuthenticateAtCsms", evs)
	}
}

// A03: a profile 3 charging station whose client certificate nears its end (a third of its
// validity left, or 30 days) sends SignCertificate on its own; the CSMS's CertificateSigned
// installs the new certificate, the next connection presents it, and a certificate far from
// its end is not renewed again.
func TestV201CertificateRenewalByTheStation(t *testing.T) {
	ca := newTestCA(t, "test CSMS CA")
	c := tlsCSMS201(t, ca, "--tls-client-ca", caFile(t, ca))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "CG-RENEW-201"},
		NotBefore: time.Now().Add(-50 * time.Minute), NotAfter: time.Now().Add(10 * time.Minute), // a sixth left
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	old := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	certDir := filepath.Join(t.TempDir(), "certs")
	cp, _, _ := startCP201(t, c, newStandIn(t), t.TempDir(), withTLS(&tls.Config{RootCAs: ca.pool(), Certificates: []tls.Certificate{old}}, "CG-RENEW-201"),
		func(cfg *ocpp.Config) { cfg.CertDir = certDir })
	c.WaitFor("online", cp.Online)
	req := params[struct{ CSR, CertificateType string }](t, c.WaitCalls("SignCertificate", 1)[0])
	csr := parseCSR(t, req.CSR)
	if csr.Subject.CommonName != "CG-RENEW-201" || req.CertificateType != "ChargingStationCertificate" {
		t.Fatalf("SignCertificate: CN %q type %q", csr.Subject.CommonName, req.CertificateType)
	}
	if len(c.Calls("TriggerMessage")) != 0 {
		t.Fatal("the test CSMS asked; the station was to ask on its own")
	}
	if got := call201(t, c, "CertificateSigned", map[string]string{"certificateChain": ca.signCSR(t, csr)}); got.Status != "Accepted" {
		t.Fatalf("CertificateSigned = %+v", got)
	}
	c.WaitFor("a connection with the new certificate", func() bool {
		n := 0
		for _, l := range c.All() {
			if l.Type == "client_cert" {
				n++
			}
		}
		return n >= 2 && cp.Online()
	})
	leaf, err := tls.LoadX509KeyPair(filepath.Join(certDir, "client.pem"), filepath.Join(certDir, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Leaf.SerialNumber.Cmp(big.NewInt(7)) == 0 || !leaf.Leaf.PublicKey.(*ecdsa.PublicKey).Equal(csr.PublicKey) {
		t.Errorf("installed client certificate serial %v: want the one issued for the CSR", leaf.Leaf.SerialNumber)
	}
	// The new connection's first pass looked at the certificate; a triggered Heartbeat comes
	// in a later pass.
	if got := c.Status("TriggerMessage", map[string]any{"requestedMessage": "Heartbeat"}); got != "Accepted" {
		t.Fatalf("TriggerMessage Heartbeat = %s", got)
	}
	c.WaitCalls("Heartbeat", 1)
	if n := len(c.Calls("SignCertificate")); n != 1 {
		t.Errorf("%d SignCertificate calls, want 1: the new certificate is far from its end", n)
	}
}

// A01: the CSMS sets a new SecurityCtrlr.BasicAuthPassword; the charging station checks it
// (16..40 characters), keeps it (ocpp.db, across a restart), never reads it back (GetVariables
// Rejected, reported WriteOnly without a value) or logs it, and its next connection
// authenticates with it.
func TestV201BasicAuthPasswordRotation(t *testing.T) {
	const oldPW, newPW = "old-secret-0123456789", "new-secret-ABCDEFGHIJ-42"
	c := startCSMS201(t, "--interval", "30", "--password", oldPW)
	dir, g := t.TempDir(), newStandIn(t)
	var logs rig.Buffer
	opts := []cpOpt{func(cfg *ocpp.Config) {
		cfg.Identity, cfg.Password = "CG-PW-201", oldPW
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}}
	cp, _, stop := startCP201(t, c, g, dir, opts...)
	c.WaitFor("online", cp.Online)

	for _, bad := range []string{"short", strings.Repeat("x", 41), "sixteen-chars-\x01!"} {
		if got := setVars(t, c, varReq("SecurityCtrlr", "BasicAuthPassword", "", bad)); got[0].AttributeStatus != "Rejected" {
			t.Errorf("BasicAuthPassword %q = %s, want Rejected", bad, got[0].AttributeStatus)
		}
	}
	if got := getVars(t, c, varReq("SecurityCtrlr", "BasicAuthPassword", "")); got[0].AttributeStatus != "Rejected" || got[0].AttributeValue != "" {
		t.Errorf("GetVariables BasicAuthPassword = %+v, want Rejected without a value", got[0])
	}
	if got := setVars(t, c, varReq("SecurityCtrlr", "BasicAuthPassword", "", newPW)); got[0].AttributeStatus != "Accepted" {
		t.Fatalf("BasicAuthPassword = %s, want Accepted", got[0].AttributeStatus)
	}
	// The CSMS still wants the old one: the station's next connections are refused.
	c.WaitFor("a connection with the new password refused", func() bool {
		return c.Count(func(l csmsLine) bool { return l.Type == "refused" }) >= 1
	})
	stop()
	c.Restart(2, "--interval", "30", "--password", newPW)
	cp, _, _ = startCP201(t, c, g, dir, opts...) // a restart: the password comes from ocpp.db
	c.WaitFor("online with the new password", cp.Online)

	if s := c.Status("GetBaseReport", map[string]any{"requestId": 5, "reportBase": "FullInventory"}); s != "Accepted" {
		t.Fatalf("GetBaseReport = %s", s)
	}
	c.WaitFor("the report", func() bool {
		return slices.ContainsFunc(c.Calls("NotifyReport"), func(l csmsLine) bool { return !params[struct{ Tbc bool }](t, l).Tbc })
	})
	for _, l := range c.Calls("NotifyReport") {
		if strings.Contains(string(l.Params), newPW) {
			t.Error("NotifyReport carries the password")
		}
		if strings.Contains(string(l.Params), `"BasicAuthPassword"`) && !strings.Contains(string(l.Params), `"WriteOnly"`) {
			t.Error("BasicAuthPassword not reported WriteOnly")
		}
	}
	if strings.Contains(logs.String(), newPW) || strings.Contains(logs.String(), oldPW) {
		t.Error("a password appears in the log")
	}
}
