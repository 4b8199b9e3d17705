package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chargegate/chargegate/gateway/access"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/meter"
)

// Alarm names shown in the status and metrics.
const (
	AlarmMeterLost     = "meter_lost"
	AlarmMeterReplaced = "meter_replaced"
	AlarmCounterReset  = "meter_counter_reset"
	AlarmEStop         = "emergency_stop"
	AlarmRCD           = "rcd_trip"
	AlarmRelay         = "relay_fault"
	AlarmStore         = "store"
	// AlarmMeterImplausible: the meter reported values it cannot have measured (see meter/doc.go).
	AlarmMeterImplausible = "meter_implausible"
)

// sessionStateKey is where the running session is persisted in the store's state table: "session"
// for a box's only EVSE and for EVSE 1, "session/N" for EVSE N of a box with several.
const sessionStateKey = "session"

// stateKey is this control loop's sessionStateKey.
func (g *Controller) stateKey() string {
	if g.opt.EVSE <= 1 {
		return sessionStateKey
	}
	return fmt.Sprintf("%s/%d", sessionStateKey, g.opt.EVSE)
}

// Session is a charging session as persisted before every relay action, so that a power failure
// at any point leaves a record the next start can close.
type Session struct {
	ID          string    `json:"id"`
	IDToken     string    `json:"id_token,omitempty"`
	State       string    `json:"state"` // starting | charging | paused | closing (end not yet recorded)
	StartedAt   time.Time `json:"started_at"`
	BeginSeq    uint64    `json:"begin_seq,omitempty"`
	BeginTime   time.Time `json:"begin_time"`
	BeginStatus byte      `json:"begin_time_status"`
	BeginMWh    int64     `json:"begin_import_mwh"`
	BeginExport int64     `json:"begin_export_mwh,omitempty"`
	MeterSerial string    `json:"meter_serial"`
	MeterSigned bool      `json:"meter_signed,omitempty"` // the meter runs a signed transaction
	// MaxEnergyWh and MaxDuration are the session's own limits: the policy's, tightened by
	// the limits of the token that authorized it (0: none).
	// TokenHash and Group are how the session was authorized (access.Decision): who may stop
	// it besides the operator (access.Authorizer.MayStop).
	TokenHash     string        `json:"token_hash,omitempty"`
	Group         string        `json:"group,omitempty"`
	MaxEnergyWh   int64         `json:"max_energy_wh,omitempty"`
	MaxDuration   time.Duration `json:"max_duration,omitempty"`
	EndReason     string        `json:"-"` // set while an end could not be recorded yet
	LastImportMWh int64         `json:"-"`
	LastExportMWh int64         `json:"-"`
	started       time.Time     // monotonic, for the duration limit
}

// SessionRecord is a finished session as published on the sessions topic.
type SessionRecord struct {
	ID     string `json:"id"`
	EVSEID string `json:"evse_id"`
	// EVSE numbers the charging point on a box with several (absent on a box with one).
	EVSE        uint8     `json:"evse,omitempty"`
	IDToken     string    `json:"id_token,omitempty"`
	MeterSerial string    `json:"meter_serial"`
	Start       time.Time `json:"start"`
	StartStatus byte      `json:"-"`
	End         time.Time `json:"end"`
	EndStatus   byte      `json:"-"`
	BeginMWh    int64     `json:"begin_import_mwh"`
	EndMWh      int64     `json:"end_import_mwh"`
	EnergyMWh   int64     `json:"energy_mwh"`
	// BeginExportMWh and EndExportMWh are the export register (energy fed back, V2G) at begin
	// and end; both 0 for a meter that measures no export.
	BeginExportMWh int64  `json:"begin_export_mwh,omitempty"`
	EndExportMWh   int64  `json:"end_export_mwh,omitempty"`
	Reason         string `json:"reason"`
	BeginSeq       uint64 `json:"begin_seq"`
	EndSeq         uint64 `json:"end_seq"`
	OCMF           string `json:"ocmf,omitempty"`
	// OCMFSigner says who signed OCMF: "meter" (the certified meter's own record, passed
	// through byte for byte) or "gateway" (signed with the gateway's P-256 key).
	OCMFSigner string `json:"ocmf_signer,omitempty"`
}

func newSessionID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on Linux ≥ 3.17; fall back to time rather than panic.
		return fmt.Sprintf("s%x", time.Now().UnixNano())
	}
	return hex.EncodeToString(b[:])
}

