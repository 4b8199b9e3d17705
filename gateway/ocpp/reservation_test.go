package ocpp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/ledger"
)

// commanderFunc is the session commander of another operator link (MQTT) in the tests.
type commanderFunc func(context.Context, gateway.Command) (gateway.Result, error)

func (f commanderFunc) Do(ctx context.Context, c gateway.Command) (gateway.Result, error) {
	return f(ctx, c)
}

func reserve(c *csms, id int, tag string, expiry time.Duration) string {
	return c.Status("ReserveNow", map[string]any{"connectorId": 1, "expiryDate": time.Now().Add(expiry).UTC().Format(time.RFC3339Nano),
		"idTag": tag, "reservationId": id})
}

// ReserveNow makes connector 1 Reserved for one idTag: another idTag cannot start (locally,
// remotely or on another link), the reserved one can and its StartTransaction carries the
// reservationId; a reservation ends at its expiry or by CancelReservation.
func TestReservation(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	g := newStandIn(t)
	dir := t.TempDir()
	cp, _, stop := startCP(t, c, g, dir)
	c.WaitFor("online", cp.Online)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if got := c.Status("ReserveNow", map[string]any{"connectorId": 0, "expiryDate": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "idTag": "RES1", "reservationId": 1}); got != "Rejected" {
		t.Errorf("ReserveNow on connector 0 = %s, want Rejected (ReserveConnectorZeroSupported false)", got)
	}
	if got := reserve(c, 7, "RES1", time.Hour); got != "Accepted" {
		t.Fatalf("ReserveNow = %s", got)
	}
	c.WaitFor("connector 1 Reserved", func() bool { return lastStatus(t, c, 1) == "Reserved" })
	if got := reserve(c, 8, "RES2", time.Hour); got != "Occupied" {
		t.Errorf("a second reservation = %s, want Occupied", got)
	}
	if _, err := cp.StartLocal(ctx, "OTHER1"); !errors.Is(err, ocpp.ErrReserved) || g.running() {
		t.Errorf("StartLocal by another idTag while reserved: %v, want ErrReserved", err)
	}
	mqtt := cp.Commander(commanderFunc(func(context.Context, gateway.Command) (gateway.Result, error) {
		t.Error("a start by another idTag reached the control loop while reserved")
		return nil, nil
	}))
	if _, err := mqtt.Do(ctx, gateway.Command{Name: gateway.CmdStart, IDToken: "OTHER2"}); !errors.Is(err, ocpp.ErrReserved) {
		t.Errorf("start on another link while reserved: %v, want ErrReserved", err)
	}
	if got := c.Status("RemoteStartTransaction", map[string]any{"idTag": "OTHER3"}); got != "Accepted" {
		t.Fatalf("RemoteStartTransaction = %s", got)
	}
	// The remote start for OTHER3 gives up in the background; then RES1 can start.
	var id string
	c.WaitFor("RES1 to start", func() bool {
		var err error
		id, err = cp.StartLocal(ctx, "RES1")
		return err == nil
	})
	start := params[struct {
		IDTag         string `json:"idTag"`
		ReservationID *int   `json:"reservationId"`
	}](t, c.WaitCalls("StartTransaction", 1)[0])
	if start.IDTag != "RES1" || start.ReservationID == nil || *start.ReservationID != 7 {
		t.Errorf("StartTransaction idTag %s reservationId %v, want RES1 with 7", start.IDTag, start.ReservationID)
	}
	if n := len(c.Calls("StartTransaction")); n != 1 || id == "" {
		t.Errorf("%d StartTransactions, want only RES1's", n)
	}
	g.end(ledger.EndLocal)
	c.WaitFor("connector 1 Available after the reserved session", func() bool { return lastStatus(t, c, 1) == "Available" })

	// Expiry.
	if got := reserve(c, 9, "RES3", 1500*time.Millisecond); got != "Accepted" {
		t.Fatal(got)
	}
	c.WaitFor("connector 1 Reserved", func() bool { return lastStatus(t, c, 1) == "Reserved" })
	c.WaitFor("the reservation to expire", func() bool { return lastStatus(t, c, 1) == "Available" })
	if _, err := cp.StartLocal(ctx, "OTHER4"); err != nil {
		t.Errorf("after the expiry another idTag cannot start: %v", err)
	}
	g.end(ledger.EndLocal)

	// Cancellation.
	if got := reserve(c, 10, "RES4", time.Hour); got != "Accepted" {
		t.Fatal(got)
	}
	c.WaitFor("connector 1 Reserved", func() bool { return lastStatus(t, c, 1) == "Reserved" })
	if got := c.Status("CancelReservation", map[string]any{"reservationId": 11}); got != "Rejected" {
		t.Errorf("CancelReservation of an unknown id = %s, want Rejected", got)
	}
	if got := c.Status("CancelReservation", map[string]any{"reservationId": 10}); got != "Accepted" {
		t.Errorf("CancelReservation = %s, want Accepted", got)
	}
	c.WaitFor("connector 1 Available after the cancellation", func() bool { return lastStatus(t, c, 1) == "Available" })

	// A reservation survives a restart of the charge point.
	if got := reserve(c, 12, "RES5", time.Hour); got != "Accepted" {
		t.Fatal(got)
	}
	c.WaitFor("connector 1 Reserved", func() bool { return lastStatus(t, c, 1) == "Reserved" })
	stop()
	cp, _, _ = startCP(t, c, g, dir)
	c.WaitFor("online again", cp.Online)
	if _, err := cp.StartLocal(ctx, "OTHER5"); !errors.Is(err, ocpp.ErrReserved) {
		t.Errorf("after a restart, another idTag: %v, want ErrReserved", err)
	}
	if got := c.Status("CancelReservation", map[string]any{"reservationId": 12}); got != "Accepted" {
		t.Errorf("CancelReservation after a restart = %s, want Accepted", got)
	}
}
