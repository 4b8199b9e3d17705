package ocpp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Certificate management as security profile 3 needs it (Security Whitepaper edition 3,
// §2 "Certificate management"): root certificates installed, listed and deleted by the CSMS
// (InstallCertificate, GetInstalledCertificateIds, DeleteCertificate; kept in ocpp.db, table
// certificate), and the charge point's own client certificate renewed through a CSR
// (ExtendedTriggerMessage SignChargePointCertificate → SignCertificate → CertificateSigned;
// key and certificate in Config.CertDir).

// Certificate uses (CertificateUseEnumType).
const (
	certCentralSystemRoot = "CentralSystemRootCertificate"
	certManufacturerRoot  = "ManufacturerRootCertificate"
	maxCertificates       = 8 // per use
)

// errCertificatesFull refuses an InstallCertificate beyond maxCertificates of one use.
var errCertificatesFull = errors.New("no room for another certificate of this type")

// Files in Config.CertDir.
const (
	pendingKeyFile = "client-pending-key.pem" // the key of the CSR sent, until its certificate comes
	clientKeyFile  = "client-key.pem"
	clientCertFile = "client.pem" // the chain CertificateSigned installed, leaf first
)

type certificateHashData struct {
	HashAlgorithm  string `json:"hashAlgorithm"`
	IssuerNameHash string `json:"issuerNameHash"`
	IssuerKeyHash  string `json:"issuerKeyHash"`
	SerialNumber   string `json:"serialNumber"`
}

type storedCert struct {
	hash certificateHashData
	cert *x509.Certificate
}

// hashData identifies a root certificate as OCSP does (RFC 6960 CertID, SHA-256): the hash of
// its issuer's DER name and of the issuer's public key bits; a root is its own issuer.
// serialNumber is lowercase hex without leading zeros.
func hashData(c *x509.Certificate) (certificateHashData, error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		return certificateHashData{}, fmt.Errorf("read the public key: %w", err)
	}
	name, key := sha256.Sum256(c.RawIssuer), sha256.Sum256(spki.PublicKey.RightAlign())
	serial := c.SerialNumber.Text(16)
	if len(serial) > 40 {
		return certificateHashData{}, errors.New("serial number longer than 20 bytes")
	}
	return certificateHashData{HashAlgorithm: "SHA256", IssuerNameHash: hex.EncodeToString(name[:]), IssuerKeyHash: hex.EncodeToString(key[:]), SerialNumber: serial}, nil
}

// parseRoot reads one PEM root certificate: a CA, self-signed, valid now.
func parseRoot(p string) (*x509.Certificate, error) {
	block, rest := pem.Decode([]byte(p))
	if block == nil || block.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("not one PEM CERTIFICATE block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	if !c.IsCA {
		return nil, errors.New("not a CA certificate")
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		return nil, fmt.Errorf("not self-signed: %w", err)
	}
	if now := time.Now(); now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return nil, errors.New("not valid now")
	}
	return c, nil
}

// installCertificate answers InstallCertificate: Accepted (stored), Rejected (not a valid
// self-signed CA certificate, or maxCertificates of that use installed), Failed (not stored);
// the error says why it was not Accepted (the 2.0.1 face's statusInfo).
func (cp *ChargePoint) installCertificate(ctx context.Context, typ, certPEM string) (string, error) {
	c, err := parseRoot(certPEM)
	if err != nil {
		cp.log.Warn("certificate not installed", "type", typ, "err", err)
		return "Rejected", fmt.Errorf("not a valid root certificate: %w", err)
	}
	h, err := hashData(c)
	if err != nil {
		return "Rejected", err
	}
	have, err := cp.q.certificates(ctx, typ)
	if err != nil {
		return "Failed", err
	}
	if len(have) >= maxCertificates {
		return "Rejected", fmt.Errorf("%w: %d of this type are installed", errCertificatesFull, maxCertificates)
	}
	if err := cp.q.addCertificate(ctx, typ, h, certPEM); err != nil {
		cp.log.Error("store certificate", "err", err)
		return "Failed", err
	}
	cp.log.Info("certificate installed", "type", typ, "subject", c.Subject.String())
	return "Accepted", nil
}

