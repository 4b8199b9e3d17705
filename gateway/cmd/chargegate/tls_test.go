package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/chargegate/chargegate/gateway/rig"
)

// pki is a throwaway certificate authority with a broker and a client certificate.
type pki struct {
	dir                     string
	ca, server, client, key string // PEM file paths; key is the client's private key
	serverKey               string
	caCert                  *x509.Certificate
	caKey                   *ecdsa.PrivateKey
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	var err error
	p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chargegate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.caCert, _ = x509.ParseCertificate(der)
	p.ca = p.write(t, "ca.pem", "CERTIFICATE", der)
	p.server, p.serverKey = p.issue(t, "server", &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.client, p.key = p.issue(t, "client", &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "chargegate-device"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return p
}

func (p *pki) issue(t *testing.T, name string, tmpl *x509.Certificate) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+".key", "EC PRIVATE KEY", kder)
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOperatorLinkOverMutualTLS(t *testing.T) {
	p := newPKI(t)
	// Mosquitto runs as its own user when started as root: let it read the broker's key.
	for _, f := range []string{p.ca, p.server, p.serverKey} {
		os.Chmod(f, 0o644)
	}
	os.Chmod(p.dir, 0o755)
	os.Chmod(filepath.Dir(p.dir), 0o755)
	b := rig.StartBroker(t, fmt.Sprintf("cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\nuse_identity_as_username true\n",
		p.ca, p.server, p.serverKey))
	s := rig.StartStack(t, rig.StackOptions{})
	s.Broker = b
	dir := t.TempDir()
	cfg := strings.Replace(testConfig(s, filepath.Join(dir, "data"), ""), "broker: \"tcp://", "broker: \"ssl://", 1)
	cfg = strings.Replace(cfg, "  in_flight: 16\n", fmt.Sprintf("  in_flight: 16\n  ca_file: %q\n  cert_file: %q\n  key_file: %q\n", p.ca, p.client, p.key), 1)

	// The operator connects with a client certificate of the same CA.
	cert, err := tls.LoadX509KeyPair(p.client, p.key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.caCert)
	got := make(chan string, 16)
	opts := paho.NewClientOptions().AddBroker("ssl://" + b.Addr()).SetClientID("operator-tls").
		SetTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}).
		SetOnConnectHandler(func(c paho.Client) {
			c.Subscribe("chargegate/+/status", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })
		})
	op := paho.NewClient(opts)
	if tok := op.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("operator TLS connect: %v", tok.Error())
	}
	defer op.Disconnect(100)

	g := startGateway(t, dir, cfg)
	select {
	case m := <-got:
		if !strings.Contains(m, `"online"`) {
			t.Fatalf("status = %s, want online", m)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("gateway never came online over TLS:\n%s", rig.Tail(g.Stderr.String(), 2000))
	}

	// A gateway without a client certificate is refused by the broker.
	dir2 := t.TempDir()
	cfg2 := strings.Replace(cfg, fmt.Sprintf("  cert_file: %q\n  key_file: %q\n", p.client, p.key), "", 1)
	cfg2 = strings.Replace(cfg2, filepath.Join(dir, "data"), filepath.Join(dir2, "data"), 1)
	g2 := startGateway(t, dir2, cfg2)
	rig.WaitFor(t, 20*time.Second, "refused TLS connection logged", func() bool {
		return strings.Contains(g2.Stderr.String(), `"msg":"mqtt connection failed"`) ||
			strings.Contains(g2.Stderr.String(), "certificate")
	})
	if strings.Contains(g2.Stderr.String(), `"msg":"mqtt connected"`) {
		t.Fatal("gateway without a client certificate got connected")
	}
}
