package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/iotaledger/iota.go/v3/nodeclient"
	"gopkg.in/yaml.v3"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/web"
	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/ocmf"
	"github.com/chargegate/chargegate/ledger/proofcheck"
	"github.com/chargegate/chargegate/ledger/receipt"
	"github.com/chargegate/chargegate/meter"
)

// maxUIEvents bounds the events the web UI keeps in memory (the chain keeps them all).
const maxUIEvents = 20000

// sessionRecordKey is where a finished session's record (with its OCMF string, which the chain
// holds only as a digest) is kept for the web UI.
func sessionRecordKey(id string) string { return "sessionrecord/" + id }

// webBox answers the web UI (web.Box) from the appliance's parts. Commands go through an
// Operator like the MQTT link's but without command signatures: the UI's caller is
// authenticated by the HTTP token instead. Sessions and events come from an index of the
// chain that each request extends from where the last one stopped.
type webBox struct {
	a       *App
	op      *gateway.Operator
	records recordKeeper

	mu       sync.Mutex
	through  uint64 // the index covers entries ..through
	sessions map[string]*web.SessionRow
	order    []string // session IDs, oldest first
	events   []web.EventRow
	digests  map[[32]byte]uint64 // OCMF digests the end entries name → end seq
	auth     map[uint64]*web.SessionAuth
}

func newWebBox(a *App) *webBox {
	return &webBox{a: a, records: recordKeeper{a, make(chan gateway.SessionRecord, 64)}, sessions: map[string]*web.SessionRow{},
		digests: map[[32]byte]uint64{}, auth: map[uint64]*web.SessionAuth{}}
}

// operate gives the box its Operator: the appliance's, without command signatures.
func (b *webBox) operate(oo gateway.OperatorOptions) error {
	oo.Verifier, oo.Replay = nil, nil
	op, err := gateway.NewOperator(oo)
	b.op = op
	return err
}

// keepingSigner keeps each OCMF record the gateway signs under sessionRecordKey as soon as it is
// signed, before the control loop commits the end entry that names its digest: a process killed
// between that commit and the notifiers' work (which write the full record) still leaves the
// record, where reconcileOCPP finds it for the StopTransaction's SignedData. A record whose end
// entry never commits is replaced by the one signed when the session is closed again (keptOCMF
// checks the digest). Keeping it is best effort: a failure is logged, the record still goes out.
type keepingSigner struct {
	gateway.SessionSigner
	store stateStore
	log   *slog.Logger
}

// SignSession implements gateway.SessionSigner.
func (k keepingSigner) SignSession(ctx context.Context, s gateway.SessionRecord) (string, error) {
	rec, err := k.SessionSigner.SignSession(ctx, s)
	if err != nil {
		return "", err
	}
	s.OCMF, s.OCMFSigner = rec, "gateway"
	doc, err := json.Marshal(s)
	if err == nil {
		err = k.store.PutState(ctx, sessionRecordKey(s.ID), doc)
	}
	if err != nil {
		k.log.Warn("keep the signed OCMF record", "session", s.ID, "err", err)
	}
	return rec, nil
}

// keptOCMF returns the OCMF record of session id kept in the store (its session record, else its
// receipt) and its signer, if the record's digest is the one the end entry names; "" otherwise.
func keptOCMF(ctx context.Context, st stateStore, id string, digest [32]byte) (record, signer string) {
	if doc, err := st.GetState(ctx, sessionRecordKey(id)); err == nil {
		var rec gateway.SessionRecord
		if json.Unmarshal(doc, &rec) == nil && rec.OCMF != "" && sha256.Sum256([]byte(rec.OCMF)) == digest {
			return rec.OCMF, rec.OCMFSigner
		}
	}
	if doc, err := st.GetState(ctx, receiptStateKey(id)); err == nil {
		if _, ev, err := receipt.Parse(doc); err == nil && ev.OCMF != "" && sha256.Sum256([]byte(ev.OCMF)) == digest {
			return ev.OCMF, ""
		}
	}
	return "", ""
}

// recordKeeper keeps each finished session's record for the web UI: it is a Notifier, so
// Session only queues and run writes, off the control loop.
type recordKeeper struct {
	a     *App
	queue chan gateway.SessionRecord
}

