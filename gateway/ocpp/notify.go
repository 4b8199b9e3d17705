package ocpp

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chargegate/chargegate/gateway"
)

// The gateway's side: it tells the charge point what happens (gateway.Notifier, Status,
// SessionStarted); the charge point turns that into queued transaction messages and status
// notifications. These methods do not wait for the CSMS; the ones that queue a transaction
// message wait for its SQLite commit (synchronous=FULL), a few milliseconds, because a
// StopTransaction that a power cut could lose is lost billing data.

var _ gateway.Notifier = (*ChargePoint)(nil)

// queueTimeout bounds one queue write made on behalf of the control loop.
const queueTimeout = 5 * time.Second

// noteStatus queues the connector transitions that the latest status and the availability
// make. Called with mu held.
func (cp *ChargePoint) noteStatus(at time.Time) {
	c0, c1 := connectorStatuses(cp.status, cp.release != nil)
	if cp.reservation != nil && c1.Status == StatusAvailable {
		c1.Status = StatusReserved
	}
	for i, c := range [2]ConnectorStatus{c0, c1} {
		if c != cp.statusNow[i] {
			cp.statusNow[i] = c
			cp.statusQueue = append(cp.statusQueue, statusChange{i, c, at})
			if len(cp.statusQueue) > maxStatusQueue {
				cp.statusQueue = cp.statusQueue[1:]
			}
		}
	}
}

