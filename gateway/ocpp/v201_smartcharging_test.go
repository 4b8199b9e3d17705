package ocpp_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"testing"

	"github.com/chargegate/chargegate/ledger"
)

// K05: a RequestStartTransaction's chargingProfile is the new transaction's TxProfile: it
// limits the transaction from its start and ends with it. One that is not a TxProfile, or
// names a transactionId, makes the request Rejected and starts nothing.
func TestV201RequestStartWithChargingProfile(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	cp, _, _ := startCP201(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	profile := func(purpose string, limit float64, tx string) map[string]any {
		p := map[string]any{"id": 9, "stackLevel": 0, "chargingProfilePurpose": purpose, "chargingProfileKind": "Relative",
			"chargingSchedule": []any{map[string]any{"id": 1, "chargingRateUnit": "A",
				"chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": limit}}}}}
		if tx != "" {
			p["transactionId"] = tx
		}
		return p
	}
	start := func(id int, p map[string]any) string {
		t.Helper()
		return c.Status("RequestStartTransaction", map[string]any{"remoteStartId": id,
			"idToken": map[string]string{"idToken": "04A1B2C3", "type": "ISO14443"}, "chargingProfile": p})
	}

	for _, bad := range []map[string]any{profile("TxDefaultProfile", 6, ""), profile("TxProfile", 6, "some-transaction"), profile("TxProfile", -1, "")} {
		if s := start(1, bad); s != "Rejected" {
			t.Errorf("RequestStartTransaction with %v = %s, want Rejected", bad, s)
		}
	}
	if s := start(2, profile("TxProfile", 6, "")); s != "Accepted" {
		t.Fatalf("RequestStartTransaction with a TxProfile = %s", s)
	}
	c.WaitFor("the session", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.session != nil })
	g.publish()
	c.WaitFor("the TxProfile's limit", func() bool { return compositeLimit(t, c) == 6 })
	g.end(ledger.EndLocal)
	c.WaitFor("the Ended event", func() bool {
		ev := txEvents(t, c)
		return len(ev) > 0 && ev[len(ev)-1].EventType == "Ended"
	})
	// One transaction only, the accepted request's: the rejected ones started nothing.
	for i, ev := range txEvents(t, c) {
		if id := ev.TransactionInfo.RemoteStartID; ev.EventType == "Started" && (i != 0 || id == nil || *id != 2) {
			t.Errorf("Started event %d has remoteStartId %v, want only the first, with 2", i, id)
		}
	}
	if got := compositeLimit(t, c); got != 32 {
		t.Errorf("composite limit after the transaction = %v, want 32: its TxProfile ends with it", got)
	}
}

