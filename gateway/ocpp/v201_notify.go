package ocpp

import (
	"context"
	"encoding/json"
	"time"

	"github.com/chargegate/chargegate/gateway"
)

// The gateway's side of the 2.0.1 face, as notify.go is for 1.6: status, telemetry and
// finished sessions become StatusNotifications and queued TransactionEvents. The
// transactionId is the chargegate session id (hex, within identifierString 36).

// Status takes the control loop's latest status: the connector status, and a running session
// nobody announced is begun the second time it is seen (under the idToken of a
// RequestStartTransaction being started, else FallbackIDTag).
func (cp *ChargePoint201) Status(st gateway.Status) {
	if st.Time.IsZero() {
		st.Time = time.Now()
	}
	status := cp.outlet201(st)
	cp.coreStatus(st)
	cp.mu.Lock()
	cp.last, cp.haveStatus = st, true
	cp.status = status
	var begin bool
	var tok string
	if s := st.Session; s != nil && s.ID != cp.current {
		tok, begin = cp.tokens[s.ID]
		begin = begin || cp.sighted == s.ID
		cp.sighted = s.ID
		switch {
		case tok != "":
		case cp.pendingStart != "": // a RequestStartTransaction whose Start has not returned yet
			tok = cp.pendingStart
		default:
			tok = cp.cfg.FallbackIDTag
		}
	}
	cp.mu.Unlock()
	if begin {
		cp.begin(st.Session.ID, tok, st.Session.StartedAt, st.Meter.ImportMWh-st.Session.EnergyMWh)
	}
	cp.poke()
}

// SessionStarted queues the TransactionEvent Started of a session that began.
func (cp *ChargePoint201) SessionStarted(s SessionStart) {
	tok := s.IDTag
	if tok == "" || len(tok) > 36 {
		tok = cp.cfg.FallbackIDTag
	}
	cp.begin(s.ID, tok, s.Time, s.MeterMWh)
}

// begin queues the Started event of session (once): triggerReason RemoteStart with its
// remoteStartId for a RequestStartTransaction, else Authorized; reservationId when it fulfils
// the reservation; the Transaction.Begin values of TxStartedMeasurands, the import register
// signed (SampledDataCtrlr.SignReadings and Config.SignSample) as an OCMF record.
func (cp *ChargePoint201) begin(session, tok string, at time.Time, meterMWh int64) {
	ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
	defer cancel()
	cp.mu.Lock()
	if cp.current == session {
		cp.mu.Unlock()
		return
	}
	trigger := "Authorized"
	var remoteID *int
	if id, ok := cp.remoteIDs[tok]; ok {
		trigger, remoteID = "RemoteStart", &id
		delete(cp.remoteIDs, tok)
		cp.remoteStart[session] = id
	}
	cp.mu.Unlock()
	s := cp.sampling()
	svs, endedBegin := cp.beginValues(s, at, meterMWh)
	if s.sign && hasImport(svs) {
		if rec, ok := cp.base.signRecord(Sample{SessionID: session, IDTag: tok, Start: at, BeginMWh: meterMWh, Time: at, ImportMWh: meterMWh}); ok {
			withSigned(svs, cp.signedValue201(rec, true))
		}
	}
	var mv []meterValue201
	if len(svs) > 0 {
		mv = []meterValue201{{Timestamp: Time{at}, SampledValue: svs}}
	}
	resID := cp.useReservation(ctx, session, tok)
	offline := !cp.Online()
	added, err := cp.q.event201(ctx, session, tok, eventStarted, func(seq int) ([]byte, error) {
		return json.Marshal(transactionEventReq{EventType: eventStarted, Timestamp: Time{at}, TriggerReason: trigger, SeqNo: seq, Offline: offline,
			TransactionInfo: transactionInfo{TransactionID: session, ChargingState: "Charging", RemoteStartID: remoteID},
			IDToken:         ptr(token201(tok)), EVSE: &evseType{ID: evseOne, ConnectorID: ptr(1)}, ReservationID: resID, MeterValue: mv})
	})
	if err != nil {
		cp.log.Error("queue TransactionEvent Started", "session", session, "err", err)
		return
	}
	known, ended, _, err := cp.q.known(ctx, session)
	cp.mu.Lock()
	adopted := err == nil && known && !ended
	if adopted {
		cp.current, cp.currentTok, cp.beginMWh = session, tok, meterMWh
		cp.startMetering(at, endedBegin)
	}
	delete(cp.tokens, session)
	cp.mu.Unlock()
	if adopted {
		cp.coreSession(session, at)
	}
	if added {
		cp.log.Info("queued TransactionEvent Started", "session", session, "trigger", trigger)
		cp.poke()
	}
}

