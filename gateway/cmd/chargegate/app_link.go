package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/mqtt"
	"github.com/chargegate/chargegate/gateway/web"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/stardust"
)

// linkNotifier hands the control loop's messages to the operator link without blocking.
type linkNotifier struct{ link *mqtt.Link }

func (n linkNotifier) Telemetry(t gateway.Telemetry)   { n.link.Publish("telemetry", t, 0, false) }
func (n linkNotifier) Session(s gateway.SessionRecord) { n.link.Publish("sessions", s, 1, false) }

func (a *App) openLink() (*mqtt.Link, error) {
	c := a.cfg.MQTT
	lc := mqtt.Config{
		Broker: c.Broker, ClientID: c.ClientID, TopicPrefix: c.TopicPrefix, Device: a.DeviceID(),
		Username: c.Username, InFlight: c.InFlight, KeepAlive: c.KeepAlive, Logger: a.log.With("part", "mqtt"),
	}
	if c.PasswordFile != "" {
		pw, err := readSecret(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.password_file: %w", err)
		}
		lc.Password = pw
	}
	if c.CAFile != "" || c.CertFile != "" {
		t, err := clientTLS("mqtt", c.CAFile, c.CertFile, c.KeyFile)
		if err != nil {
			return nil, err
		}
		lc.TLS = t
	}
	if len(c.CommandKeys) > 0 {
		var keys []ed25519.PublicKey
		for _, f := range c.CommandKeys {
			k, err := gateway.LoadOperatorKey(f)
			if err != nil {
				return nil, fmt.Errorf("mqtt.command_keys: %w", err)
			}
			keys = append(keys, k)
		}
		a.verifier = gateway.NewCommandVerifier(a.DeviceID(), keys)
	}
	return mqtt.New(lc, a.store, a.execute)
}

// clientTLS is the TLS configuration of a link whose section (mqtt, ocpp) names a CA bundle
// to check the server with and, for mutual TLS, a client certificate and its 0600 key.
func clientTLS(section, caFile, certFile, keyFile string) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", section, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file: no PEM certificate in %s", section, caFile)
		}
		t.RootCAs = pool
	}
	if certFile != "" {
		if fi, err := os.Stat(keyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%s.key_file: %s is readable by group or others: chmod 600", section, keyFile)
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file: %w", section, err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// execute hands one operator command from the link to the Operator.
func (a *App) execute(ctx context.Context, name string, payload []byte) (any, string, error) {
	return a.operator.Execute(ctx, name, payload)
}

// drainLink waits, up to limit, for the outbox to be delivered before the link stops.
func (a *App) drainLink(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && a.link.Online() {
		n, err := a.store.Backlog(context.Background(), mqtt.Sink)
		if err != nil || n == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// notifyAnchors publishes each newly confirmed anchor on the anchors topic.
func (a *App) notifyAnchors(ctx context.Context) error {
	var last uint64
	return every(ctx, time.Second, func() {
		rec, ok, err := a.store.LastAnchor(ctx)
		if err != nil || !ok || rec.State != ledger.AnchorConfirmed || rec.Last == last {
			return
		}
		last = rec.Last
		a.link.Publish("anchors", mqtt.NewAnchorMessage(rec), 1, false)
	})
}

// every calls f each period until ctx is done.
func every(ctx context.Context, period time.Duration, f func()) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			f()
		}
	}
}

func anchorStatus(p stardust.Status, confirmedThrough uint64) *web.AnchorStatus {
	a := &web.AnchorStatus{
		Confirmed: int64(p.Confirmed), Pending: int64(p.Pending), ConfirmedThrough: confirmedThrough,
		LastFirst: p.Last.First, LastLast: p.Last.Last, LastMilestone: p.Last.Milestone, LastError: p.LastError,
		LastErrorAt: p.LastErrorAt, Failures: int64(p.Failures), Proofs: int64(p.Proofs), ProofError: p.ProofError,
	}
	if p.Last.State != 0 {
		a.LastState = p.Last.State.String()
		a.LastBlockID = "0x" + hex.EncodeToString(p.Last.BlockID[:])
	}
	return a
}
