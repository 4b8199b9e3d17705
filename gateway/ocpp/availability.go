package ocpp

import (
	"context"
	"errors"
	"time"

	"github.com/chargegate/chargegate/gateway"
)

// availabilityKey stores the availability the CSMS asked for in the config table; it is not a
// configuration key the CSMS can read or write (OCPP 1.6 §5.2: availability persists across
// reboots).
const availabilityKey = "chargegate:availability"

// changeAvailability answers ChangeAvailability (OCPP 1.6 §5.2) for connector 0 or 1 (the same
// outlet): Inoperative holds new sessions in the gateway at once when idle (Accepted), or when
// the running session ends (Scheduled); Operative releases the hold.
func (cp *ChargePoint) changeAvailability(ctx context.Context, req changeAvailabilityReq) string {
	if req.ConnectorID < 0 || req.ConnectorID > connectorOne || (req.Type != "Inoperative" && req.Type != "Operative") {
		return "Rejected"
	}
	if err := cp.q.setConfig(ctx, availabilityKey, req.Type); err != nil {
		cp.log.Error("store availability", "err", err)
		return "Rejected"
	}
	cp.mu.Lock()
	cp.inoperative = req.Type == "Inoperative"
	cp.mu.Unlock()
	if req.Type == "Operative" {
		cp.operative()
		return "Accepted"
	}
	switch err := cp.applyAvailability(ctx); {
	case err == nil:
		return "Accepted"
	case errors.Is(err, gateway.ErrSessionRunning):
		return "Scheduled"
	default:
		cp.log.Error("hold sessions for Inoperative", "err", err)
		return "Rejected"
	}
}

// applyAvailability takes the gateway's hold when Inoperative is wanted and not yet in force.
func (cp *ChargePoint) applyAvailability(ctx context.Context) error {
	cp.mu.Lock()
	want, held := cp.inoperative, cp.release != nil
	cp.mu.Unlock()
	if !want || held {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	release, err := cp.sessions.Hold(ctx)
	if err != nil {
		return err
	}
	cp.mu.Lock()
	if cp.release != nil || !cp.inoperative { // raced with another apply or an Operative
		cp.mu.Unlock()
		release()
		return nil
	}
	cp.release = release
	cp.noteStatus(time.Now())
	cp.mu.Unlock()
	cp.poke()
	return nil
}

// operative releases the gateway's hold, if taken.
func (cp *ChargePoint) operative() {
	cp.mu.Lock()
	release := cp.release
	cp.release = nil
	cp.noteStatus(time.Now())
	cp.mu.Unlock()
	if release != nil {
		release()
		cp.poke()
	}
}
