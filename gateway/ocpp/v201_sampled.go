package ocpp

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chargegate/chargegate/gateway"
)

// Meter values on the 2.0.1 face (OCPP 2.0.1 J01 clock-aligned, J02 sampled), as the device
// model's SampledDataCtrlr and AlignedDataCtrlr say: which measurands go into the Started,
// Updated and Ended TransactionEvents, how often, whether signed, and the clock-aligned values
// during a transaction (Updated, MeterValueClock) and while idle (MeterValues). The values
// come from the gateway's telemetry through the core's sampled; the clock boundaries from the
// core's alignedBoundary.

const (
	measurandImport = "Energy.Active.Import.Register"
	// maxEndedValues bounds the meter values the Ended event carries (TxEndedInterval samples
	// and clock-aligned ones of a long transaction); later ones are left out.
	maxEndedValues = 200
	// maxIdleMeter bounds the clock-aligned idle values kept while offline; the oldest go.
	maxIdleMeter = 16
)

// sampling is the device model's metering settings, read once per sample.
type sampling struct {
	startedM, updatedM, endedM string
	updatedEvery, endedEvery   time.Duration
	sign                       bool // SampledDataCtrlr.SignReadings with Config.SignSample

	aligned                  bool // AlignedDataCtrlr.Enabled
	alignedM, alignedEndedM  string
	alignedEvery, alignedEnd time.Duration
	duringIdle               bool // AlignedDataCtrlr.SendDuringIdle
}

func (cp *ChargePoint201) sampling() sampling {
	v := func(c, n string) string { return cp.value(c, n, "") }
	return sampling{
		startedM: v(compSampledData, "TxStartedMeasurands"), updatedM: v(compSampledData, "TxUpdatedMeasurands"),
		endedM: v(compSampledData, "TxEndedMeasurands"), updatedEvery: cp.seconds(compSampledData, "TxUpdatedInterval", ""),
		endedEvery: cp.seconds(compSampledData, "TxEndedInterval", ""),
		sign:       cp.cfg.SignSample != nil && v(compSampledData, "SignReadings") == "true",
		aligned:    v(compAlignedData, "Enabled") == "true", alignedM: v(compAlignedData, "Measurands"),
		alignedEndedM: v(compAlignedData, "TxEndedMeasurands"), alignedEvery: cp.seconds(compAlignedData, "Interval", ""),
		alignedEnd: cp.seconds(compAlignedData, "TxEndedInterval", ""), duringIdle: v(compAlignedData, "SendDuringIdle") == "true",
	}
}

// sampled201 renders measurands of one telemetry sample (the core's sampled) as 2.0.1 sampled
// values with context.
func sampled201(t gateway.Telemetry, measurands, context string) []sampledValue201 {
	var out []sampledValue201
	for _, v := range sampled(t, measurands, context) {
		f, err := strconv.ParseFloat(v.Value, 64)
		if err != nil {
			continue
		}
		out = append(out, sampledValue201{Value: f, Context: v.Context, Measurand: v.Measurand, Phase: v.Phase, UnitOfMeasure: &unitOfMeasure{Unit: v.Unit}})
	}
	return out
}

// importOnly narrows measurands to the import register, the one value known without live
// telemetry (a session record's begin and end).
func importOnly(measurands string) string {
	if slices.Contains(strings.Split(measurands, ","), measurandImport) {
		return measurandImport
	}
	return ""
}

// reading is the latest telemetry with the register and time of a transaction's begin or
// end; without any telemetry, only the import register is known.
func (cp *ChargePoint201) reading(at time.Time, importMWh int64, measurands string) (gateway.Telemetry, string) {
	cp.mu.Lock()
	t, ok := cp.lastTel, cp.haveTel
	cp.mu.Unlock()
	if !ok {
		return gateway.Telemetry{Time: at, ImportMWh: importMWh}, importOnly(measurands)
	}
	t.Time, t.ImportMWh = at, importMWh
	return t, measurands
}

// beginValues are the Started event's Transaction.Begin values (TxStartedMeasurands) and the
// first of the Ended event's (TxEndedMeasurands).
func (cp *ChargePoint201) beginValues(s sampling, at time.Time, meterMWh int64) (started, ended []sampledValue201) {
	t, m := cp.reading(at, meterMWh, s.startedM)
	started = sampled201(t, m, "Transaction.Begin")
	t, m = cp.reading(at, meterMWh, s.endedM)
	return started, sampled201(t, m, "Transaction.Begin")
}

