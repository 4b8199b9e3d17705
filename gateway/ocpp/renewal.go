package ocpp

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"time"
)

// Client certificate renewal the charge point starts itself (Security Whitepaper edition 3
// and OCPP 2.0.1 A03): a profile 3 charge point whose client certificate nears its end sends
// SignCertificate on its own, as if the CSMS had asked (ExtendedTriggerMessage /
// TriggerMessage), so that a box in the field does not lose its connection the day the
// certificate expires. The CSMS answers with CertificateSigned as for a request it asked for.

const (
	// renewWindow is how long before its end a long-lived certificate is renewed; a short-lived
	// one is renewed once a third of its validity is left (renewDue).
	renewWindow = 30 * 24 * time.Hour
	// renewRetry is how long a CSR is left to be answered before the charge point sends another
	// (its key file's age, so that a restart does not send one at once).
	renewRetry = time.Hour
	// renewCheck is how often the connection loop looks at the certificate at most.
	renewCheck = time.Minute
)

// renewDue reports whether a certificate valid from notBefore to notAfter is due for renewal
// at now: less than min(renewWindow, a third of its validity) is left.
func renewDue(notBefore, notAfter, now time.Time) bool {
	return notAfter.Sub(now) < min(renewWindow, notAfter.Sub(notBefore)/3)
}

// clientLeaf is the client certificate the next connection presents: the one CertificateSigned
// installed, else the configured one; nil without either.
func (cp *ChargePoint) clientLeaf() *x509.Certificate {
	der := []byte(nil)
	if c, ok := cp.installedClientCert(); ok {
		der = c.Certificate[0]
	} else if t := cp.cfg.TLS; t != nil && len(t.Certificates) > 0 && len(t.Certificates[0].Certificate) > 0 {
		der = t.Certificates[0].Certificate[0]
	}
	if der == nil {
		return nil
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		cp.log.Error("client certificate unreadable", "err", err)
		return nil
	}
	return leaf
}

// renewClientCert sends a SignCertificate when the client certificate is due (renewDue) and
// no CSR younger than renewRetry waits for its answer. It needs Config.CertDir (where the new
// key and certificate go). Only a lost connection is an error; the rest is logged.
func (cp *ChargePoint) renewClientCert(ctx context.Context, conn *rpcConn) error {
	if cp.cfg.CertDir == "" {
		return nil
	}
	now := time.Now()
	cp.mu.Lock()
	checked := now.Sub(cp.renewChecked) < renewCheck
	if !checked {
		cp.renewChecked = now
	}
	cp.mu.Unlock()
	if checked {
		return nil
	}
	leaf := cp.clientLeaf()
	if leaf == nil || !renewDue(leaf.NotBefore, leaf.NotAfter, now) {
		return nil
	}
	if fi, err := os.Stat(filepath.Join(cp.cfg.CertDir, pendingKeyFile)); err == nil && now.Sub(fi.ModTime()) < renewRetry {
		return nil // a CSR is waiting for its certificate
	}
	cp.log.Info("client certificate due for renewal", "not_after", leaf.NotAfter, "subject", leaf.Subject.String())
	return cp.requestCertificate(ctx, conn)
}