func ptr[T any](v T) *T { return &v }

// event queues an Updated or Ended event of session.
func (cp *ChargePoint201) event(session, eventType, trigger, stopped string, mv []meterValue201, tok *idTokenType) {
	ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
	defer cancel()
	offline := !cp.Online()
	at := time.Now()
	if len(mv) > 0 {
		at = mv[len(mv)-1].Timestamp.Time
	}
	cp.mu.Lock()
	state := "Charging"
	if eventType == eventEnded {
		state = "Idle"
	}
	cp.mu.Unlock()
	added, err := cp.q.event201(ctx, session, "", eventType, func(seq int) ([]byte, error) {
		return json.Marshal(transactionEventReq{EventType: eventType, Timestamp: Time{at}, TriggerReason: trigger, SeqNo: seq, Offline: offline,
			TransactionInfo: transactionInfo{TransactionID: session, ChargingState: state, StoppedReason: stopped}, IDToken: tok, MeterValue: mv})
	})
	if err != nil {
		cp.log.Error("queue TransactionEvent "+eventType, "session", session, "err", err)
		return
	}
	if added {
		cp.poke()
	}
}

// Session implements gateway.Notifier: the Ended event of a finished session, with the
// begin and end registers and the session's OCMF record as signed meter value (begin and end
// readings in one record). A session never announced is begun first; a second call is
// ignored.
func (cp *ChargePoint201) Session(rec gateway.SessionRecord) {
	cp.mu.Lock()
	tok := rec.IDToken
	if cp.current == rec.ID {
		tok = cp.currentTok
	}
	cp.mu.Unlock()
	if tok == "" || len(tok) > 36 {
		tok = cp.cfg.FallbackIDTag
	}
	cp.begin(rec.ID, tok, rec.Start, rec.BeginMWh)
	trigger, stopped := EndReason201(rec.Reason)
	cp.mu.Lock()
	if r, ok := cp.stopReasons[rec.ID]; ok {
		trigger, stopped = r[0], r[1]
		delete(cp.stopReasons, rec.ID)
	}
	var kept []meterValue201
	if cp.current == rec.ID {
		cp.current, cp.currentTok = "", ""
		kept, cp.endedValues = cp.endedValues, nil
	}
	delete(cp.remoteStart, rec.ID)
	cp.mu.Unlock()
	cp.event(rec.ID, eventEnded, trigger, stopped, cp.endValues(rec, kept), nil)
	cp.coreSession("", time.Time{})
	ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
	cp.base.dropTxProfiles(ctx) // a transaction's TxProfiles end with it (K01)
	cancel()
	cp.bg.Go(func() { // a Scheduled Inoperative comes into force
		if err := cp.base.applyAvailability(context.Background()); err == nil {
			cp.refreshStatus()
		}
	})
}

// Reconcile queues the Ended event of each finished session in recs (from the signed chain)
// that the queue began but never ended, as the 1.6 face's Reconcile does.
func (cp *ChargePoint201) Reconcile(ctx context.Context, recs []gateway.SessionRecord) (int, error) {
	n := 0
	for _, rec := range recs {
		known, ended, _, err := cp.q.known(ctx, rec.ID)
		if err != nil {
			return n, err
		}
		if !known || ended {
			continue
		}
		trigger, stopped := EndReason201(rec.Reason)
		cp.event(rec.ID, eventEnded, trigger, stopped, cp.endValues(rec, nil), nil)
		n++
	}
	return n, nil
}
