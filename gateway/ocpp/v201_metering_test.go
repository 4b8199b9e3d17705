package ocpp_test

import (
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ocmf"
)

// The SampledDataCtrlr and AlignedDataCtrlr variables of the 2.0.1 face decide the TransactionEvents'
// and MeterValues' sampled values (OCPP 2.0.1 J01, J02); every message checked by the strict peer.

type sampledValue201 struct {
	Value            float64
	Context          string
	Measurand        string
	SignedMeterValue *struct{ SignedMeterData, PublicKey string }
}

type meterValue201 struct {
	Timestamp    string
	SampledValue []sampledValue201
}

type txEventMV struct {
	EventType     string
	TriggerReason string
	MeterValue    []meterValue201
}

func txEventsMV(t *testing.T, c *csms) []txEventMV {
	var out []txEventMV
	for _, l := range c.Calls("TransactionEvent") {
		out = append(out, params[txEventMV](t, l))
	}
	return out
}

// measurands lists a meter value's measurands, sorted and joined, and fails on a context other
// than want.
func measurands(t *testing.T, what string, mv meterValue201, want string) string {
	t.Helper()
	var ms []string
	for _, sv := range mv.SampledValue {
		if sv.Context != want {
			t.Errorf("%s: %s value has context %q, want %q", what, sv.Measurand, sv.Context, want)
		}
		ms = append(ms, sv.Measurand)
	}
	sort.Strings(ms)
	return strings.Join(ms, ",")
}

func (g *standIn) clock() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.now
}

func setAll(t *testing.T, c *csms, reqs ...map[string]any) {
	t.Helper()
	for _, r := range setVars(t, c, reqs...) {
		if r.AttributeStatus != "Accepted" {
			t.Fatalf("SetVariables %s.%s = %s", r.Component.Name, r.Variable.Name, r.AttributeStatus)
		}
	}
}