type installedCertificatesConf struct {
	CertificateHashData []certificateHashData `json:"certificateHashData,omitempty"`
	Status              string                `json:"status"`
}

func (cp *ChargePoint) installedCertificates(ctx context.Context, typ string) installedCertificatesConf {
	have, err := cp.q.certificates(ctx, typ)
	if err != nil || len(have) == 0 {
		return installedCertificatesConf{Status: "NotFound"}
	}
	conf := installedCertificatesConf{Status: "Accepted"}
	for _, c := range have {
		conf.CertificateHashData = append(conf.CertificateHashData, c.hash)
	}
	return conf
}

// deleteCertificate answers DeleteCertificate: Accepted, NotFound, or Failed for a hash
// algorithm other than SHA256 (the only one stored) or a store error.
func (cp *ChargePoint) deleteCertificate(ctx context.Context, h certificateHashData) string {
	if h.HashAlgorithm != "SHA256" {
		return "NotFound"
	}
	n, err := cp.q.deleteCertificate(ctx, h)
	switch {
	case err != nil:
		return "Failed"
	case n == 0:
		return "NotFound"
	}
	return "Accepted"
}

// csmsRoots returns the pool that verifies the CSMS: the configured roots and the installed
// CentralSystemRootCertificates; nil when neither exists (the system roots apply).
func (cp *ChargePoint) csmsRoots(ctx context.Context) *x509.CertPool {
	installed, err := cp.q.certificates(ctx, certCentralSystemRoot)
	if err != nil {
		cp.log.Error("read installed roots", "err", err)
	}
	var base *x509.CertPool
	if cp.cfg.TLS != nil && cp.cfg.TLS.RootCAs != nil {
		base = cp.cfg.TLS.RootCAs.Clone()
	}
	if len(installed) == 0 {
		return base
	}
	if base == nil {
		if base, err = x509.SystemCertPool(); err != nil || base == nil {
			base = x509.NewCertPool()
		}
	}
	for _, c := range installed {
		base.AddCert(c.cert)
	}
	return base
}

// tlsConfig is the configuration of the next connection: Config.TLS with the installed roots
// added and, once CertificateSigned installed one, the charge point's own client certificate.
func (cp *ChargePoint) tlsConfig(ctx context.Context) *tls.Config {
	var t *tls.Config
	if cp.cfg.TLS != nil {
		t = cp.cfg.TLS.Clone()
	} else {
		t = &tls.Config{}
	}
	t.RootCAs = cp.csmsRoots(ctx)
	if c, ok := cp.installedClientCert(); ok {
		t.Certificates = []tls.Certificate{c}
		t.GetClientCertificate = nil
	}
	return t
}

func (cp *ChargePoint) installedClientCert() (tls.Certificate, bool) {
	if cp.cfg.CertDir == "" {
		return tls.Certificate{}, false
	}
	c, err := tls.LoadX509KeyPair(filepath.Join(cp.cfg.CertDir, clientCertFile), filepath.Join(cp.cfg.CertDir, clientKeyFile))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			cp.log.Error("installed client certificate unusable", "err", err)
		}
		return tls.Certificate{}, false
	}
	return c, true
}

