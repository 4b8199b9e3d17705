package main

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ocmf"
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
		URL: c.URL, Identity: c.Identity, FallbackIDTag: c.FallbackIDTag, Version: c.Version,
		HeartbeatInterval: c.HeartbeatInterval, MeterValueSampleInterval: c.MeterValueSampleInterval,
		Vendor: "chargegate", Model: "chargegate", SerialNumber: truncate(a.DeviceID(), 25), FirmwareVersion: truncate(a.version, 50),
		Reset:  func(bool) { a.stop() }, // systemd's Restart=always starts the gateway again
		Pause:  a.ocppPause,
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
	if oc.SignSample, err = a.sampleSigner(); err != nil {
		return fmt.Errorf("ocpp: %w", err)
	}
	oc.DataHandlers = map[string]ocpp.DataHandler{ocpp.MessageToken: a.ocppTokenStart}
	oc.Diagnostics = diagArchive{a}
	oc.CertDir = filepath.Join(a.cfg.Device.DataDir, "ocpp-certs") // the client certificate CertificateSigned installs
	if spki, err := x509.MarshalPKIXPublicKey(&a.keys.OCMF.PublicKey); err == nil {
		oc.MeterPublicKey = hex.EncodeToString(spki) // verifies the gateway-signed OCMF records
	}
	a.ocpp, err = ocpp.New(oc, q, ocpp.ControllerSessions(controlRef{a}))
	if err != nil {
		return fmt.Errorf("ocpp: %w", err)
	}
	if err := a.reconcileOCPP(ctx); err != nil {
		return fmt.Errorf("ocpp: reconcile with the chain: %w", err)
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

// ocppReconcileWindow is how many of the chain's newest entries reconcileOCPP reads: it only
// has to reach back to the session that was ending when the process died.
const ocppReconcileWindow = 5000

// reconcileOCPP hands the charge point the sessions that ended among the chain's newest
// entries, so that a StopTransaction lost between the end entry's commit and the OCPP queue's
// (a SIGKILL there) is queued now; sessions the queue has ended already are skipped. Each
// carries the OCMF record the store kept (keepingSigner) when its digest is the end entry's,
// so the StopTransaction has the same SignedData as if the process had not died.
func (a *App) reconcileOCPP(ctx context.Context) error {
	head, _ := a.store.Head()
	if head == 0 {
		return nil
	}
	from := uint64(1)
	if head > ocppReconcileWindow {
		from = head - ocppReconcileWindow + 1
	}
	entries, err := a.store.Entries(ctx, from, ocppReconcileWindow)
	if err != nil {
		return fmt.Errorf("read the chain: %w", err)
	}
	begins := map[string]ledger.Entry{}
	var recs []gateway.SessionRecord
	for _, e := range entries {
		switch e.Kind {
		case ledger.KindSessionBegin:
			begins[e.SessionID] = e
		case ledger.KindSessionEnd:
			rec := gateway.SessionRecord{ID: e.SessionID, EVSEID: a.cfg.Device.EVSEID, MeterSerial: e.MeterSerial,
				Start: e.Time, BeginMWh: e.ImportMWh, End: e.Time, EndMWh: e.ImportMWh, Reason: e.Event, EndSeq: e.Seq}
			if b, ok := begins[e.SessionID]; ok {
				rec.Start, rec.BeginMWh, rec.BeginSeq = b.Time, b.ImportMWh, b.Seq
			}
			rec.EnergyMWh = rec.EndMWh - rec.BeginMWh
			if e.Attachment != ([32]byte{}) {
				// The chain keeps only the record's digest; the store may keep the record.
				rec.OCMF, rec.OCMFSigner = keptOCMF(ctx, a.store, e.SessionID, e.Attachment)
			}
			recs = append(recs, rec)
		}
	}
	n, err := a.ocpp.Reconcile(ctx, recs)
	if n > 0 {
		a.log.Warn("OCPP queue reconciled with the chain", "stop_transactions", n)
	}
	return err
}

// sampleSigner signs one periodic reading of a transaction as a gateway-signed OCMF record
// (begin B and this reading C) for the SampledDataSignReadings key. Its pagination is its own
// sequence (state key "ocpp/ocmf/pagination/T"), so that the session records' counter, kept
// by the control loop's signer, is never raced.
func (a *App) sampleSigner() (func(context.Context, ocpp.Sample) (string, error), error) {
	signer, err := ocmf.NewSigner(a.keys.OCMF, prefixedState{a.store, "ocpp/"}, 3)
	if err != nil {
		return nil, fmt.Errorf("sample signer: %w", err)
	}
	serial := a.DeviceID()
	return func(ctx context.Context, s ocpp.Sample) (string, error) {
		ts := byte(kernelTimeStatus())
		sess := ocmf.Session{GatewayID: "chargegate", GatewaySerial: serial, GatewayVersion: a.version, MeterSerial: s.MeterSerial,
			CurrentType: "AC", IdentStatus: s.IDTag != "", IdentType: "NONE",
			Readings: []ocmf.Reading{{Time: s.Start, TimeStatus: ts, TX: "B", EnergyMWh: s.BeginMWh}, {Time: s.Time, TimeStatus: ts, TX: "C", EnergyMWh: s.ImportMWh}}}
		if s.IDTag != "" {
			sess.IdentType, sess.IdentData = "CENTRAL", s.IDTag
		}
		if a.cfg.Device.EVSEID != "" {
			sess.ChargePointIDType, sess.ChargePointID = "EVSEID", a.cfg.Device.EVSEID
		}
		return signer.Sign(ctx, sess)
	}, nil
}

// prefixedState is the store's state under a key prefix.
type prefixedState struct {
	s      ocmf.StateStore
	prefix string
}

func (p prefixedState) GetState(ctx context.Context, key string) ([]byte, error) {
	return p.s.GetState(ctx, p.prefix+key)
}

func (p prefixedState) PutState(ctx context.Context, key string, value []byte) error {
	return p.s.PutState(ctx, p.prefix+key, value)
}

// ocppPause runs the control loop's pause (a charging limit of 0) or resume (positive again)
// for the charge point's Smart Charging; the chain's session_paused / session_resumed events
// say by=ocpp.
func (a *App) ocppPause(paused bool) {
	cmd := gateway.Command{Name: gateway.CmdResume, RequestID: "ocpp-limit-" + strconv.FormatInt(time.Now().UnixNano(), 36), Source: "ocpp"}
	if paused {
		cmd.Name = gateway.CmdPause
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.gw.Do(ctx, cmd); err != nil {
		a.log.Warn("charging limit not applied", "command", cmd.Name, "err", err)
	}
}

// ocppTokenStart runs DataTransfer org.chargegate/token as the Operator's start command, the
// path MQTT's start takes: data is a compact JWS capability token (wrapped as {"request_id",
// "token"}), or the command's JSON itself, which must be the signed envelope when
// mqtt.command_keys makes commands signed. Accepted carries the session id; Rejected the error
// code and message.
func (a *App) ocppTokenStart(ctx context.Context, data string) (string, string) {
	payload := []byte(data)
	if !strings.HasPrefix(strings.TrimSpace(data), "{") {
		var err error
		payload, err = json.Marshal(map[string]string{"request_id": "ocpp-token-" + strconv.FormatInt(time.Now().UnixNano(), 36), "token": strings.TrimSpace(data)})
		if err != nil {
			return "Rejected", "bad_command"
		}
	}
	res, code, err := a.operator.Execute(ctx, gateway.CmdStart, payload)
	if err != nil {
		return "Rejected", code + ": " + err.Error()
	}
	if r, ok := res.(gateway.Result); ok {
		if id, _ := r["session_id"].(string); id != "" {
			return "Accepted", id
		}
	}
	return "Accepted", ""
}

// sendReceiptOCPP queues a finished session's signed receipt for the CSMS as DataTransfer
// org.chargegate/receipt (after the session's StopTransaction, in the durable queue).
func (a *App) sendReceiptOCPP(ctx context.Context, session string, doc []byte) {
	if a.ocpp == nil {
		return
	}
	if err := a.ocpp.SendData(ctx, session, ocpp.MessageReceipt, string(doc)); err != nil {
		a.log.Error("queue the receipt for the CSMS", "session", session, "err", err)
	}
}

// runOCPP runs the charge point; on a stop it outlives the control loop briefly (up to 3 s),
// as the MQTT link does, so that the StopTransaction of the session the shutdown ended is
// delivered now rather than after the restart (the durable queue delivers it then anyway).
func (a *App) runOCPP(ctx context.Context) error {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		<-ctx.Done()
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) && a.ocpp.Online() {
			n, err := a.ocppQueue.Backlog(lctx)
			if err != nil || (n == 0 && a.gw.Status().Session == nil) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
	}()
	return a.ocpp.Run(lctx)
}