// persistSession saves the session (or its absence). It runs to completion even when ctx is
// cancelled: a shutdown must not leave a stale session that the next start closes a second time.
func (g *Controller) persistSession(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	b := []byte("null")
	if g.session != nil {
		var err error
		if b, err = json.Marshal(g.session); err != nil {
			return fmt.Errorf("encode session: %w", err)
		}
	}
	return g.store.PutState(ctx, g.stateKey(), b)
}

// openRelay drives the relay open and waits for the feedback even when ctx is cancelled, so
// that a welded contactor is noticed on the way out too.
func (g *Controller) openRelay(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return g.board.OpenRelay(ctx)
}

// startSession runs idle → authorized → relay closed → begin entry → charging. d, when set, is
// how an access decision authorized it (a signed token): the begin entry records it instead of
// the id token, and its limits bound the session.
func (g *Controller) startSession(ctx context.Context, idToken string, d *access.Decision) (*Session, error) {
	if d != nil && !d.Allowed {
		return nil, fmt.Errorf("%w: %s", ErrUnauthorized, d.Reason)
	}
	switch {
	case g.unclosed():
		return nil, fmt.Errorf("%w: session %s", ErrSessionUnclosed, g.session.ID)
	case g.session != nil:
		return nil, ErrSessionRunning
	case g.opt.Policy.Authorized && idToken == "" && d == nil:
		return nil, ErrUnauthorized
	case g.held || g.opt.Updating():
		return nil, ErrUpdating
	case g.latched() != "":
		return nil, fmt.Errorf("%w: %s: %s", ErrAlarmLatched, g.latched(), g.alarms[g.latched()])
	}
	if idToken != "" {
		if err := ValidIDToken(idToken); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadCommand, err)
		}
	}
	if err := g.board.Fault(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHardwareFault, err)
	}
	if err := g.vehicleMissing(); err != nil {
		return nil, err
	}
	if err := g.store.Admit(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStoreRefused, err)
	}
	if g.lastGoodPoll.IsZero() || time.Since(g.lastGoodPoll) > g.opt.Policy.MeterLossLimit {
		return nil, fmt.Errorf("%w: %s", ErrMeterUnreadable, g.alarms[AlarmMeterLost])
	}
	// Until the begin entry is written the last known registers stand in for the begin, so that a
	// session that never charged still ends on the meter's real registers, never on zero.
	s := &Session{ID: newSessionID(), IDToken: idToken, State: "starting", StartedAt: g.opt.Now(), MeterSerial: g.meterSerial,
		BeginMWh: g.lastPoll.ImportMWh, LastImportMWh: g.lastPoll.ImportMWh, LastExportMWh: g.lastPoll.ExportMWh, started: time.Now(),
		MaxEnergyWh: g.opt.Policy.MaxEnergyWh, MaxDuration: g.opt.Policy.MaxDuration}
	// The begin entry records how the session was authorized, never the id token itself: its
	// hash (gateway/access, "Decision detail").
	detail := "auth=free"
	if idToken != "" {
		s.TokenHash = access.TokenHash(idToken)
		detail = access.Decision{Allowed: true, Source: access.SourceOperator, TokenHash: s.TokenHash}.Detail()
	}
	if d != nil {
		s.MaxEnergyWh = tighter(s.MaxEnergyWh, d.Limits.MaxEnergyWh)
		s.MaxDuration = time.Duration(tighter(int64(s.MaxDuration), int64(d.Limits.MaxDuration())))
		s.TokenHash, s.Group = d.TokenHash, d.Group
		detail = d.Detail()
	}
	detail += g.byDetail()
	g.session = s
	// Persist before the relay closes: a power cut from here on leaves a session to close.
	if err := g.persistSession(ctx); err != nil {
		g.session = nil
		return nil, fmt.Errorf("persist session: %w", err)
	}
	if err := g.closeForSession(ctx); err != nil {
		g.log.Error("close relay", "session", s.ID, "err", err)
		g.openRelay(ctx)
		g.endSession(ctx, ledger.EndRelayNotClosed, g.lastPoll, false)
		return nil, fmt.Errorf("close relay: %w", err)
	}
	if sm, ok := g.meter.(SigningMeter); ok && sm.Signs() {
		if err := sm.BeginTransaction(ctx, s.ID); err != nil {
			g.log.Error("begin meter-signed transaction; the gateway will sign instead", "session", s.ID, "err", err)
		} else {
			s.MeterSigned = true
		}
	}
	r, err := g.readNow(ctx)
	if err != nil {
		r = g.lastPoll
	}
	e, err := g.recordReading(ctx, ledger.KindSessionBegin, r, "", detail)
	if err != nil {
		g.stopSession(ctx, ledger.EndRelayNotClosed)
		return nil, fmt.Errorf("record session begin: %w", err)
	}
	s.State, s.BeginSeq, s.BeginTime, s.BeginStatus, s.BeginMWh = "charging", e.Seq, e.Time, byte(e.TimeStatus), r.ImportMWh
	s.LastImportMWh, s.BeginExport = r.ImportMWh, r.ExportMWh
	if err := g.persistSession(ctx); err != nil {
		g.log.Error("persist session", "err", err)
	}
	g.log.Info("session started", "session", s.ID, "begin_seq", e.Seq, "import_mwh", r.ImportMWh)
	g.updateLED()
	return s, nil
}