// TxStartedMeasurands, TxUpdatedMeasurands (every TxUpdatedInterval) and TxEndedMeasurands
// (begin, every TxEndedInterval, end) pick each event's measurands; SignReadings signs the
// Updated events' import register too.
func TestV201MeasurandsPerPhase(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	cp, _, _ := startCP201(t, c, g, t.TempDir(), withSampleSigner(t, g, func(s ocpp.Sample) []ocmf.Reading {
		return []ocmf.Reading{{Time: s.Time, TimeStatus: 'S', TX: "T", EnergyMWh: s.ImportMWh}}
	}))
	c.WaitFor("online", cp.Online)
	setAll(t, c,
		varReq("SampledDataCtrlr", "TxStartedMeasurands", "", "Energy.Active.Import.Register,Voltage"),
		varReq("SampledDataCtrlr", "TxUpdatedMeasurands", "", "Energy.Active.Import.Register,Current.Import"),
		varReq("SampledDataCtrlr", "TxUpdatedInterval", "", "2"),
		varReq("SampledDataCtrlr", "TxEndedMeasurands", "", "Energy.Active.Import.Register,Energy.Active.Export.Register"),
		varReq("SampledDataCtrlr", "TxEndedInterval", "", "2"),
		varReq("SampledDataCtrlr", "SignReadings", "", "true"))

	g.startLocal("04A1B2C3")
	for range 4 { // telemetry at begin+2 … begin+5: samples due at +2 and +4
		g.tick(250_000)
	}
	g.end(ledger.EndLocal)
	c.WaitFor("the Ended event", func() bool {
		ev := txEventsMV(t, c)
		return len(ev) > 0 && ev[len(ev)-1].EventType == "Ended"
	})
	ev := txEventsMV(t, c)
	if len(ev) != 4 {
		t.Fatalf("%d events, want Started, 2 Updated, Ended", len(ev))
	}
	started, ended := ev[0], ev[3]
	if got := measurands(t, "Started", started.MeterValue[0], "Transaction.Begin"); got != "Energy.Active.Import.Register,Voltage" {
		t.Errorf("Started measurands %s", got)
	}
	for _, u := range ev[1:3] {
		if u.EventType != "Updated" || u.TriggerReason != "MeterValuePeriodic" || len(u.MeterValue) != 1 {
			t.Fatalf("event %+v, want Updated MeterValuePeriodic", u)
		}
		if got := measurands(t, "Updated", u.MeterValue[0], "Sample.Periodic"); got != "Current.Import,Energy.Active.Import.Register" {
			t.Errorf("Updated measurands %s", got)
		}
		for _, sv := range u.MeterValue[0].SampledValue {
			signed := sv.SignedMeterValue != nil && sv.SignedMeterValue.SignedMeterData != ""
			if signed != (sv.Measurand == "Energy.Active.Import.Register") {
				t.Errorf("Updated %s signed = %v, want the import register signed (SignReadings)", sv.Measurand, signed)
			}
			if signed && sv.SignedMeterValue.PublicKey != "" {
				t.Errorf("Updated signed value carries the public key; OncePerTransaction gave it with the Started")
			}
		}
	}
	if sv := started.MeterValue[0].SampledValue; !slices.ContainsFunc(sv, func(v sampledValue201) bool {
		return v.Measurand == "Energy.Active.Import.Register" && v.SignedMeterValue != nil && v.SignedMeterValue.PublicKey != ""
	}) {
		t.Errorf("Started import register not signed with the public key: %+v", sv)
	}
	// Ended: begin, the TxEndedInterval samples, end — each with the TxEndedMeasurands.
	wantCtx := []string{"Transaction.Begin", "Sample.Periodic", "Sample.Periodic", "Transaction.End"}
	if len(ended.MeterValue) != len(wantCtx) {
		t.Fatalf("Ended has %d meter values, want %d: %+v", len(ended.MeterValue), len(wantCtx), ended.MeterValue)
	}
	for i, mv := range ended.MeterValue {
		if got := measurands(t, "Ended", mv, wantCtx[i]); got != "Energy.Active.Export.Register,Energy.Active.Import.Register" {
			t.Errorf("Ended value %d (%s) measurands %s", i, wantCtx[i], got)
		}
	}
	last := ended.MeterValue[3].SampledValue
	for _, sv := range last {
		if (sv.SignedMeterValue != nil) != (sv.Measurand == "Energy.Active.Import.Register") {
			t.Errorf("Ended %s signedMeterValue %v, want the OCMF record on the import register only", sv.Measurand, sv.SignedMeterValue != nil)
		}
	}
}

// evenSeconds counts the multiples of 2 s in (from, to].
func evenSeconds(from, to time.Time) int {
	n := 0
	for s := from.Unix() + 1; s <= to.Unix(); s++ {
		if s%2 == 0 {
			n++
		}
	}
	return n
}

func checkClockValues(t *testing.T, what string, mvs []meterValue201) {
	t.Helper()
	var last time.Time
	for _, mv := range mvs {
		ts, err := time.Parse(time.RFC3339Nano, mv.Timestamp)
		if err != nil || ts.Second()%2 != 0 || ts.Nanosecond() != 0 || !ts.After(last) {
			t.Errorf("%s: aligned timestamp %s after %s, want rising even seconds", what, mv.Timestamp, last)
		}
		last = ts
		if got := measurands(t, what, mv, "Sample.Clock"); got != "Energy.Active.Import.Register,Power.Active.Import" {
			t.Errorf("%s measurands %s", what, got)
		}
	}
}