// tagSession remembers the idToken a session was started with, for the StartTransaction that
// Status will queue.
func (cp *ChargePoint) tagSession(session, idToken string) {
	if f := cp.face201; f != nil {
		f.tagSession(session, idToken)
		return
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.tags[session] = cp.idTag(idToken)
	if len(cp.tags) > 8 { // only the latest matters; keep the map from growing
		for k := range cp.tags {
			if k != session {
				delete(cp.tags, k)
			}
		}
	}
}

// SessionStarted queues the StartTransaction of a session that began (once per session id).
// The appliance calls it when a start command it ran returns; without it, Status notices the
// session a poll later and reports FallbackIDTag.
func (cp *ChargePoint) SessionStarted(s SessionStart) {
	if f := cp.face201; f != nil {
		f.SessionStarted(s)
		return
	}
	cp.mu.Lock()
	tag := cp.idTag(s.IDTag)
	cp.mu.Unlock()
	cp.begin(s.ID, tag, s.Time, s.MeterMWh)
}

// begin queues the StartTransaction of session unless it is queued already.
func (cp *ChargePoint) begin(session, tag string, at time.Time, meterMWh int64) {
	ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
	defer cancel()
	cp.mu.Lock()
	if cp.current == session {
		cp.mu.Unlock()
		return
	}
	cp.mu.Unlock()
	var resID *int
	if known, _, _, err := cp.q.known(ctx, session); err == nil && !known {
		cp.mu.Lock()
		resID = cp.useReservation(tag) // a new session may fulfil the reservation
		cp.mu.Unlock()
	}
	if resID != nil {
		cp.endReservation(ctx, *resID, false)
	}
	req := startTransactionReq{ConnectorID: connectorOne, IDTag: tag, MeterStart: meterMWh / 1000, ReservationID: resID, Timestamp: Time{at}}
	b, _ := json.Marshal(req)
	added, err := cp.q.begin(ctx, session, tag, b)
	if err != nil {
		cp.log.Error("queue StartTransaction", "session", session, "err", err)
		return
	}
	_, ended, stored, err := cp.q.known(ctx, session)
	if err != nil {
		cp.log.Error("look up session", "session", session, "err", err)
	}
	if stored != "" {
		tag = stored // adopted after a restart: the tag its StartTransaction carried
	}
	cp.mu.Lock()
	if !ended && err == nil {
		cp.current, cp.currentTag = session, tag
		cp.currentBeginMWh = meterMWh
		cp.lastSample, cp.lastAligned = at, at
		cp.txStart = at
	}
	cp.pendingTag = ""
	delete(cp.tags, session)
	cp.mu.Unlock()
	if added {
		cp.log.Info("queued StartTransaction", "session", session, "id_tag", tag, "meter_start_wh", req.MeterStart)
		cp.poke()
	}
}

// idTag returns tok if OCPP 1.6 can carry it (IdToken is CiString20), else the pending remote
// start's tag or the fallback. Called with mu held.
func (cp *ChargePoint) idTag(tok string) string {
	switch {
	case tok != "" && len(tok) <= 20:
		return tok
	case cp.pendingTag != "":
		return cp.pendingTag
	}
	return cp.cfg.FallbackIDTag
}

// Telemetry implements gateway.Notifier: during a begun session it queues a sampled
// MeterValues every MeterValueSampleInterval.
func (cp *ChargePoint) Telemetry(t gateway.Telemetry) {
	if f := cp.face201; f != nil {
		f.Telemetry(t)
		return
	}
	if t.SessionID == "" {
		return
	}
	cp.mu.Lock()
	current := cp.current
	cp.mu.Unlock()
	if current != t.SessionID {
		return // not begun yet: SessionStarted or Status does that
	}
	interval := cp.confSeconds(KeyMeterValueSampleInterval)
	aligned := cp.confSeconds(KeyClockAlignedDataInterval)
	cp.mu.Lock()
	due := interval > 0 && t.Time.Sub(cp.lastSample) >= interval
	if due {
		cp.lastSample = t.Time
	}
	boundary := alignedBoundary(t.Time, cp.lastAligned, aligned)
	if !boundary.IsZero() {
		cp.lastAligned = boundary
	}
	measurands, alignedMeasurands := cp.conf[KeyMeterValuesSampledData], cp.conf[KeyMeterValuesAlignedData]
	sign := cp.conf[KeySampledDataSignReadings] == "true" && cp.cfg.SignSample != nil
	sample := Sample{SessionID: t.SessionID, IDTag: cp.currentTag, Start: cp.txStart, MeterSerial: t.Serial, Time: t.Time, ImportMWh: t.ImportMWh}
	cp.mu.Unlock()
	var mvs []MeterValue
	if due {
		sv := sampled(t, measurands, "Sample.Periodic")
		if sign {
			sv = append(sv, cp.signedSample(sample)...)
		}
		if len(sv) > 0 {
			mvs = append(mvs, MeterValue{Timestamp: Time{t.Time}, SampledValue: sv})
		}
	}
	if !boundary.IsZero() {
		if sv := sampled(t, alignedMeasurands, "Sample.Clock"); len(sv) > 0 {
			mvs = append(mvs, MeterValue{Timestamp: Time{boundary}, SampledValue: sv})
		}
	}
	if len(mvs) > 0 {
		cp.enqueue(t.SessionID, actionMeter, meterValuesReq{ConnectorID: connectorOne, MeterValue: mvs})
	}
}

// alignedBoundary is clock-aligned data's boundary for a sample at now (OCPP 1.6 §3.16.2,
// OCPP 2.0.1 J01): the latest multiple of interval since midnight UTC at or before now, when it
// is after last (the boundary handled before), so that the first sample at or after each
// boundary is stamped with it; zero when none is due or interval is 0.
func alignedBoundary(now, last time.Time, interval time.Duration) time.Time {
	if interval <= 0 {
		return time.Time{}
	}
	midnight := now.UTC().Truncate(24 * time.Hour)
	boundary := midnight.Add(now.Sub(midnight).Truncate(interval))
	if !boundary.After(last) {
		return time.Time{}
	}
	return boundary
}

// Sample is one periodic reading of a transaction for Config.SignSample.
type Sample struct {
	SessionID, IDTag, MeterSerial string
	Start                         time.Time // the transaction's begin
	BeginMWh                      int64     // the import register at the begin (filled by the charge point)
	Time                          time.Time
	ImportMWh                     int64
}

// signedSample signs s (SampledDataSignReadings): one SignedData value, or none when signing
// failed (the raw values still go).
func (cp *ChargePoint) signedSample(s Sample) []SampledValue {
	ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
	defer cancel()
	if begin, ok := cp.beginRegister(ctx, s.SessionID); ok {
		s.BeginMWh = begin
	} else {
		s.BeginMWh = s.ImportMWh
	}
	rec, ok := cp.signRecord(s)
	if !ok {
		return nil
	}
	return []SampledValue{{Value: rec, Context: "Sample.Periodic", Format: "SignedData", Measurand: "Energy.Active.Import.Register"}}
}

// signRecord signs s with Config.SignSample (both faces' SignReadings): the OCMF record, or
// false when signing failed (logged; the raw values still go).
func (cp *ChargePoint) signRecord(s Sample) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
	defer cancel()
	rec, err := cp.cfg.SignSample(ctx, s)
	if err != nil {
		cp.log.Error("sign the sample", "session", s.SessionID, "err", err)
		return "", false
	}
	return rec, true
}

