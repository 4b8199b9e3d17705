package ocpp_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/ledger"
)

func profile(id, level int, purpose string, start time.Time, unit string, periods ...[2]float64) map[string]any {
	var ps []any
	for _, p := range periods {
		ps = append(ps, map[string]any{"startPeriod": int(p[0]), "limit": p[1]})
	}
	return map[string]any{"chargingProfileId": id, "stackLevel": level, "chargingProfilePurpose": purpose, "chargingProfileKind": "Absolute",
		"chargingSchedule": map[string]any{"startSchedule": start.UTC().Format(time.RFC3339), "chargingRateUnit": unit, "chargingSchedulePeriod": ps}}
}

func waitPause(t *testing.T, ch <-chan bool, want bool, why string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("%s: Pause(%v), want Pause(%v)", why, got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no Pause(%v)", why, want)
	}
}

// Charging profiles stack (TxProfile over TxDefaultProfile, capped by ChargePointMaxProfile),
// a limit of 0 pauses through Config.Pause and a positive one resumes; GetCompositeSchedule
// shows the stacked schedule; TxProfiles end with their transaction; profiles persist.
func TestSmartCharging(t *testing.T) {
	c := startCSMS(t, "--interval", "30", "--txid-start", "5")
	g := newStandIn(t)
	dir := t.TempDir()
	pauses := make(chan bool, 8)
	withPause := func(cfg *ocpp.Config) { cfg.Pause = func(p bool) { pauses <- p } }
	cp, _, stop := startCP(t, c, g, dir, withPause)
	c.WaitFor("online", cp.Online)
	now := time.Now().Add(-time.Second)

	set := func(connector int, p map[string]any) string {
		return c.Status("SetChargingProfile", map[string]any{"connectorId": connector, "csChargingProfiles": p})
	}
	if got := set(0, profile(1, 0, "ChargePointMaxProfile", now, "A", [2]float64{0, 16})); got != "Accepted" {
		t.Fatalf("SetChargingProfile ChargePointMaxProfile = %s", got)
	}
	if got := set(1, profile(2, 0, "ChargePointMaxProfile", now, "A", [2]float64{0, 16})); got != "Rejected" {
		t.Errorf("ChargePointMaxProfile on connector 1 = %s, want Rejected", got)
	}
	if got := set(1, profile(3, 1, "TxProfile", now, "A", [2]float64{0, 0})); got != "Rejected" {
		t.Errorf("TxProfile without a transaction = %s, want Rejected", got)
	}
	// 11 kW on three phases is 15.9 A: the default profile, under the 16 A cap.
	if got := set(1, profile(4, 0, "TxDefaultProfile", now, "W", [2]float64{0, 11000})); got != "Accepted" {
		t.Fatal(got)
	}
	if l, ok := cp.Limit(); !ok || math.Abs(l-11000.0/690) > 0.01 {
		t.Errorf("Limit = %v %v, want 15.94 A from the TxDefaultProfile", l, ok)
	}

	g.startLocal("TAG")
	c.WaitCalls("StartTransaction", 1)
	c.WaitFor("the transaction id", func() bool { return len(transactionIDs(t, c)) == 1 })
	// A TxProfile pausing for an hour, then 32 A (capped at 16 A).
	if got := set(1, profile(5, 1, "TxProfile", now, "A", [2]float64{0, 0}, [2]float64{3600, 32})); got != "Accepted" {
		t.Fatalf("SetChargingProfile TxProfile = %s", got)
	}
	waitPause(t, pauses, true, "limit 0")
	res, err := c.Call("GetCompositeSchedule", map[string]any{"connectorId": 1, "duration": 7200, "chargingRateUnit": "A"})
	if err != nil {
		t.Fatal(err)
	}
	var cs struct {
		Status           string
		ChargingSchedule struct {
			ChargingRateUnit       string
			ChargingSchedulePeriod []struct {
				StartPeriod int
				Limit       float64
			}
		}
	}
	json.Unmarshal(res, &cs)
	p := cs.ChargingSchedule.ChargingSchedulePeriod
	if cs.Status != "Accepted" || len(p) != 2 || p[0].Limit != 0 || p[1].Limit != 16 || p[1].StartPeriod < 3597 || p[1].StartPeriod > 3600 {
		t.Errorf("composite schedule %s %+v, want 0 A now and 16 A after an hour", cs.Status, p)
	}
	if got := c.Status("ClearChargingProfile", map[string]any{"id": 5}); got != "Accepted" {
		t.Errorf("ClearChargingProfile = %s", got)
	}
	waitPause(t, pauses, false, "TxProfile cleared")
	if got := c.Status("ClearChargingProfile", map[string]any{"id": 5}); got != "Unknown" {
		t.Errorf("ClearChargingProfile of a removed profile = %s, want Unknown", got)
	}
	// A TxProfile ends with its transaction.
	if got := set(1, profile(6, 2, "TxProfile", now, "A", [2]float64{0, 0})); got != "Accepted" {
		t.Fatal(got)
	}
	waitPause(t, pauses, true, "limit 0 again")
	g.end(ledger.EndLocal)
	waitPause(t, pauses, false, "transaction ended")

	// The profiles are in ocpp.db: a restarted charge point has the 16 A cap and the default.
	stop()
	cp, _, _ = startCP(t, c, g, dir, withPause)
	if l, ok := cp.Limit(); !ok || math.Abs(l-11000.0/690) > 0.01 {
		t.Errorf("after a restart Limit = %v %v, want 15.94 A", l, ok)
	}
	c.WaitFor("online", cp.Online)
	if got := c.Status("ClearChargingProfile", map[string]any{"chargingProfilePurpose": "TxDefaultProfile"}); got != "Accepted" {
		t.Errorf("ClearChargingProfile by purpose = %s", got)
	}
	if l, ok := cp.Limit(); !ok || l != 16 {
		t.Errorf("Limit = %v %v, want the 16 A cap", l, ok)
	}

	// A remote start's charging profile is the transaction's TxProfile (Relative: from the
	// transaction's begin); it goes with the transaction.
	relative := map[string]any{"chargingProfileId": 9, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
		"chargingSchedule": map[string]any{"chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 0}}}}
	if got := c.Status("RemoteStartTransaction", map[string]any{"idTag": "REMOTE1", "chargingProfile": relative}); got != "Accepted" {
		t.Fatalf("RemoteStartTransaction with a profile = %s", got)
	}
	waitPause(t, pauses, true, "the remote start's TxProfile")
	c.WaitFor("the second transaction id", func() bool { return len(transactionIDs(t, c)) == 2 })
	if got := c.Status("RemoteStopTransaction", map[string]any{"transactionId": transactionIDs(t, c)[1]}); got != "Accepted" {
		t.Fatal(got)
	}
	waitPause(t, pauses, false, "the remote transaction ended")
}