// signChargePointCertificate makes a key on the device (P-256, file mode 0600) and a CSR for
// it (CN = the identity, O = the vendor, as the Security Whitepaper asks: the charge point's
// serial in CN, the CPO's name in O; the identity is what the CSMS knows it by) and sends
// SignCertificate. On the 2.0.1 face (A02) O is SecurityCtrlr.OrganizationName and the
// request says certificateType ChargingStationCertificate.
func (cp *ChargePoint) signChargePointCertificate(ctx context.Context, conn *rpcConn) error {
	if cp.cfg.CertDir == "" {
		return errors.New("no certificate directory configured")
	}
	org, req := cp.cfg.Vendor, signCertificateReq{}
	if f := cp.face201; f != nil {
		org, req.CertificateType = f.value(compSecurity, "OrganizationName", ""), certChargingStation
	}
	if err := os.MkdirAll(cp.cfg.CertDir, 0o700); err != nil {
		return fmt.Errorf("create certificate directory: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	if err := writeFileSync(filepath.Join(cp.cfg.CertDir, pendingKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	subject := pkix.Name{CommonName: cp.cfg.Identity}
	if org != "" {
		subject.Organization = []string{org}
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	if err != nil {
		return fmt.Errorf("create CSR: %w", err)
	}
	req.CSR = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
	var conf statusConf
	if err := conn.call(ctx, "", "SignCertificate", req, &conf); err != nil {
		return fmt.Errorf("sign certificate: %w", err)
	}
	cp.log.Info("CSR sent", "status", conf.Status)
	return nil
}

// requestCertificate sends a SignCertificate for a new key (signChargePointCertificate) for
// whoever asked: the CSMS's trigger on either face, or renewal. Only a lost connection is an
// error of the connection; anything else is logged.
func (cp *ChargePoint) requestCertificate(ctx context.Context, conn *rpcConn) error {
	if err := cp.signChargePointCertificate(ctx, conn); err != nil {
		if errors.Is(err, errClosed) {
			return err
		}
		cp.log.Warn("certificate signing request", "err", err)
	}
	return nil
}

// renewConnection returns what closes the accepted connection after an answer, so that the
// next one is dialled with what changed (a client certificate, a password).
func (cp *ChargePoint) renewConnection(why string) func() {
	return func() {
		if conn := cp.connection(); conn != nil {
			conn.close(errors.New(why))
		}
	}
}

// signCertificateReq is SignCertificate: the Security Whitepaper's has the CSR only, 2.0.1's
// also the certificate's use.
type signCertificateReq struct {
	CSR             string `json:"csr"`
	CertificateType string `json:"certificateType,omitempty"`
}

// certificateSigned answers CertificateSigned: the chain (PEM, leaf first) is accepted when
// the leaf's key is the pending CSR's key, it is valid now for client authentication, and it
// chains to a root that verifies the CSMS (configured or installed); then key and chain
// become the client certificate, and the connection is renewed so that the next one uses it.
// Else Rejected, with the reason, and the security event InvalidChargePointCertificate.
func (cp *ChargePoint) certificateSigned(ctx context.Context, chain string) (string, func(), error) {
	if err := cp.installClientCert(ctx, chain); err != nil {
		cp.log.Warn("certificate not installed", "err", err)
		cp.securityEvent(EventInvalidChargePointCertificate, err.Error())
		cp.poke()
		return "Rejected", nil, err
	}
	return "Accepted", cp.renewConnection("a new client certificate is installed"), nil
}

func (cp *ChargePoint) installClientCert(ctx context.Context, chain string) error {
	if cp.cfg.CertDir == "" {
		return errors.New("no certificate directory configured")
	}
	keyPEM, err := os.ReadFile(filepath.Join(cp.cfg.CertDir, pendingKeyFile))
	if err != nil {
		return fmt.Errorf("no CSR is pending: %w", err)
	}
	pair, err := tls.X509KeyPair([]byte(chain), keyPEM)
	if err != nil {
		return fmt.Errorf("the chain does not match the CSR's key: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("parse the certificate: %w", err)
	}
	inter := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("parse the chain: %w", err)
		}
		inter.AddCert(c)
	}
	roots := cp.csmsRoots(ctx)
	if roots == nil {
		return errors.New("no CSMS root certificate to check the chain against")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("the chain does not verify: %w", err)
	}
	dir := cp.cfg.CertDir
	if err := writeFileSync(filepath.Join(dir, clientKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(dir, clientCertFile), []byte(chain), 0o644); err != nil {
		return err
	}
	os.Remove(filepath.Join(dir, pendingKeyFile))
	cp.log.Info("client certificate installed", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	return nil
}

// EventInvalidChargePointCertificate is the Security Whitepaper's event for a refused
// CertificateSigned.
const EventInvalidChargePointCertificate = "InvalidChargePointCertificate"

// writeFileSync replaces path with data through a synced temporary file.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