// K09: GetChargingProfiles reports the installed profiles that match its criteria in one
// ReportChargingProfiles per EVSE (EVSE 0 first, tbc on all but the last), each profile as
// it was set (2.0.1 purpose, schedule id, the running transaction's id on a TxProfile);
// criteria nothing matches give NoProfiles and no report.
func TestV201GetChargingProfiles(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	cp, _, _ := startCP201(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	set := func(evse, id int, purpose string, scheduleID int, tx string) {
		t.Helper()
		p := map[string]any{"id": id, "stackLevel": 1, "chargingProfilePurpose": purpose, "chargingProfileKind": "Relative",
			"chargingSchedule": []any{map[string]any{"id": scheduleID, "chargingRateUnit": "A",
				"chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16}}}}}
		if tx != "" {
			p["transactionId"] = tx
		}
		if s := c.Status("SetChargingProfile", map[string]any{"evseId": evse, "chargingProfile": p}); s != "Accepted" {
			t.Fatalf("SetChargingProfile %s = %s", purpose, s)
		}
	}
	get := func(requestID int, criteria map[string]any, evse ...int) string {
		t.Helper()
		req := map[string]any{"requestId": requestID, "chargingProfile": criteria}
		if len(evse) > 0 {
			req["evseId"] = evse[0]
		}
		return c.Status("GetChargingProfiles", req)
	}
	type report struct {
		RequestID           int
		ChargingLimitSource string
		TBC                 bool
		EVSEID              int
		ChargingProfile     []struct {
			ID                     int
			ChargingProfilePurpose string
			TransactionID          string
			ChargingSchedule       []struct{ ID int }
		}
	}
	reports := func(requestID int) []report {
		var out []report
		for _, l := range c.Calls("ReportChargingProfiles") {
			if r := params[report](t, l); r.RequestID == requestID {
				out = append(out, r)
			}
		}
		return out
	}

	if s := get(1, map[string]any{}); s != "NoProfiles" {
		t.Errorf("GetChargingProfiles with none installed = %s, want NoProfiles", s)
	}
	set(0, 2, "ChargingStationMaxProfile", 7, "")
	set(0, 3, "TxDefaultProfile", 8, "")
	g.startLocal("04A1B2C3")
	c.WaitCalls("TransactionEvent", 1)
	txID := txEvents(t, c)[0].TransactionInfo.TransactionID
	set(1, 4, "TxProfile", 9, txID)

	if s := get(5, map[string]any{}); s != "Accepted" {
		t.Fatalf("GetChargingProfiles = %s", s)
	}
	c.WaitFor("two reports", func() bool { return len(reports(5)) == 2 })
	r := reports(5)
	if r[0].EVSEID != 0 || !r[0].TBC || r[1].EVSEID != 1 || r[1].TBC || r[0].ChargingLimitSource != "CSO" {
		t.Errorf("reports = %+v, want EVSE 0 (tbc) then EVSE 1, source CSO", r)
	}
	got := map[int]string{}
	for _, rep := range r {
		for _, p := range rep.ChargingProfile {
			got[p.ID] = fmt.Sprintf("%s/%d/%s", p.ChargingProfilePurpose, p.ChargingSchedule[0].ID, p.TransactionID)
		}
	}
	want := map[int]string{2: "ChargingStationMaxProfile/7/", 3: "TxDefaultProfile/8/", 4: "TxProfile/9/" + txID}
	if !maps.Equal(got, want) {
		t.Errorf("reported profiles = %v, want %v", got, want)
	}

	if s := get(6, map[string]any{"chargingProfilePurpose": "TxProfile"}); s != "Accepted" {
		t.Fatalf("GetChargingProfiles TxProfile = %s", s)
	}
	c.WaitFor("the TxProfile report", func() bool { return len(reports(6)) == 1 })
	if r := reports(6)[0]; r.EVSEID != 1 || len(r.ChargingProfile) != 1 || r.ChargingProfile[0].ID != 4 {
		t.Errorf("TxProfile report = %+v", r)
	}
	for _, none := range []struct {
		criteria map[string]any
		evse     []int
	}{
		{map[string]any{"chargingLimitSource": []string{"EMS"}}, nil},
		{map[string]any{"chargingProfileId": []int{99}}, nil},
		{map[string]any{"chargingProfilePurpose": "TxProfile"}, []int{0}},
		{map[string]any{"stackLevel": 5}, nil},
	} {
		if s := get(7, none.criteria, none.evse...); s != "NoProfiles" {
			t.Errorf("GetChargingProfiles %v evse %v = %s, want NoProfiles", none.criteria, none.evse, s)
		}
	}
	g.end(ledger.EndLocal)
	if n := len(reports(7)); n != 0 {
		t.Errorf("%d reports for criteria nothing matched", n)
	}
}

// compositeLimit is the first period's limit of EVSE 1's composite schedule for the next minute.
func compositeLimit(t *testing.T, c *csms) float64 {
	t.Helper()
	res, err := c.Call("GetCompositeSchedule", map[string]any{"duration": 60, "evseId": 1})
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Status   string
		Schedule struct{ ChargingSchedulePeriod []struct{ Limit float64 } }
	}
	if err := json.Unmarshal(res, &r); err != nil || r.Status != "Accepted" || len(r.Schedule.ChargingSchedulePeriod) == 0 {
		t.Fatalf("GetCompositeSchedule = %s (%v)", res, err)
	}
	return r.Schedule.ChargingSchedulePeriod[0].Limit
}