// Telemetry implements gateway.Notifier.
func (k recordKeeper) Telemetry(gateway.Telemetry) {}

// Session implements gateway.Notifier.
func (k recordKeeper) Session(s gateway.SessionRecord) {
	select {
	case k.queue <- s:
	default:
		k.a.log.Warn("web: session record queue full; its OCMF record will not show in the UI", "session", s.ID)
	}
}

func (k recordKeeper) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-k.queue:
			doc, _ := json.Marshal(s)
			if err := k.a.store.PutState(ctx, sessionRecordKey(s.ID), doc); err != nil {
				k.a.log.Error("web: keep the session record", "session", s.ID, "err", err)
			}
		}
	}
}

// Command implements web.Box.
func (b *webBox) Command(ctx context.Context, name string, payload []byte, by string) (any, string, error) {
	return b.op.ExecuteFrom(ctx, by, name, payload)
}

// refresh extends the index by the entries appended since the last call.
func (b *webBox) refresh(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		es, err := b.a.store.Entries(ctx, b.through+1, 2000)
		if err != nil {
			return fmt.Errorf("read the chain: %w", err)
		}
		for i := range es {
			b.index(&es[i])
		}
		if len(es) < 2000 {
			return nil
		}
	}
}

func (b *webBox) index(e *ledger.Entry) {
	b.through = e.Seq
	if e.Kind == ledger.KindReading {
		return
	}
	b.events = append(b.events, web.EventRow{Seq: e.Seq, Time: e.Time, Kind: e.Kind.String(), Event: e.Event, Detail: e.Detail, SessionID: e.SessionID})
	if len(b.events) > maxUIEvents {
		b.events = slices.Delete(b.events, 0, len(b.events)-maxUIEvents)
	}
	switch e.Kind {
	case ledger.KindSessionBegin:
		b.sessions[e.SessionID] = &web.SessionRow{ID: e.SessionID, Start: e.Time, BeginSeq: e.Seq, BeginMWh: e.ImportMWh,
			Authorization: e.Detail, MeterSerial: e.MeterSerial}
		b.order = append(b.order, e.SessionID)
	case ledger.KindSessionEnd:
		r := b.sessions[e.SessionID]
		if r == nil { // never charged: no begin entry
			r = &web.SessionRow{ID: e.SessionID, Start: e.Time, BeginMWh: e.ImportMWh, MeterSerial: e.MeterSerial}
			b.sessions[e.SessionID] = r
			b.order = append(b.order, e.SessionID)
		}
		r.End, r.EndSeq, r.EndMWh, r.Reason = e.Time, e.Seq, e.ImportMWh, e.Event
		r.EnergyMWh = r.EndMWh - r.BeginMWh
		if e.Attachment != ([32]byte{}) {
			b.digests[e.Attachment] = e.Seq
		}
	}
}

// Sessions implements web.Box.
func (b *webBox) Sessions(ctx context.Context) ([]web.SessionRow, error) {
	if err := b.refresh(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]web.SessionRow, 0, len(b.order))
	for i := len(b.order) - 1; i >= 0; i-- {
		out = append(out, *b.sessions[b.order[i]])
	}
	return out, nil
}

