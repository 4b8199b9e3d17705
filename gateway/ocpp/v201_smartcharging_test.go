package ocpp_test

import (
	"encoding/json"
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
	composite := func() float64 {
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
	c.WaitFor("the TxProfile's limit", func() bool { return composite() == 6 })
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
	if got := composite(); got != 32 {
		t.Errorf("composite limit after the transaction = %v, want 32: its TxProfile ends with it", got)
	}
}