// hasImport reports whether svs has the import register, the value a signed record goes on.
func hasImport(svs []sampledValue201) bool {
	return slices.ContainsFunc(svs, func(v sampledValue201) bool { return v.Measurand == measurandImport })
}

// withSigned puts signed on the import register among svs; false when svs has none.
func withSigned(svs []sampledValue201, signed *signedMeterValue) bool {
	for i := range svs {
		if svs[i].Measurand == measurandImport {
			svs[i].SignedMeterValue = signed
			return true
		}
	}
	return false
}

// Telemetry implements gateway.Notifier. During the running transaction: an Updated event
// (MeterValuePeriodic) of TxUpdatedMeasurands every TxUpdatedInterval, signed with
// SignReadings; an Updated event (MeterValueClock) of AlignedDataCtrlr.Measurands at each
// Interval boundary unless SendDuringIdle (J01.FR.20); the TxEndedInterval samples and
// AlignedDataCtrlr.TxEndedInterval boundaries kept for the Ended event. While idle, with
// SendDuringIdle: MeterValues of the clock-aligned values (J01.FR.14).
func (cp *ChargePoint201) Telemetry(t gateway.Telemetry) {
	s := cp.sampling()
	cp.mu.Lock()
	cp.lastTel, cp.haveTel = t, true
	session := cp.current
	inTx := t.SessionID != "" && session == t.SessionID
	idle := t.SessionID == "" && session == ""
	periodic := inTx && s.updatedEvery > 0 && t.Time.Sub(cp.lastSample) >= s.updatedEvery
	if periodic {
		cp.lastSample = t.Time
	}
	var clock time.Time
	if s.aligned && (inTx || idle) {
		if cp.lastAligned.IsZero() { // the first sample only starts the count
			cp.lastAligned = alignedBoundary(t.Time, time.Time{}, s.alignedEvery)
		} else if clock = alignedBoundary(t.Time, cp.lastAligned, s.alignedEvery); !clock.IsZero() {
			cp.lastAligned = clock
		}
	}
	if inTx && s.aligned {
		if b := alignedBoundary(t.Time, cp.lastEndedAligned, s.alignedEnd); !b.IsZero() {
			cp.lastEndedAligned = b
			cp.keepEnded(meterValue201{Timestamp: Time{b}, SampledValue: sampled201(t, s.alignedEndedM, "Sample.Clock")})
		}
	}
	if inTx && s.endedEvery > 0 && t.Time.Sub(cp.lastEnded) >= s.endedEvery {
		cp.lastEnded = t.Time
		cp.keepEnded(meterValue201{Timestamp: Time{t.Time}, SampledValue: sampled201(t, s.endedM, "Sample.Periodic")})
	}
	sample := Sample{SessionID: session, IDTag: cp.currentTok, BeginMWh: cp.beginMWh, MeterSerial: t.Serial, Time: t.Time, ImportMWh: t.ImportMWh}
	cp.mu.Unlock()

	if periodic {
		svs := sampled201(t, s.updatedM, "Sample.Periodic")
		if s.sign && hasImport(svs) {
			sample.Start = cp.txStart()
			if rec, ok := cp.base.signRecord(sample); ok {
				withSigned(svs, cp.signedValue201(rec, false))
			}
		}
		if len(svs) > 0 {
			cp.event(session, eventUpdated, "MeterValuePeriodic", "", []meterValue201{{Timestamp: Time{t.Time}, SampledValue: svs}}, nil)
		}
	}
	if clock.IsZero() {
		return
	}
	svs := sampled201(t, s.alignedM, "Sample.Clock")
	switch {
	case len(svs) == 0:
	case inTx && !s.duringIdle:
		cp.event(session, eventUpdated, "MeterValueClock", "", []meterValue201{{Timestamp: Time{clock}, SampledValue: svs}}, nil)
	case idle && s.duringIdle:
		cp.mu.Lock()
		cp.idleMeter = append(cp.idleMeter, meterValue201{Timestamp: Time{clock}, SampledValue: svs})
		if len(cp.idleMeter) > maxIdleMeter {
			cp.idleMeter = cp.idleMeter[len(cp.idleMeter)-maxIdleMeter:]
		}
		cp.mu.Unlock()
		cp.poke()
	}
}

