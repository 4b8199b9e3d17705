package ocpp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func newTestCA(t *testing.T, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCA{cert, key, der}
}

func (ca testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue signs a leaf certificate for cn: a server certificate for 127.0.0.1, or a client one.
func (ca testCA) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, pair
}

// tlsCSMS starts the strict CSMS behind TLS with a server certificate from ca; clientCA, when
// set, makes it require a client certificate from that CA (security profile 3).
func tlsCSMS(t *testing.T, ca testCA, clientCA *testCA) *csms {
	t.Helper()
	args := append([]string{"--interval", "30"}, serverCert(t, ca)...)
	if clientCA != nil {
		args = append(args, "--tls-client-ca", caFile(t, *clientCA))
	}
	return startCSMS(t, args...)
}

// caFile writes ca's certificate as PEM for the CSMS's --tls-client-ca.
func caFile(t *testing.T, ca testCA) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "client-ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serverCert issues a server certificate for 127.0.0.1 from ca and returns the CSMS's
// --tls-cert and --tls-key arguments.
func serverCert(t *testing.T, ca testCA) []string {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM, _ := ca.issue(t, "csms.test", true)
	cert, key := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(cert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--tls-cert", cert, "--tls-key", key}
}

func withTLS(c *tls.Config, identity string) cpOpt {
	return func(cfg *ocpp.Config) { cfg.TLS, cfg.Identity = c, identity }
}

func waitLastError(t *testing.T, c *csms, cp *ocpp.ChargePoint, want string) {
	t.Helper()
	c.WaitFor("a connection error naming "+want, func() bool {
		err := cp.LastError()
		return err != nil && strings.Contains(err.Error(), want)
	})
	if cp.Online() {
		t.Errorf("online despite %v", cp.LastError())
	}
	t.Logf("connection error: %v", cp.LastError())
}

// Security profile 2: the charge point checks the CSMS's server certificate; a CSMS whose
// certificate another CA signed is refused with an error that says so. The first accepted
// connection reports StartupOfTheDevice.
func TestSecurityProfile2(t *testing.T) {
	ca, other := newTestCA(t, "test CSMS CA"), newTestCA(t, "another CA")
	c := tlsCSMS(t, ca, nil)

	cp, _, stop := startCP(t, c, newStandIn(t), t.TempDir(), withTLS(&tls.Config{RootCAs: other.pool()}, "CG-WRONG-CA"))
	waitLastError(t, c, cp, "server certificate is not trusted")
	stop()

	cp, _, _ = startCP(t, c, newStandIn(t), t.TempDir(), withTLS(&tls.Config{RootCAs: ca.pool()}, "CG-TLS-1"))
	c.WaitFor("online over TLS", cp.Online)
	if cp.LastError() != nil {
		t.Errorf("LastError after a successful connection: %v", cp.LastError())
	}
	ev := params[map[string]string](t, c.WaitCalls("SecurityEventNotification", 1)[0])
	if ev["type"] != ocpp.EventStartupOfTheDevice || ev["timestamp"] == "" {
		t.Errorf("SecurityEventNotification %v, want StartupOfTheDevice", ev)
	}

	// The CSMS comes back with a certificate from another CA: refused; with the right one
	// again, the charge point reports InvalidCentralSystemCertificate.
	c.Restart(2, serverCert(t, other)...)
	waitLastError(t, c, cp, "server certificate is not trusted")
	c.Restart(3)
	c.WaitFor("online again", cp.Online)
	c.WaitFor("InvalidCentralSystemCertificate reported", func() bool {
		for _, l := range c.Calls("SecurityEventNotification") {
			if params[map[string]string](t, l)["type"] == ocpp.EventInvalidCentralSystemCertificate {
				return true
			}
		}
		return false
	})
}

// Security profile 3: the CSMS requires a client certificate; a charge point with one from
// the CSMS's client CA is accepted (the CSMS sees its subject), one without is refused and
// its error says a client certificate is needed.
func TestSecurityProfile3(t *testing.T) {
	ca, clientCA := newTestCA(t, "test CSMS CA"), newTestCA(t, "test charge point CA")
	c := tlsCSMS(t, ca, &clientCA)

	cp, _, stop := startCP(t, c, newStandIn(t), t.TempDir(), withTLS(&tls.Config{RootCAs: ca.pool()}, "CG-NO-CERT"))
	waitLastError(t, c, cp, "requires a client certificate (security profile 3) and none is configured")
	stop()
	if c.Count(func(l csmsLine) bool { return l.Type == "connected" }) != 0 {
		t.Errorf("the CSMS accepted a charge point without a client certificate")
	}

	_, _, pair := clientCA.issue(t, "CG-TLS-3", false)
	cp, _, _ = startCP(t, c, newStandIn(t), t.TempDir(), withTLS(&tls.Config{RootCAs: ca.pool(), Certificates: []tls.Certificate{pair}}, "CG-TLS-3"))
	c.WaitFor("online with a client certificate", cp.Online)
	var subjects []string
	for _, l := range c.All() {
		if l.Type == "client_cert" {
			subjects = append(subjects, params[map[string]string](t, csmsLine{Params: l.Detail})["subject"])
		}
	}
	if len(subjects) == 0 || subjects[len(subjects)-1] != "CG-TLS-3" {
		t.Errorf("client certificate subjects seen by the CSMS %v, want CG-TLS-3", subjects)
	}
}

// Security events are kept in ocpp.db until delivered: the StartupOfTheDevice of a start with
// the CSMS down survives a restart and arrives, in order, with the next start's.
func TestSecurityEventsSurviveARestart(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	c.Kill()
	dir := t.TempDir()
	g := newStandIn(t)
	_, _, stop := startCP(t, c, g, dir)
	stop()
	c.Start(2)
	cp, _, _ := startCP(t, c, g, dir)
	c.WaitFor("online", cp.Online)
	c.WaitFor("both starts reported", func() bool { return len(c.Calls("SecurityEventNotification")) >= 2 })
	evs := c.Calls("SecurityEventNotification")
	if len(evs) != 2 {
		t.Fatalf("%d security events, want 2", len(evs))
	}
	first, second := params[map[string]string](t, evs[0]), params[map[string]string](t, evs[1])
	if first["type"] != "StartupOfTheDevice" || second["type"] != "StartupOfTheDevice" || first["timestamp"] >= second["timestamp"] {
		t.Errorf("security events %v, %v: want two StartupOfTheDevice, the earlier first", first, second)
	}
}