// stopSession runs stop → relay open → end entry → OCMF record → published.
func (g *Controller) stopSession(ctx context.Context, reason string) {
	if g.session == nil {
		return
	}
	if err := g.openRelay(ctx); err != nil {
		g.log.Error("open relay", "session", g.session.ID, "err", err)
		g.alarms[AlarmRelay] = err.Error()
	}
	g.opt.Step(StepEndRelayOpen)
	r, err := g.readNow(ctx)
	ok := err == nil
	if !ok {
		r = g.lastPoll
	}
	g.endSession(ctx, reason, r, ok)
}

// endSession records the end entry and the OCMF record and clears the persisted session. When
// the meter could not be read, the last known register values are used and the detail says so.
func (g *Controller) endSession(ctx context.Context, reason string, r meter.Reading, fresh bool) {
	s := g.session
	// The registers recorded for one meter never run backwards: a fresh reading above the last
	// known one wins, anything else keeps the last known values.
	end, export := s.LastImportMWh, s.LastExportMWh
	if fresh {
		end, export = max(end, r.ImportMWh), max(export, r.ExportMWh)
	}
	begin, beginExport := s.BeginMWh, s.BeginExport
	if s.BeginSeq == 0 {
		begin, beginExport = end, export // never charged
	}
	rec := SessionRecord{
		ID: s.ID, EVSEID: g.opt.EVSEID, EVSE: g.opt.EVSE, IDToken: s.IDToken, MeterSerial: s.MeterSerial,
		Start: s.BeginTime, StartStatus: s.BeginStatus, BeginMWh: begin,
		End: g.opt.Now(), EndStatus: byte(g.opt.TimeStatus()), EndMWh: end, Reason: reason, BeginSeq: s.BeginSeq,
		BeginExportMWh: beginExport, EndExportMWh: export,
	}
	if rec.Start.IsZero() {
		rec.Start = s.StartedAt
	}
	rec.EnergyMWh = rec.EndMWh - rec.BeginMWh
	detail := "reason=" + reason + g.byDetail()
	if !fresh {
		detail += " meter=last_known"
	}
	rec.OCMF, rec.OCMFSigner = g.sessionOCMF(ctx, s, rec)
	var attachment [32]byte
	if rec.OCMF != "" {
		attachment = sha256.Sum256([]byte(rec.OCMF))
	}
	g.opt.Step(StepEndSigned)
	// The end entry and the clearing of the persisted session commit in one transaction: a
	// crash on either side of it leaves either an open session (closed at the next start) or an
	// ended one, never a session ended twice.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	es, err := g.store.AppendState(actx, []ledger.Record{{
		Time: rec.End, TimeStatus: ledger.TimeStatus(rec.EndStatus), Kind: ledger.KindSessionEnd, SessionID: s.ID,
		MeterSerial: s.MeterSerial, ImportMWh: end, ExportMWh: export, Event: reason, Detail: detail, Attachment: attachment,
		EVSE: g.opt.EVSE,
	}}, g.stateKey(), nil)
	if err != nil {
		// Nothing was recorded and the session stays persisted: it is retried on every poll and
		// no other session starts until it is closed (or the next start closes it).
		g.alarms[AlarmStore] = err.Error()
		g.log.Error("record session end; retrying", "session", s.ID, "reason", reason, "err", err)
		s.EndReason, s.State = reason, "closing"
		g.updateLED()
		return
	}
	g.opt.Step(StepEndCommitted)
	rec.EndSeq = es[0].Seq
	g.session = nil
	g.log.Info("session ended", "session", s.ID, "reason", reason, "energy_mwh", rec.EnergyMWh, "end_seq", rec.EndSeq)
	g.lastSession = &rec
	if g.opt.Notifier != nil {
		g.opt.Notifier.Session(rec)
	}
	g.opt.Step(StepEndPublished)
	g.updateLED()
}