// txStart is the running transaction's begin (the core keeps it for Relative profiles).
func (cp *ChargePoint201) txStart() time.Time {
	cp.base.mu.Lock()
	defer cp.base.mu.Unlock()
	return cp.base.txStart
}

// keepEnded adds mv to the Ended event's values, up to maxEndedValues. Called with mu held.
func (cp *ChargePoint201) keepEnded(mv meterValue201) {
	if len(mv.SampledValue) == 0 || len(cp.endedValues) >= maxEndedValues {
		return
	}
	cp.endedValues = append(cp.endedValues, mv)
	if len(cp.endedValues) == maxEndedValues {
		cp.log.Warn("the Ended event keeps no more sampled values", "session", cp.current, "values", maxEndedValues)
	}
}

// startMetering resets the sampling state for a transaction that began at at, with the Ended
// event's Transaction.Begin values. Called with mu held.
func (cp *ChargePoint201) startMetering(at time.Time, endedBegin []sampledValue201) {
	cp.lastSample, cp.lastEnded, cp.lastEndedAligned = at, at, at
	if at.After(cp.lastAligned) {
		cp.lastAligned = at
	}
	cp.endedValues = nil
	cp.keepEnded(meterValue201{Timestamp: Time{at}, SampledValue: endedBegin})
}

// endValues are the Ended event's meter values: those kept during the transaction (begin,
// TxEndedInterval samples, clock-aligned ones; for a session not followed live, the begin
// register), then the Transaction.End values of TxEndedMeasurands. The session's OCMF record
// goes as signedMeterValue on the end register, which is added for it when TxEndedMeasurands
// leaves it out: the record is the transaction's billing proof.
func (cp *ChargePoint201) endValues(rec gateway.SessionRecord, kept []meterValue201) []meterValue201 {
	s := cp.sampling()
	out := kept
	if len(out) == 0 {
		begin := sampled201(gateway.Telemetry{Time: rec.Start, ImportMWh: rec.BeginMWh}, importOnly(s.endedM), "Transaction.Begin")
		if len(begin) > 0 {
			out = append(out, meterValue201{Timestamp: Time{rec.Start}, SampledValue: begin})
		}
	}
	t, m := gateway.Telemetry{Time: rec.End, ImportMWh: rec.EndMWh}, importOnly(s.endedM)
	if len(kept) > 0 { // followed live: the latest telemetry has the other measurands
		t, m = cp.reading(rec.End, rec.EndMWh, s.endedM)
	}
	end := sampled201(t, m, "Transaction.End")
	if rec.OCMF != "" {
		signed := cp.signedValue201(rec.OCMF, !s.sign)
		if signed != nil && !withSigned(end, signed) {
			end = append(end, sampledValue201{Value: float64(rec.EndMWh / 1000), Context: "Transaction.End", Measurand: measurandImport,
				UnitOfMeasure: &unitOfMeasure{Unit: "Wh"}, SignedMeterValue: signed})
		}
	}
	if len(end) > 0 {
		out = append(out, meterValue201{Timestamp: Time{rec.End}, SampledValue: end})
	}
	return out
}

// sendIdleMeterValues sends the clock-aligned values taken while idle as one MeterValues of
// EVSE 1; a CALLERROR drops them (they are no transaction's data).
func (cp *ChargePoint201) sendIdleMeterValues(ctx context.Context, conn *rpcConn) error {
	cp.mu.Lock()
	mvs := slices.Clone(cp.idleMeter)
	cp.mu.Unlock()
	if len(mvs) == 0 {
		return nil
	}
	err := conn.call(ctx, "", "MeterValues", meterValues201Req{EVSEID: evseOne, MeterValue: mvs}, nil)
	var cerr *CallError
	if err != nil && !errors.As(err, &cerr) {
		return err
	}
	if err != nil {
		cp.log.Warn("CSMS refused the idle MeterValues; dropped", "err", err)
	}
	cp.mu.Lock()
	cp.idleMeter = cp.idleMeter[min(len(mvs), len(cp.idleMeter)):]
	cp.mu.Unlock()
	return nil
}

type meterValues201Req struct {
	EVSEID     int             `json:"evseId"`
	MeterValue []meterValue201 `json:"meterValue"`
}
