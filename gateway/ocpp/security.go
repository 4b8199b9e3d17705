package ocpp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Security Whitepaper (OCPP 1.6 Security Whitepaper edition 3): connection errors that name
// the security profile at fault, and SecurityEventNotification for the security events of its
// list that this charge point can see.

// Security events (Security Whitepaper, "Security events" list) that this charge point sends.
const (
	EventStartupOfTheDevice                  = "StartupOfTheDevice"
	EventResetOrReboot                       = "ResetOrReboot"
	EventFailedToAuthenticateAtCentralSystem = "FailedToAuthenticateAtCentralSystem"
	EventInvalidCentralSystemCertificate     = "InvalidCentralSystemCertificate"
)

// maxSecurityEvents bounds the events kept (table security_event: those waiting for a
// connection and the delivered ones the security log shows); the oldest go first.
const maxSecurityEvents = 1000

type securityEvent struct {
	Type      string `json:"type"`
	Timestamp Time   `json:"timestamp"`
	TechInfo  string `json:"techInfo,omitempty"`
}

// securityEvent keeps an event for the next accepted connection, in ocpp.db so that a restart
// while offline loses none (Security Whitepaper: security events are delivered reliably).
func (cp *ChargePoint) securityEvent(typ, techInfo string) {
	if len(techInfo) > 255 {
		techInfo = techInfo[:255]
	}
	b, _ := json.Marshal(securityEvent{Type: typ, Timestamp: Time{time.Now()}, TechInfo: techInfo})
	ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
	defer cancel()
	if err := cp.q.addSecurityEvent(ctx, b); err != nil {
		cp.log.Error("keep security event", "type", typ, "err", err)
	}
}

// eventName201 is the OCPP 2.0.1 name (Part 2 Appendices, "Security Events") of a Security
// Whitepaper event where the two differ; the others keep their name.
func eventName201(typ string) string {
	switch typ {
	case EventFailedToAuthenticateAtCentralSystem:
		return "FailedToAuthenticateAtCsms"
	case EventInvalidCentralSystemCertificate:
		return "InvalidCsmsCertificate"
	case EventInvalidChargePointCertificate:
		return "InvalidChargingStationCertificate"
	}
	return typ
}

// sendSecurityEvents sends the kept events, oldest first. They are kept under their Security
// Whitepaper names; the 2.0.1 face sends the 2.0.1 names, so an event kept before the
// configuration switched faces goes out under the name of the face that sends it.
func (cp *ChargePoint) sendSecurityEvents(ctx context.Context, conn *rpcConn) error {
	for {
		id, ev, ok, err := cp.q.nextSecurityEvent(ctx)
		if err != nil || !ok {
			return err
		}
		if cp.face201 != nil {
			var e securityEvent
			if err := json.Unmarshal(ev, &e); err == nil && eventName201(e.Type) != e.Type {
				e.Type = eventName201(e.Type)
				ev, _ = json.Marshal(e)
			}
		}
		if err := conn.call(ctx, "", "SecurityEventNotification", json.RawMessage(ev), nil); err != nil {
			var cerr *CallError
			if !errors.As(err, &cerr) {
				return fmt.Errorf("security event notification: %w", err)
			}
			cp.log.Warn("CSMS refused a security event", "event", string(ev), "err", err)
		}
		if err := cp.q.removeSecurityEvent(ctx, id); err != nil {
			return err
		}
	}
}

// explainDial turns a failed WebSocket dial into an error that says which side of which
// security profile failed, and keeps the matching security event.
func (cp *ChargePoint) explainDial(target string, status int, err error) error {
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verr *tls.CertificateVerificationError
	switch {
	case status == 401:
		cp.securityEvent(EventFailedToAuthenticateAtCentralSystem, "HTTP 401")
		return fmt.Errorf("connect to %s: the CSMS refused the credentials (HTTP 401): %w", target, err)
	case errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalid) || errors.As(err, &verr):
		cp.securityEvent(EventInvalidCentralSystemCertificate, err.Error())
		return fmt.Errorf("connect to %s: the CSMS's server certificate is not trusted (security profile 2/3: check the CA file): %w", target, err)
	case strings.Contains(err.Error(), "tls: certificate required") || (strings.Contains(err.Error(), "remote error: tls:") && !cp.hasClientCert()):
		if !cp.hasClientCert() {
			return fmt.Errorf("connect to %s: the CSMS requires a client certificate (security profile 3) and none is configured: %w", target, err)
		}
		return fmt.Errorf("connect to %s: the CSMS refused the client certificate (security profile 3): %w", target, err)
	case strings.Contains(err.Error(), "remote error: tls: bad certificate") || strings.Contains(err.Error(), "remote error: tls: unknown certificate authority"):
		return fmt.Errorf("connect to %s: the CSMS refused the client certificate (security profile 3): %w", target, err)
	}
	return fmt.Errorf("connect to %s: %w", target, err)
}

// securityProfile says which security profile the connection uses: 3 over wss:// with a
// client certificate (configured, or installed by CertificateSigned; the dial presents it),
// 2 over wss:// without one, else 1 (Basic auth or none).
func (cp *ChargePoint) securityProfile() int {
	switch {
	case !strings.HasPrefix(cp.cfg.URL, "wss://"):
		return 1
	case cp.hasClientCert():
		return 3
	}
	return 2
}

func (cp *ChargePoint) hasClientCert() bool {
	t := cp.cfg.TLS
	if _, ok := cp.installedClientCert(); ok {
		return true
	}
	return t != nil && (len(t.Certificates) > 0 || t.GetClientCertificate != nil)
}

// LastError returns why the latest connection attempt failed (nil after a successful one):
// refused credentials, an untrusted server certificate, a missing client certificate.
func (cp *ChargePoint) LastError() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.lastErr
}