// Session implements web.Box.
func (b *webBox) Session(ctx context.Context, id string) (*web.SessionDetail, error) {
	if err := b.refresh(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	r := b.sessions[id]
	b.mu.Unlock()
	if r == nil {
		return nil, fmt.Errorf("session %q: %w", id, web.ErrNotFound)
	}
	d := &web.SessionDetail{SessionRow: *r, EVSEID: b.a.cfg.Device.EVSEID}
	if doc, err := b.a.store.GetState(ctx, sessionRecordKey(id)); err == nil {
		var rec gateway.SessionRecord
		if json.Unmarshal(doc, &rec) == nil {
			d.OCMF, d.OCMFSigner = rec.OCMF, rec.OCMFSigner
		}
	}
	if d.OCMF != "" {
		if key, err := b.ocmfKey(ctx, d.OCMFSigner); err == nil {
			d.OCMFKey = hex.EncodeToString(key)
		}
	}
	if doc, err := b.a.receipt(ctx, id); err == nil && doc != nil {
		d.Receipt = true
	}
	return d, nil
}

// ocmfKey is the key that signs a session's OCMF record: the meter's or the gateway's.
func (b *webBox) ocmfKey(ctx context.Context, signer string) ([]byte, error) {
	if signer == "meter" {
		return b.a.meter.PublicKey(ctx)
	}
	return x509.MarshalPKIXPublicKey(&b.a.keys.OCMF.PublicKey)
}

// SessionAuth implements web.Box from the begin entry, read once per session.
func (b *webBox) SessionAuth(ctx context.Context, beginSeq uint64) *web.SessionAuth {
	b.mu.Lock()
	a := b.auth[beginSeq]
	b.mu.Unlock()
	if a != nil {
		return a
	}
	e, err := b.a.store.Entry(ctx, beginSeq)
	if err != nil || e.Kind != ledger.KindSessionBegin {
		return nil
	}
	a = &web.SessionAuth{Authorization: e.Detail}
	b.mu.Lock()
	b.auth = map[uint64]*web.SessionAuth{beginSeq: a} // only the running session is asked for
	b.mu.Unlock()
	return a
}

// Events implements web.Box.
func (b *webBox) Events(ctx context.Context) ([]web.EventRow, error) {
	if err := b.refresh(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := slices.Clone(b.events)
	slices.Reverse(out)
	return out, nil
}

// Proof implements web.Box: the chargegate-proof/2 of entry seq, as `chargegate proof` writes it.
func (b *webBox) Proof(ctx context.Context, seq uint64) ([]byte, error) {
	p, err := entryProof(ctx, b.a.store, seq, filepath.Join(b.a.cfg.Device.DataDir, "proofs"), b.a.cfg.Ledger.NodeURL, 15*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", web.ErrNotFound, err)
	}
	return json.MarshalIndent(p, "", "  ")
}

// report collects steps; the verdict is the worst of them.
type report struct{ web.VerifyReport }

func (r *report) step(name string, v proofcheck.Verdict, detail string) {
	r.Steps = append(r.Steps, proofcheck.Step{Name: name, Verdict: v, Detail: detail})
}

func (r *report) done() *web.VerifyReport {
	r.Verdict = proofcheck.Valid
	for _, s := range r.Steps {
		switch {
		case s.Verdict == proofcheck.Invalid:
			r.Verdict = proofcheck.Invalid
		case s.Verdict == proofcheck.Undecided && r.Verdict == proofcheck.Valid:
			r.Verdict = proofcheck.Undecided
		}
	}
	return &r.VerifyReport
}

func verdictOf(err error) (proofcheck.Verdict, string) {
	if err != nil {
		return proofcheck.Invalid, err.Error()
	}
	return proofcheck.Valid, ""
}

// VerifySession implements web.Box: the session's entries, its OCMF record against its key and
// against the end entry's digest, then the end entry's anchoring with verify-proof's checks.
func (b *webBox) VerifySession(ctx context.Context, id string) (*web.VerifyReport, error) {
	d, err := b.Session(ctx, id)
	if err != nil {
		return nil, err
	}
	var r report
	pub := b.a.keys.Entry.Public().(ed25519.PublicKey)
	var end *ledger.Entry
	for _, seq := range []uint64{d.BeginSeq, d.EndSeq} {
		if seq == 0 {
			continue
		}
		e, err := b.a.store.Entry(ctx, seq)
		if err != nil {
			r.step(fmt.Sprintf("entry %d", seq), proofcheck.Undecided, err.Error())
			continue
		}
		v, detail := verdictOf(e.Verify())
		if v == proofcheck.Valid && !bytes.Equal(e.DeviceKey, pub) {
			v, detail = proofcheck.Invalid, "signed by another device's key"
		}
		if v == proofcheck.Valid {
			detail = fmt.Sprintf("%s at %s, meter %s kWh, signed by device %s", e.Kind, e.Time.UTC().Format(time.RFC3339), web.KWh(e.ImportMWh), ledger.DeviceID(pub))
		}
		r.step(fmt.Sprintf("entry %d signature", seq), v, detail)
		if e.Kind == ledger.KindSessionEnd {
			end = &e
		}
	}
	if d.EndSeq == 0 {
		r.step("session end", proofcheck.Undecided, "the session is still running")
		return r.done(), nil
	}
	if d.OCMF == "" {
		r.step("OCMF record", proofcheck.Undecided, "no OCMF record kept for this session")
	} else {
		r.ocmf(ctx, b, d.OCMF, d.OCMFSigner)
		if end != nil {
			v, detail := proofcheck.Valid, "SHA-256 of the record is the digest the end entry carries"
			if ocmf.Digest(d.OCMF) != end.Attachment {
				v, detail = proofcheck.Invalid, "the record's SHA-256 differs from the digest in end entry "+fmt.Sprint(end.Seq)
			}
			r.step("OCMF record named by the end entry", v, detail)
		}
	}
	b.anchoring(ctx, &r, d.EndSeq)
	return r.done(), nil
}

// ocmf checks an OCMF record's signature under the key of who signed it: signer, or for a
// pasted record the gateway's key and, where the meter signs, the meter's.
func (r *report) ocmf(ctx context.Context, b *webBox, record, signer string) {
	signers := []string{signer}
	if signer == "" {
		signers = []string{"gateway"}
		if b.a.meter.Signs() {
			signers = append(signers, "meter")
		}
	}
	var fails []string
	for _, s := range signers {
		key, err := b.ocmfKey(ctx, s)
		if err == nil {
			err = ocmf.Verify(record, key)
		}
		if err != nil {
			fails = append(fails, "under the "+s+"'s key: "+err.Error())
			continue
		}
		r.step("OCMF signature", proofcheck.Valid, "ECDSA signature holds under the "+s+"'s key "+hex.EncodeToString(key)[:24]+"…")
		return
	}
	r.step("OCMF signature", proofcheck.Invalid, strings.Join(fails, "; "))
}

// anchoring runs verify-proof's checks on the proof of entry seq, against the configured node.
func (b *webBox) anchoring(ctx context.Context, r *report, seq uint64) {
	p, err := entryProof(ctx, b.a.store, seq, filepath.Join(b.a.cfg.Device.DataDir, "proofs"), b.a.cfg.Ledger.NodeURL, 15*time.Second)
	if err != nil {
		r.step("anchored on the ledger", proofcheck.Undecided, err.Error())
		return
	}
	b.checkProof(ctx, r, p)
}

func (b *webBox) checkProof(ctx context.Context, r *report, p *anchor.Proof) {
	var o proofcheck.Options
	if u := b.a.cfg.Ledger.NodeURL; u != "" {
		o.Client = nodeclient.New(u, nodeclient.WithHTTPClient(&http.Client{Timeout: 15 * time.Second}))
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rep := proofcheck.Check(cctx, p, o)
	r.Steps = append(r.Steps, rep.Steps...)
}

// VerifyRecord implements web.Box: an OCMF record (signature, and whether the chain names
// it) or a proof file (verify-proof's checks).
func (b *webBox) VerifyRecord(ctx context.Context, text []byte) *web.VerifyReport {
	var r report
	s := strings.TrimSpace(string(text))
	switch {
	case strings.HasPrefix(s, "OCMF|"):
		if _, err := ocmf.Parse(s); err != nil {
			r.step("OCMF record", proofcheck.Invalid, err.Error())
			return r.done()
		}
		r.ocmf(ctx, b, s, "")
		if err := b.refresh(ctx); err != nil {
			r.step("named by a session end entry", proofcheck.Undecided, err.Error())
			return r.done()
		}
		b.mu.Lock()
		seq, ok := b.digests[ocmf.Digest(s)]
		b.mu.Unlock()
		if ok {
			r.step("named by a session end entry", proofcheck.Valid, fmt.Sprintf("end entry %d carries its SHA-256", seq))
		} else {
			r.step("named by a session end entry", proofcheck.Invalid, "no session end entry in this chain carries its SHA-256")
		}
	case strings.HasPrefix(s, "{"):
		p, err := proofcheck.Parse([]byte(s))
		if err != nil {
			r.step("proof file", proofcheck.Invalid, err.Error())
			return r.done()
		}
		b.checkProof(ctx, &r, p)
	default:
		r.step("record", proofcheck.Invalid, "neither an OCMF record (OCMF|…) nor a proof file (JSON)")
	}
	return r.done()
}

// HALCheck implements web.Box: hal check's verdicts on the running board. Sessions are held
// off meanwhile (as for an update), so the relay cycles only while none runs.
func (b *webBox) HALCheck(ctx context.Context) (*web.HALReport, error) {
	release, err := b.a.gw.Hold(ctx)
	if err != nil {
		return nil, fmt.Errorf("not while a session runs: %w", err)
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hr, err := hal.CheckRunning(ctx, b.a.board, hal.CheckOptions{Cycles: 3})
	if err != nil {
		return nil, err
	}
	// The timings are hal's: from driving the coil to the mirror contact's first edge.
	rep := &web.HALReport{Pass: hr.Pass(), FeedbackTimeoutMs: ms(hr.FeedbackTimeout)}
	for _, r := range hr.Results {
		rep.Results = append(rep.Results, web.HALResult{Role: r.Role, Pin: r.Pin, Pass: r.Pass, Detail: r.Detail})
	}
	for _, d := range hr.CloseTimes {
		rep.CloseMs = append(rep.CloseMs, ms(d))
	}
	for _, d := range hr.OpenTimes {
		rep.OpenMs = append(rep.OpenMs, ms(d))
	}
	return rep, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// MeterTest implements web.Box: model detection ("auto") over a second connection to the
// configured bus and one read. A serial line is held by the running gateway, so there the
// gateway's own meter is read instead.
func (b *webBox) MeterTest(ctx context.Context) (*web.MeterTest, error) {
	c := b.a.cfg.Meter
	out := &web.MeterTest{URL: c.URL, Configured: c.Model}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var rd meter.Reading
	var err error
	if strings.HasPrefix(c.URL, "rtu:") {
		out.Note = "serial bus held by the running gateway: its own meter was read, model as configured or detected at start"
		out.Detected = b.a.meter.Model()
		rd, err = b.a.meter.Read(ctx)
	} else {
		var m *meter.Meter
		m, err = meter.Open(ctx, meter.Config{URL: c.URL, Unit: c.Unit, Model: "auto", Timeout: c.Timeout, Retries: c.Retries,
			Logger: b.a.log.With("part", "meter-test")})
		if err == nil {
			defer m.Close()
			out.Detected = m.Model()
			rd, err = m.Read(ctx)
		}
	}
	if err != nil {
		out.Error = describeMeterErr(err)
		return out, nil
	}
	out.Serial, out.Firmware, out.ImportMWh, out.PowerW = rd.Serial, rd.Firmware, rd.ImportMWh, rd.PowerW
	out.VoltageV, out.CurrentA, out.Frequency, out.Status = rd.VoltageV, rd.CurrentA, rd.FrequencyHz, string(rd.Status)
	if out.Detected == "" {
		out.Detected = rd.Model
	}
	return out, nil
}

// Installer implements web.Box.
func (b *webBox) Installer(ctx context.Context) (*web.InstallerInfo, error) {
	a := b.a
	spki, err := x509.MarshalPKIXPublicKey(&a.keys.OCMF.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("OCMF key: %w", err)
	}
	cfg, err := yaml.Marshal(a.cfg.Redacted())
	if err != nil {
		return nil, fmt.Errorf("render the configuration: %w", err)
	}
	info := &web.InstallerInfo{Version: a.version, Device: a.DeviceID(), EVSEID: a.cfg.Device.EVSEID,
		EntryKey: hex.EncodeToString(a.keys.Entry.Public().(ed25519.PublicKey)), OCMFKey: hex.EncodeToString(spki),
		Config: string(cfg), ViewerToken: web.ViewerToken(a.httpToken), UpdateHistory: []web.EventRow{}}
	if a.meter.Signs() {
		kctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if k, err := a.meter.PublicKey(kctx); err == nil {
			info.MeterKey = hex.EncodeToString(k)
		}
		cancel()
	}
	if a.updater != nil {
		info.Update = a.updater.Status()
	}
	events, err := b.Events(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		if strings.HasPrefix(e.Event, "update_") || e.Event == ledger.EventRolledBack {
			info.UpdateHistory = append(info.UpdateHistory, e)
		}
	}
	return info, nil
}

// boardStatus is the board's inputs for the Live page.
func (a *App) boardStatus() *web.BoardStatus {
	st := a.board.Status()
	return &web.BoardStatus{FeedbackConfigured: a.halCfg.Feedback != nil, FeedbackClosed: st.FeedbackClosed,
		EStopPressed: st.EStopPressed, RCDTripped: st.RCDTripped, LidOpen: st.LidOpen}
}
