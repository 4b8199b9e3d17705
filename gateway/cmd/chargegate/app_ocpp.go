package main

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/ota/bundle"
)

// openOCPP builds the OCPP 1.6J charge point from the ocpp section. It runs beside the MQTT
// link: both are notified of telemetry and sessions, and sessions it starts go through the
// control loop like any other (lazily: the control loop is built after the links).
func (a *App) openOCPP(ctx context.Context) error {
	c := a.cfg.OCPP
	q, err := ocpp.OpenQueue(ctx, filepath.Join(a.cfg.Device.DataDir, "ocpp.db"))
	if err != nil {
		return fmt.Errorf("ocpp queue: %w", err)
	}
	a.ocppQueue = q
	oc := ocpp.Config{
		URL: c.URL, Identity: c.Identity, FallbackIDTag: c.FallbackIDTag,
		HeartbeatInterval: c.HeartbeatInterval, MeterValueSampleInterval: c.MeterValueSampleInterval,
		Vendor: "chargegate", Model: "chargegate", SerialNumber: truncate(a.DeviceID(), 25), FirmwareVersion: truncate(a.version, 50),
		Reset:  func(bool) { a.stop() }, // systemd's Restart=always starts the gateway again
		Logger: a.log.With("part", "ocpp"),
	}
	if c.PasswordFile != "" {
		if oc.Password, err = readSecret(c.PasswordFile); err != nil {
			return fmt.Errorf("ocpp.password_file: %w", err)
		}
	}
	if c.CAFile != "" || c.CertFile != "" {
		if oc.TLS, err = clientTLS("ocpp", c.CAFile, c.CertFile, c.KeyFile); err != nil {
			return err
		}
	}
	if a.updater != nil {
		// UpdateFirmware and SignedUpdateFirmware drive the update agent; a signed request's
		// certificate must hold one of the release keys the agent trusts.
		oc.Firmware = ocpp.FirmwareAgent(a.updater)
		keys, err := bundle.ReadTrustedKeys(a.cfg.Update.TrustedKeys...)
		if err != nil {
			return fmt.Errorf("update.trusted_keys: %w", err)
		}
		for _, k := range keys {
			oc.FirmwareKeys = append(oc.FirmwareKeys, k)
		}
	}
	oc.Diagnostics = diagArchive{a}
	oc.CertDir = filepath.Join(a.cfg.Device.DataDir, "ocpp-certs") // the client certificate CertificateSigned installs
	if spki, err := x509.MarshalPKIXPublicKey(&a.keys.OCMF.PublicKey); err == nil {
		oc.MeterPublicKey = hex.EncodeToString(spki) // verifies the gateway-signed OCMF records
	}
	a.ocpp, err = ocpp.New(oc, q, ocpp.ControllerSessions(controlRef{a}))
	if err != nil {
		return fmt.Errorf("ocpp: %w", err)
	}
	return nil
}

// controlRef reaches the control loop, which is built after the charge point.
type controlRef struct{ a *App }

func (r controlRef) Do(ctx context.Context, c gateway.Command) (gateway.Result, error) {
	return r.a.gw.Do(ctx, c)
}
func (r controlRef) Status() gateway.Status                   { return r.a.gw.Status() }
func (r controlRef) Hold(ctx context.Context) (func(), error) { return r.a.gw.Hold(ctx) }

// notifiers hands the control loop's messages to every link; none of them blocks.
type notifiers []gateway.Notifier

func (n notifiers) Telemetry(t gateway.Telemetry) {
	for _, x := range n {
		x.Telemetry(t)
	}
}

func (n notifiers) Session(s gateway.SessionRecord) {
	for _, x := range n {
		x.Session(s)
	}
}