// sessionOCMF returns the session's OCMF record and who signed it: the meter's own record when
// it ran a signed transaction, else one the gateway signs.
func (g *Controller) sessionOCMF(ctx context.Context, s *Session, rec SessionRecord) (string, string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if sm, ok := g.meter.(SigningMeter); ok && s.MeterSigned {
		b, err := sm.EndTransaction(ctx)
		if err == nil {
			return string(b), "meter"
		}
		g.log.Error("end meter-signed transaction; the gateway signs instead", "session", s.ID, "err", err)
	}
	if g.opt.Signer == nil || s.BeginSeq == 0 {
		return "", ""
	}
	o, err := g.opt.Signer.SignSession(ctx, rec)
	if err != nil {
		g.log.Error("sign OCMF session record", "session", s.ID, "err", err)
		return "", ""
	}
	return o, "gateway"
}

// recoverSession closes a session that a power failure or crash left open, before anything else.
// The relay is already open (Open drives it open; the coil drops without power).
func (g *Controller) recoverSession(ctx context.Context) error {
	b, err := g.store.GetState(ctx, g.stateKey())
	if err != nil || len(b) == 0 || string(b) == "null" {
		return nil // no session persisted (a missing key is the normal first start)
	}
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decode persisted session: %w", err)
	}
	begin, end := g.sessionInChain(ctx, s)
	if end != nil {
		// Ended in the chain but still persisted (a store older than AppendState, or a state
		// write lost): it must not end a second time.
		g.log.Warn("persisted session already ended in the chain; clearing it", "session", s.ID, "end_seq", end.Seq)
		return g.store.PutState(ctx, g.stateKey(), []byte("null"))
	}
	if begin != nil && s.BeginSeq == 0 {
		// Cut after the begin entry committed but before the session was persisted again:
		// the chain has the begin, so the session did charge and is billed from it.
		s.State, s.BeginSeq, s.BeginTime, s.BeginStatus, s.BeginMWh = "charging", begin.Seq, begin.Time, byte(begin.TimeStatus), begin.ImportMWh
		s.BeginExport = begin.ExportMWh
	}
	g.session = &s
	s.LastImportMWh = s.BeginMWh
	// The newest entry carries the last registers recorded before the cut.
	if seq, _ := g.store.Head(); seq > 0 {
		if e, err := g.store.Entry(ctx, seq); err == nil && e.MeterSerial == s.MeterSerial {
			s.LastImportMWh, s.LastExportMWh = max(s.LastImportMWh, e.ImportMWh), max(s.LastExportMWh, e.ExportMWh)
		}
	}
	g.log.Warn("closing session left open by a power failure", "session", s.ID)
	r, err := g.readNow(ctx)
	g.endSession(ctx, ledger.EndPowerFailure, r, err == nil)
	return nil
}

// sessionInChain looks for the session's begin and end entries, reading back from the head to
// its begin (or, when the begin is not known, at most maxStartingScan entries: a session cut
// while starting is recent).
func (g *Controller) sessionInChain(ctx context.Context, s Session) (begin, end *ledger.Entry) {
	head, _ := g.store.Head()
	floor := head - min(head, maxStartingScan)
	if s.BeginSeq > 0 {
		floor = max(s.BeginSeq-1, head-min(head, maxRecoveryScan))
	}
	for seq := head; seq > floor; seq-- {
		e, err := g.store.Entry(ctx, seq)
		if err != nil || e.SessionID != s.ID {
			continue // a pruned or damaged entry, or another session's: keep looking
		}
		switch e.Kind {
		case ledger.KindSessionEnd:
			end = &e
		case ledger.KindSessionBegin:
			return &e, end
		}
	}
	return nil, end
}

// maxRecoveryScan bounds how many entries recovery reads back looking for a session's end;
// maxStartingScan does when the session was cut before its begin was known.
const (
	maxRecoveryScan = 100_000
	maxStartingScan = 10_000
)

