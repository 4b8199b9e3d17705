package ocpp

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/chargegate/chargegate/gateway"
)

// Block H (reservations) on the 2.0.1 face over the core's reservation (reservation.go): one
// reservation of EVSE 1 for an idToken (or its groupIdToken) until expiryDateTime, persisted;
// meanwhile the connector reports Reserved and only that idToken may start; the Started event
// of the transaction that fulfils it carries reservationId; at expiry the CSMS gets a
// ReservationStatusUpdate Expired.

type reserveNow201Req struct {
	ID             int          `json:"id"`
	ExpiryDateTime Time         `json:"expiryDateTime"`
	ConnectorType  string       `json:"connectorType,omitempty"`
	IDToken        idTokenType  `json:"idToken"`
	EVSEID         *int         `json:"evseId,omitempty"`
	GroupIDToken   *idTokenType `json:"groupIdToken,omitempty"`
}

type reservationUpdate201 struct {
	ReservationID           int    `json:"reservationId"`
	ReservationUpdateStatus string `json:"reservationUpdateStatus"` // Expired | Removed
}

// reserveNow answers ReserveNow (H01): Rejected for another EVSE or an empty idToken, Occupied
// while a RequestStartTransaction is being started, else the core's answer. The outlet's
// connector type is not configured, so connectorType is not checked.
func (cp *ChargePoint201) reserveNow(ctx context.Context, req reserveNow201Req) string {
	if (req.EVSEID != nil && *req.EVSEID != evseOne) || req.IDToken.IDToken == "" || len(req.IDToken.IDToken) > 36 {
		return "Rejected"
	}
	cp.mu.Lock()
	pending := cp.pendingStart != ""
	cp.mu.Unlock()
	if pending {
		return "Occupied"
	}
	r := reservation{ID: req.ID, IDTag: req.IDToken.IDToken, Expiry: req.ExpiryDateTime.Time}
	if g := req.GroupIDToken; g != nil {
		r.Parent = g.IDToken
	}
	return cp.base.reserve(ctx, r)
}

// reservationUpdate queues a ReservationStatusUpdate (the core ends an expired reservation).
func (cp *ChargePoint201) reservationUpdate(id int, status string) {
	cp.mu.Lock()
	cp.resUpdates = append(cp.resUpdates, reservationUpdate201{ReservationID: id, ReservationUpdateStatus: status})
	cp.mu.Unlock()
	cp.poke()
}

// sendReservationUpdates sends the queued ReservationStatusUpdates in order.
func (cp *ChargePoint201) sendReservationUpdates(ctx context.Context, conn *rpcConn) error {
	for {
		cp.mu.Lock()
		if len(cp.resUpdates) == 0 {
			cp.mu.Unlock()
			return nil
		}
		u := cp.resUpdates[0]
		cp.mu.Unlock()
		err := conn.call(ctx, "", "ReservationStatusUpdate", u, nil)
		var cerr *CallError
		if err != nil && !errors.As(err, &cerr) {
			return err
		}
		if err != nil {
			cp.log.Warn("CSMS refused a ReservationStatusUpdate; dropped", "reservation", u.ReservationID, "err", err)
		}
		cp.mu.Lock()
		cp.resUpdates = cp.resUpdates[1:]
		cp.mu.Unlock()
	}
}

// outlet201 derives EVSE 1's ConnectorStatusEnumType from st: Unavailable whenever no session
// runs while Inoperative is wanted (persisted) or the core holds new sessions for it;
// Reserved in place of Available while a reservation holds it.
func (cp *ChargePoint201) outlet201(st gateway.Status) string {
	cp.base.mu.Lock()
	unavailable := cp.base.inoperative || cp.base.release != nil
	reserved := cp.base.reservation != nil
	cp.base.mu.Unlock()
	_, outlet := connectorStatuses(st, unavailable)
	if reserved && outlet.Status == StatusAvailable {
		outlet.Status = StatusReserved
	}
	return connectorStatus201(outlet)
}

// claimStart checks a RequestStartTransaction against the reservation: ErrReserved for
// another idToken whose groupIdToken (given, or from the local list or cache) is not the
// reservation's.
func (cp *ChargePoint201) claimStart(ctx context.Context, req requestStartReq) error {
	group := ""
	if g := req.GroupIDToken; g != nil {
		group = g.IDToken
	} else if info, ok := cp.base.lookupLocal(ctx, req.IDToken.IDToken, cp.authRules()); ok {
		group = info.ParentIDTag
	}
	return cp.base.claimReservation(req.IDToken.IDToken, group)
}

// unclaim forgets a claimed reservation start that did not happen.
func (cp *ChargePoint201) unclaim() {
	cp.base.mu.Lock()
	cp.base.reservedStart = ""
	cp.base.mu.Unlock()
}

// useReservation returns the reservationId the Started event of a new session started by tok
// carries, and ends the reservation it fulfils.
func (cp *ChargePoint201) useReservation(ctx context.Context, session, tok string) *int {
	if known, _, _, err := cp.q.known(ctx, session); err != nil || known {
		return nil
	}
	cp.base.mu.Lock()
	id := cp.base.useReservation(tok)
	cp.base.mu.Unlock()
	if id != nil {
		cp.base.endReservation(ctx, *id, false)
	}
	return id
}

// handleReservation answers ReserveNow and CancelReservation; ok false for other actions.
func (cp *ChargePoint201) handleReservation(ctx context.Context, action string, payload json.RawMessage) (res any, cerr *CallError, ok bool) {
	switch action {
	case "ReserveNow":
		var req reserveNow201Req
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr, true
		}
		return map[string]string{"status": cp.reserveNow(ctx, req)}, nil, true
	case "CancelReservation":
		var req struct {
			ReservationID int `json:"reservationId"`
		}
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr, true
		}
		return map[string]string{"status": cp.base.cancelReservation(ctx, req.ReservationID)}, nil, true
	}
	return nil, nil, false
}
