package ocpp

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Reservation (OCPP 1.6 §3.12, §5.13 ReserveNow, §5.5 CancelReservation): connector 1 can be
// reserved for one idTag (or its parentIdTag) until an expiry; meanwhile it reports Reserved
// and only that idTag starts a session, whose StartTransaction carries the reservationId.
// Connector 0 cannot be reserved (ReserveConnectorZeroSupported is false). The reservation is
// kept in the config table as JSON under reservationKey, so it survives a restart.

const reservationKey = "chargegate:reservation"

// ErrReserved is returned for a start by another idTag while the connector is reserved.
var ErrReserved = errors.New("the connector is reserved for another idTag")

type reservation struct {
	ID     int       `json:"id"`
	IDTag  string    `json:"idTag"`
	Parent string    `json:"parentIdTag,omitempty"`
	Expiry time.Time `json:"expiry"`
}

// loadReservation reads the persisted reservation (New); an expired one is dropped later by
// the expiry timer Run arms.
func (cp *ChargePoint) loadReservation(v string) {
	if v == "" {
		return
	}
	var r reservation
	if json.Unmarshal([]byte(v), &r) == nil && r.IDTag != "" {
		cp.reservation = &r
	}
}

// reserveNow answers ReserveNow.
func (cp *ChargePoint) reserveNow(ctx context.Context, req reserveNowReq) string {
	if req.ConnectorID != connectorOne || req.IDTag == "" || len(req.IDTag) > 20 || len(req.ParentIDTag) > 20 {
		return "Rejected"
	}
	return cp.reserve(ctx, reservation{ID: req.ReservationID, IDTag: req.IDTag, Parent: req.ParentIDTag, Expiry: req.ExpiryDate.Time})
}

// reserve puts reservation r in force for both faces (1.6 ReserveNow, 2.0.1 ReserveNow, H01)
// and returns the status: Faulted, Unavailable (Inoperative), Occupied (a session, a start
// under way or another reservation), Rejected (expiry not in the future, or not stored), else
// Accepted; the same id replaces its reservation.
func (cp *ChargePoint) reserve(ctx context.Context, r reservation) string {
	cp.mu.Lock()
	c0, c1 := connectorStatuses(cp.status, cp.release != nil)
	busy := cp.current != "" || cp.pendingTag != "" || (cp.haveStatus && cp.status.Session != nil)
	other := cp.reservation != nil && cp.reservation.ID != r.ID
	inoperative := cp.inoperative
	cp.mu.Unlock()
	switch {
	case c0.Status == StatusFaulted || c1.Status == StatusFaulted:
		return "Faulted"
	case inoperative:
		return "Unavailable"
	case busy || other:
		return "Occupied"
	case !r.Expiry.After(time.Now()):
		return "Rejected"
	}
	b, _ := json.Marshal(r)
	if err := cp.q.setConfig(ctx, reservationKey, string(b)); err != nil {
		cp.log.Error("store reservation", "err", err)
		return "Rejected"
	}
	cp.mu.Lock()
	cp.reservation = &r
	cp.noteStatus(time.Now())
	cp.mu.Unlock()
	cp.reservationChanged()
	cp.armReservation()
	cp.poke()
	return "Accepted"
}

// reservationChanged lets the 2.0.1 face derive its connector status again (Reserved); the
// 1.6 face's noteStatus did that already.
func (cp *ChargePoint) reservationChanged() {
	if f := cp.face201; f != nil {
		f.refreshStatus()
	}
}

// runReservations arms the expiry timer while Run runs (either face); the returned func
// disarms it when Run ends.
func (cp *ChargePoint) runReservations() func() {
	cp.mu.Lock()
	cp.running = true
	cp.mu.Unlock()
	cp.armReservation()
	return func() {
		cp.mu.Lock()
		cp.running = false
		cp.mu.Unlock()
		cp.armReservation()
	}
}

// cancelReservation answers CancelReservation.
func (cp *ChargePoint) cancelReservation(ctx context.Context, id int) string {
	cp.mu.Lock()
	ok := cp.reservation != nil && cp.reservation.ID == id
	cp.mu.Unlock()
	if !ok {
		return "Rejected"
	}
	cp.endReservation(ctx, id, false)
	return "Accepted"
}

// endReservation drops reservation id (cancelled, expired or used); on the 2.0.1 face an
// expired one is reported (ReservationStatusUpdate Expired, H01).
func (cp *ChargePoint) endReservation(ctx context.Context, id int, expired bool) {
	cp.mu.Lock()
	if cp.reservation == nil || cp.reservation.ID != id {
		cp.mu.Unlock()
		return
	}
	cp.reservation = nil
	cp.noteStatus(time.Now())
	cp.mu.Unlock()
	if err := cp.q.setConfig(ctx, reservationKey, ""); err != nil {
		cp.log.Error("drop reservation", "err", err)
	}
	cp.reservationChanged()
	if f := cp.face201; f != nil && expired {
		f.reservationUpdate(id, "Expired")
	}
	cp.poke()
}

// armReservation (re)starts the timer that ends the reservation at its expiry.
func (cp *ChargePoint) armReservation() {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.resTimer != nil {
		cp.resTimer.Stop()
		cp.resTimer = nil
	}
	r := cp.reservation
	if r == nil || !cp.running {
		return
	}
	cp.resTimer = time.AfterFunc(time.Until(r.Expiry), func() {
		cp.log.Info("reservation expired", "reservation", r.ID)
		cp.endReservation(context.Background(), r.ID, true)
	})
}

// claimReservation checks a start by idTag (with parent, its parentIdTag) against the
// reservation: another idTag fails with ErrReserved; the reserved one is remembered so that
// its StartTransaction carries the reservationId.
func (cp *ChargePoint) claimReservation(idTag, parent string) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	r := cp.reservation
	if r == nil {
		return nil
	}
	if idTag != r.IDTag && (r.Parent == "" || parent != r.Parent) {
		return ErrReserved
	}
	cp.reservedStart = idTag
	return nil
}

// useReservation returns the reservationId a StartTransaction for tag carries and ends the
// reservation it fulfils. Called with mu held; the persisted copy is dropped by the caller
// through endReservation's store, here done asynchronously.
func (cp *ChargePoint) useReservation(tag string) *int {
	r := cp.reservation
	if r == nil || (tag != r.IDTag && tag != cp.reservedStart) {
		return nil
	}
	cp.reservedStart = ""
	id := r.ID
	return &id
}