// beginRegister returns the begin register (mWh) of session if it is the running one.
func (cp *ChargePoint) beginRegister(ctx context.Context, session string) (int64, bool) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.current == session && cp.currentBeginMWh > 0 {
		return cp.currentBeginMWh, true
	}
	return 0, false
}

// sampled renders the measurands (a MeterValuesSampledData list) of one telemetry sample.
func sampled(t gateway.Telemetry, measurands, context string) []SampledValue {
	var out []SampledValue
	sum := func(vs []float64) (s float64) {
		for _, v := range vs {
			s += v
		}
		return s
	}
	for m := range strings.SplitSeq(measurands, ",") {
		v := SampledValue{Context: context, Measurand: strings.TrimSpace(m)}
		switch v.Measurand {
		case "Energy.Active.Import.Register":
			v.Value, v.Unit = strconv.FormatInt(t.ImportMWh/1000, 10), "Wh"
		case "Energy.Active.Export.Register":
			v.Value, v.Unit = strconv.FormatInt(t.ExportMWh/1000, 10), "Wh"
		case "Power.Active.Import":
			v.Value, v.Unit = strconv.FormatFloat(max(t.PowerW, 0), 'f', 1, 64), "W"
		case "Current.Import":
			if len(t.CurrentA) == 0 {
				continue
			}
			v.Value, v.Unit = strconv.FormatFloat(sum(t.CurrentA), 'f', 2, 64), "A"
		case "Voltage":
			if len(t.VoltageV) == 0 {
				continue
			}
			v.Value, v.Unit = strconv.FormatFloat(t.VoltageV[0], 'f', 1, 64), "V"
			v.Phase = "L1-N"
		default:
			continue
		}
		out = append(out, v)
	}
	return out
}

// Session implements gateway.Notifier: it queues the StopTransaction of a finished session,
// with the session's OCMF record as signed meter value (see doc.go). A session that was never
// announced gets its StartTransaction queued first; a second call for the same session is
// ignored, so the appliance may replay the last session at start.
func (cp *ChargePoint) Session(rec gateway.SessionRecord) {
	if f := cp.face201; f != nil {
		f.Session(rec)
		return
	}
	cp.mu.Lock()
	tag := cp.idTag(rec.IDToken)
	if cp.current == rec.ID {
		tag = cp.currentTag
	}
	cp.mu.Unlock()
	cp.begin(rec.ID, tag, rec.Start, rec.BeginMWh)
	ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
	defer cancel()
	if _, _, stored, err := cp.q.known(ctx, rec.ID); err == nil && stored != "" {
		tag = stored // the StartTransaction's idTag: the same token stops it
	}
	cp.mu.Lock()
	reason := StopReason(rec.Reason)
	if r, ok := cp.stopReasons[rec.ID]; ok {
		reason = r
		delete(cp.stopReasons, rec.ID)
	}
	if cp.current == rec.ID {
		cp.current, cp.currentTag = "", ""
	}
	cp.mu.Unlock()
	cp.enqueue(rec.ID, actionStop, stopRequest(rec, tag, reason))
	cp.dropTxProfiles(ctx)
	cp.bg.Go(func() { cp.applyAvailability(context.Background()) }) // a Scheduled Inoperative
}

