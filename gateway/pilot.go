package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/ledger"
)

// Pilot is a charging point's IEC 61851-1 control pilot (hal/pilot) as the control loop sees
// it: the vehicle's state and whether the contactor may close. Changed is signalled (coalesced)
// on every change of State; State fails (wrapped) only when the backend cannot tell.
//
// With a Pilot the contactor follows the vehicle: a session starts only with a vehicle
// connected (B, C or D); its contactor closes once the pilot allows it (state C or D with a
// current offered) and stays open until then — the begin entry is written at the start
// either way; the pilot opens the contactor by itself when power must stop (the vehicle
// stopped requesting, a pause to 0 A after its grace, a fault), which keeps the session;
// the session ends when the vehicle is unplugged (state A: ledger.EndUnplugged).
type Pilot interface {
	State(ctx context.Context) (hal.ControlState, error)
	Changed() <-chan struct{}
}

// Allowance is the current a charging point may draw now and why (gateway/site's allocation:
// 0 pauses), shown in the status and telemetry.
type Allowance struct {
	CurrentA float64
	Reason   string
}

// pilotChanged is the channel of the pilot's changes, nil without a pilot.
func (g *Controller) pilotChanged() <-chan struct{} {
	if g.opt.Pilot == nil {
		return nil
	}
	return g.opt.Pilot.Changed()
}

// onPilot reads the pilot's state and lets the session follow it: the contactor closes when
// the pilot allows it, and the session ends when the vehicle has left.
func (g *Controller) onPilot(ctx context.Context) {
	if g.opt.Pilot == nil {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	st, err := g.opt.Pilot.State(sctx)
	cancel()
	if err != nil {
		g.log.Warn("read the control pilot", "err", err)
		return
	}
	if st.CP != g.cp.CP {
		g.log.Info("control pilot", "state", st.CP.String(), "offered_a", float64(st.Offered)/1e9, "allowed", st.ContactorAllowed)
	}
	g.cp = st
	s := g.session
	if s == nil || (s.State != "charging" && s.State != "paused") {
		return
	}
	if st.CP == hal.CPStateA {
		g.stopSession(ctx, ledger.EndUnplugged)
		return
	}
	if st.ContactorAllowed && s.State == "charging" && !g.board.RelayClosed() && g.board.Fault() == nil {
		if err := g.board.CloseRelay(ctx); err != nil {
			g.log.Error("close relay for the vehicle", "session", s.ID, "err", err)
			g.openRelay(ctx)
			g.stopSession(ctx, ledger.EndRelayNotClosed)
		}
	}
}

// closeForSession closes the contactor at the start or resumption of a session: at once without
// a pilot, only when the pilot allows it with one (onPilot closes it later).
func (g *Controller) closeForSession(ctx context.Context) error {
	if g.opt.Pilot != nil && !g.cp.ContactorAllowed {
		return nil
	}
	return g.board.CloseRelay(ctx)
}

// vehicleMissing refuses a start on a charging point with a pilot and no vehicle connected.
func (g *Controller) vehicleMissing() error {
	if g.opt.Pilot == nil || g.cp.CP.Connected() {
		return nil
	}
	return fmt.Errorf("%w: no vehicle connected (control pilot state %s)", ErrSessionState, g.cp.CP)
}
