package ocpp_test

import (
	"slices"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
)

// Reservations on 2.0.1 (H01, H02, H03): ReserveNow makes EVSE 1 Reserved and only the reserved
// idToken may start; its Started event carries reservationId and the reservation ends;
// CancelReservation frees the EVSE; a reservation outlives a restart; at the expiry the CSMS gets
// ReservationStatusUpdate Expired.
func TestV201Reservations(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	dir := t.TempDir()
	cp, _, stop := startCP201(t, c, g, dir)
	c.WaitFor("online", cp.Online)
	c.WaitFor("Available", func() bool { return lastStatus201(t, c) == "Available" })
	reserve := func(id int, tok string, expiry time.Duration, extra map[string]any) string {
		t.Helper()
		req := map[string]any{"id": id, "expiryDateTime": time.Now().Add(expiry).UTC().Format(time.RFC3339),
			"idToken": map[string]string{"idToken": tok, "type": "ISO14443"}}
		for k, v := range extra {
			req[k] = v
		}
		return c.Status("ReserveNow", req)
	}
	start := func(id int, tok string) string {
		return c.Status("RequestStartTransaction", map[string]any{"remoteStartId": id, "idToken": map[string]string{"idToken": tok, "type": "ISO14443"}})
	}

	if s := reserve(7, "04AABBCC", -time.Minute, nil); s != "Rejected" {
		t.Errorf("ReserveNow with a past expiry = %s, want Rejected", s)
	}
	if s := reserve(7, "04AABBCC", time.Hour, map[string]any{"evseId": 2}); s != "Rejected" {
		t.Errorf("ReserveNow of EVSE 2 = %s, want Rejected", s)
	}
	if s := reserve(7, "04AABBCC", time.Hour, map[string]any{"evseId": 1, "connectorType": "cType2"}); s != "Accepted" {
		t.Fatalf("ReserveNow = %s", s)
	}
	c.WaitFor("Reserved", func() bool { return lastStatus201(t, c) == "Reserved" })
	if s := reserve(8, "04DDEEFF", time.Hour, nil); s != "Occupied" {
		t.Errorf("a second reservation = %s, want Occupied", s)
	}
	if s := start(1, "04DDEEFF"); s != "Rejected" {
		t.Errorf("RequestStartTransaction of another idToken = %s, want Rejected", s)
	}
	if s := c.Status("CancelReservation", map[string]int{"reservationId": 99}); s != "Rejected" {
		t.Errorf("CancelReservation of an unknown id = %s, want Rejected", s)
	}
	if s := start(2, "04AABBCC"); s != "Accepted" {
		t.Fatalf("RequestStartTransaction of the reserved idToken = %s", s)
	}
	c.WaitFor("the session", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.session != nil })
	g.publish()
	c.WaitCalls("TransactionEvent", 1)
	started := params[struct {
		EventType     string
		ReservationID *int
	}](t, c.Calls("TransactionEvent")[0])
	if started.EventType != "Started" || started.ReservationID == nil || *started.ReservationID != 7 {
		t.Errorf("Started %+v, want reservationId 7", started)
	}
	c.WaitFor("Occupied", func() bool { return lastStatus201(t, c) == "Occupied" })
	if s := c.Status("CancelReservation", map[string]int{"reservationId": 7}); s != "Rejected" {
		t.Errorf("CancelReservation of the used reservation = %s, want Rejected", s)
	}
	g.end(ledger.EndLocal)
	c.WaitFor("Available after the session", func() bool { return lastStatus201(t, c) == "Available" })

	if s := reserve(9, "04AABBCC", time.Hour, nil); s != "Accepted" {
		t.Fatalf("ReserveNow 9 = %s", s)
	}
	c.WaitFor("Reserved", func() bool { return lastStatus201(t, c) == "Reserved" })
	stop()
	n := len(c.Calls("StatusNotification"))
	cp, _, _ = startCP201(t, c, g, dir)
	c.WaitFor("online again", cp.Online)
	if got := statusNotes201(t, c)[len(c.WaitCalls("StatusNotification", n+1))-1]; got != "Reserved" {
		t.Errorf("status after a restart %q, want Reserved (the reservation persisted)", got)
	}
	if s := c.Status("CancelReservation", map[string]int{"reservationId": 9}); s != "Accepted" {
		t.Errorf("CancelReservation = %s", s)
	}
	c.WaitFor("Available after the cancel", func() bool { return lastStatus201(t, c) == "Available" })

	before := len(statusNotes201(t, c))
	if s := reserve(10, "04AABBCC", 3*time.Second, nil); s != "Accepted" {
		t.Fatalf("ReserveNow 10 = %s", s)
	}
	u := params[struct {
		ReservationID           int
		ReservationUpdateStatus string
	}](t, c.WaitCalls("ReservationStatusUpdate", 1)[0])
	if u.ReservationID != 10 || u.ReservationUpdateStatus != "Expired" {
		t.Errorf("ReservationStatusUpdate %+v, want 10 Expired", u)
	}
	c.WaitFor("Available after the expiry", func() bool { return lastStatus201(t, c) == "Available" })
	if got := statusNotes201(t, c)[before:]; !slices.Equal(got, []string{"Reserved", "Available"}) {
		t.Errorf("statuses around the expiring reservation %v, want Reserved, Available", got)
	}
	if n := len(c.Calls("ReservationStatusUpdate")); n != 1 {
		t.Errorf("%d ReservationStatusUpdates, want only the expiry's", n)
	}
}