// stopRequest builds the StopTransaction of rec (transactionId is filled when it is sent).
func stopRequest(rec gateway.SessionRecord, tag, reason string) stopTransactionReq {
	const measurand = "Energy.Active.Import.Register"
	end := MeterValue{Timestamp: Time{rec.End}, SampledValue: []SampledValue{
		{Value: strconv.FormatInt(rec.EndMWh/1000, 10), Context: "Transaction.End", Measurand: measurand, Unit: "Wh"},
	}}
	if rec.OCMF != "" {
		// OCA "Signed Meter Values in OCPP" (1.6): the whole OCMF record, begin and end
		// readings included, as one SignedData value in the transaction's last meter value.
		end.SampledValue = append(end.SampledValue, SampledValue{Value: rec.OCMF, Context: "Transaction.End", Format: "SignedData", Measurand: measurand})
	}
	return stopTransactionReq{
		IDTag: tag, MeterStop: rec.EndMWh / 1000, Timestamp: Time{rec.End}, Reason: reason,
		TransactionData: []MeterValue{
			{Timestamp: Time{rec.Start}, SampledValue: []SampledValue{
				{Value: strconv.FormatInt(rec.BeginMWh/1000, 10), Context: "Transaction.Begin", Measurand: measurand, Unit: "Wh"},
			}},
			end,
		},
	}
}

func (cp *ChargePoint) enqueue(session, action string, req any) {
	ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
	defer cancel()
	b, err := json.Marshal(req)
	if err == nil {
		_, err = cp.q.enqueue(ctx, session, action, b)
	}
	if err != nil {
		cp.log.Error(fmt.Sprintf("queue %s", action), "session", session, "err", err)
		return
	}
	cp.poke()
}

// Status takes the control loop's latest status (gateway.Controller.Status, polled by the
// appliance): each connector transition is queued for a StatusNotification, and a running
// session that nobody announced is begun the second time it is seen (the first sighting
// leaves SessionStarted, which knows the idTag, time to come).
func (cp *ChargePoint) Status(st gateway.Status) {
	if f := cp.face201; f != nil {
		f.Status(st)
		return
	}
	if st.Time.IsZero() {
		st.Time = time.Now()
	}
	cp.mu.Lock()
	cp.status, cp.haveStatus = st, true
	cp.noteStatus(st.Time)
	current := cp.current
	var begin bool
	var tag string
	if s := st.Session; s != nil && s.ID != current {
		tag, begin = cp.tags[s.ID]
		begin = begin || cp.sighted == s.ID
		cp.sighted = s.ID
		if tag == "" {
			tag = cp.idTag("")
		}
	}
	cp.mu.Unlock()
	if begin {
		cp.begin(st.Session.ID, tag, st.Session.StartedAt, st.Meter.ImportMWh-st.Session.EnergyMWh)
	}
	cp.poke()
}

// Reconcile queues the StopTransaction of each finished session in recs (read from the signed
// chain, the truth) that the queue began but never ended: the process was killed between the
// control loop's end entry and the queue's commit. Sessions the queue does not know, or ended
// already, are left alone, so the appliance may pass the chain's last few sessions at every
// start. The record's OCMF, if any, goes as SignedData: the chain holds only its digest, so the
// caller passes the record it kept (the appliance checks it against the end entry's digest);
// without one the StopTransaction carries the registers only (the chain's signed entries keep
// the readings). It returns how many StopTransactions it queued.
func (cp *ChargePoint) Reconcile(ctx context.Context, recs []gateway.SessionRecord) (int, error) {
	if f := cp.face201; f != nil {
		return f.Reconcile(ctx, recs)
	}
	n := 0
	for _, rec := range recs {
		known, ended, tag, err := cp.q.known(ctx, rec.ID)
		if err != nil {
			return n, err
		}
		if !known || ended {
			continue
		}
		b, err := json.Marshal(stopRequest(rec, tag, StopReason(rec.Reason)))
		if err != nil {
			return n, fmt.Errorf("encode StopTransaction of %s: %w", rec.ID, err)
		}
		added, err := cp.q.enqueue(ctx, rec.ID, actionStop, b)
		if err != nil {
			return n, err
		}
		if added {
			n++
			cp.log.Warn("queued the StopTransaction of a session the chain ended while the queue missed it", "session", rec.ID, "reason", rec.Reason)
		}
	}
	if n > 0 {
		cp.poke()
	}
	return n, nil
}