// AlignedDataCtrlr.Interval 2 s, SendDuringIdle false: during a transaction one Updated event
// (MeterValueClock) per boundary and the TxEndedInterval boundaries in the Ended event; no
// MeterValues while idle.
func TestV201ClockAlignedInTransaction(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	cp, _, _ := startCP201(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	setAll(t, c,
		varReq("SampledDataCtrlr", "TxUpdatedInterval", "", "0"),
		varReq("AlignedDataCtrlr", "Interval", "", "2"),
		varReq("AlignedDataCtrlr", "Measurands", "", "Energy.Active.Import.Register,Power.Active.Import"),
		varReq("AlignedDataCtrlr", "TxEndedInterval", "", "2"))
	for range 4 { // idle: nothing to send without SendDuringIdle
		g.tick(0)
	}
	g.startLocal("TAG-CLOCK")
	g.mu.Lock()
	begin := g.session.Start
	g.mu.Unlock()
	for range 5 {
		g.tick(100_000)
	}
	lastTick := g.clock()
	g.end(ledger.EndLocal)
	c.WaitFor("the Ended event", func() bool {
		ev := txEventsMV(t, c)
		return len(ev) > 0 && ev[len(ev)-1].EventType == "Ended"
	})
	ev := txEventsMV(t, c)
	want := evenSeconds(begin, lastTick)
	var clock []meterValue201
	for _, e := range ev[1 : len(ev)-1] {
		if e.EventType != "Updated" || e.TriggerReason != "MeterValueClock" || len(e.MeterValue) != 1 {
			t.Errorf("event %s %s with %d values, want Updated MeterValueClock", e.EventType, e.TriggerReason, len(e.MeterValue))
			continue
		}
		clock = append(clock, e.MeterValue[0])
	}
	if len(clock) != want {
		t.Errorf("%d MeterValueClock events, want %d (one per 2 s boundary)", len(clock), want)
	}
	checkClockValues(t, "Updated", clock)
	var endedClock []string
	for _, mv := range ev[len(ev)-1].MeterValue {
		if mv.SampledValue[0].Context == "Sample.Clock" {
			endedClock = append(endedClock, mv.Timestamp)
		}
	}
	if len(endedClock) != want {
		t.Errorf("Ended carries %d clock-aligned values %v, want %d (AlignedDataCtrlr.TxEndedInterval)", len(endedClock), endedClock, want)
	}
	if n := len(c.Calls("MeterValues")); n != 0 {
		t.Errorf("%d MeterValues without SendDuringIdle", n)
	}
}

// SendDuringIdle: clock-aligned values go as MeterValues of EVSE 1 while idle, and none are
// sent during a transaction (J01.FR.20).
func TestV201ClockAlignedIdle(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	cp, _, _ := startCP201(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	setAll(t, c,
		varReq("SampledDataCtrlr", "TxUpdatedInterval", "", "0"),
		varReq("AlignedDataCtrlr", "Interval", "", "2"),
		varReq("AlignedDataCtrlr", "Measurands", "", "Energy.Active.Import.Register,Power.Active.Import"),
		varReq("AlignedDataCtrlr", "SendDuringIdle", "", "true"))
	g.tick(0) // the first sample starts the count
	first := g.clock()
	for range 6 {
		g.tick(0)
	}
	want := evenSeconds(first, g.clock())
	idle := func() []meterValue201 {
		var out []meterValue201
		for _, l := range c.Calls("MeterValues") {
			m := params[struct {
				EvseID     int
				MeterValue []meterValue201
			}](t, l)
			if m.EvseID != 1 {
				t.Errorf("MeterValues evseId %d, want 1", m.EvseID)
			}
			out = append(out, m.MeterValue...)
		}
		return out
	}
	c.WaitFor("the idle clock-aligned values", func() bool { return len(idle()) >= want })
	checkClockValues(t, "MeterValues", idle())

	g.startLocal("TAG-IDLE")
	for range 5 {
		g.tick(100_000)
	}
	g.end(ledger.EndLocal)
	c.WaitFor("the Ended event", func() bool {
		ev := txEventsMV(t, c)
		return len(ev) > 0 && ev[len(ev)-1].EventType == "Ended"
	})
	for _, e := range txEventsMV(t, c) {
		if e.TriggerReason == "MeterValueClock" {
			t.Errorf("a MeterValueClock event during a transaction with SendDuringIdle")
		}
	}
	if got := len(idle()); got != want {
		t.Errorf("%d idle clock-aligned values after the transaction, want %d (none during it)", got, want)
	}
}