// unclosed reports whether the running session has ended but its end could not be recorded
// yet: it is retried on every poll, and no other session starts meanwhile.
func (g *Controller) unclosed() bool { return g.session != nil && g.session.State == "closing" }

// retryClose tries again to record the end of a session whose end the store refused.
func (g *Controller) retryClose(ctx context.Context) {
	r, err := g.readNow(ctx)
	g.endSession(ctx, g.session.EndReason, r, err == nil)
}

// readNow polls the meter outside the ticker (at session begin and end).
func (g *Controller) readNow(ctx context.Context) (meter.Reading, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*g.opt.PollInterval)
	defer cancel()
	r, err := g.meter.Read(rctx)
	if err == nil {
		g.lastPoll, g.lastGoodPoll = r, time.Now()
	}
	return r, err
}

func (g *Controller) limitReached(r meter.Reading) string {
	s := g.session
	if s.State != "charging" && s.State != "paused" {
		return ""
	}
	// A pause does not stop the clock: a duration limit (a token's validity) ends a paused
	// session too.
	if lim := s.MaxEnergyWh; lim > 0 && r.ImportMWh-s.BeginMWh >= lim*1000 {
		return ledger.EndEnergyLimit
	}
	if lim := s.MaxDuration; lim > 0 && time.Since(s.started) >= lim {
		return ledger.EndTimeLimit
	}
	return ""
}

// pauseSession opens the relay and keeps the session: charging → paused. The energy register
// goes on being recorded; the session's energy is still end minus begin.
func (g *Controller) pauseSession(ctx context.Context, by string) (Result, error) {
	s := g.session
	switch {
	case s == nil:
		return nil, ErrNoSession
	case s.State != "charging":
		return nil, fmt.Errorf("%w: pause while %s", ErrSessionState, s.State)
	}
	if err := g.openRelay(ctx); err != nil {
		// A contactor that does not open cannot pause anything: the session ends on the fault.
		g.alarms[AlarmRelay] = err.Error()
		g.stopSession(ctx, ledger.EndRelayFault)
		return nil, fmt.Errorf("%w: open relay to pause: %v", ErrHardwareFault, err)
	}
	s.State = "paused"
	if err := g.persistSession(ctx); err != nil {
		g.log.Error("persist paused session", "session", s.ID, "err", err)
	}
	g.event(ctx, ledger.EventSessionPaused, "by="+by)
	g.log.Info("session paused", "session", s.ID, "by", by)
	g.updateLED()
	return Result{"session_id": s.ID}, nil
}

// resumeSession closes the relay again: paused → charging, under the same checks as a start
// (no fault, no latched alarm, the meter readable).
func (g *Controller) resumeSession(ctx context.Context, by string) (Result, error) {
	s := g.session
	switch {
	case s == nil:
		return nil, ErrNoSession
	case s.State != "paused":
		return nil, fmt.Errorf("%w: resume while %s", ErrSessionState, s.State)
	case g.latched() != "":
		return nil, fmt.Errorf("%w: %s: %s", ErrAlarmLatched, g.latched(), g.alarms[g.latched()])
	}
	if err := g.board.Fault(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHardwareFault, err)
	}
	if g.lastGoodPoll.IsZero() || time.Since(g.lastGoodPoll) > g.opt.Policy.MeterLossLimit {
		return nil, fmt.Errorf("%w: %s", ErrMeterUnreadable, g.alarms[AlarmMeterLost])
	}
	if err := g.closeForSession(ctx); err != nil {
		g.log.Error("close relay to resume", "session", s.ID, "err", err)
		g.stopSession(ctx, ledger.EndRelayNotClosed)
		return nil, fmt.Errorf("close relay: %w", err)
	}
	s.State = "charging"
	if err := g.persistSession(ctx); err != nil {
		g.log.Error("persist resumed session", "session", s.ID, "err", err)
	}
	g.event(ctx, ledger.EventSessionResumed, "by="+by)
	g.log.Info("session resumed", "session", s.ID, "by", by)
	g.updateLED()
	return Result{"session_id": s.ID}, nil
}

// tighter returns the smaller of two limits, 0 meaning none.
func tighter(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// byDetail is " by=SOURCE" while a command from a named source is handled, else "".
func (g *Controller) byDetail() string {
	if g.by == "" {
		return ""
	}
	return " by=" + g.by
}
