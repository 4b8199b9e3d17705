package ocpp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/chargegate/chargegate/gateway"
)

// Controller is what the adapters below need of gateway.Controller.
type Controller interface {
	Do(ctx context.Context, c gateway.Command) (gateway.Result, error)
	Status() gateway.Status
	Hold(ctx context.Context) (release func(), err error)
}

// ControllerSessions returns the Sessions that run OCPP's remote start and stop as the control
// loop's start and stop commands.
func ControllerSessions(c Controller) Sessions { return controllerSessions{c} }

type controllerSessions struct{ c Controller }

func requestID() string {
	var b [8]byte
	rand.Read(b[:])
	return "ocpp-" + hex.EncodeToString(b[:])
}

// Start runs the start command with idTag as the id token.
func (s controllerSessions) Start(ctx context.Context, idTag string) (string, error) {
	res, err := s.c.Do(ctx, gateway.Command{Name: gateway.CmdStart, RequestID: requestID(), IDToken: idTag})
	if err != nil {
		return "", fmt.Errorf("start session: %w", err)
	}
	id, _ := res["session_id"].(string)
	if id == "" {
		return "", errors.New("start session: the controller named no session")
	}
	return id, nil
}

// Stop runs the stop command if sessionID is the running session. (Between the check and the
// command another session could start in theory; the control loop has one session at a time
// and the CSMS names the one it saw, so the window is a few microseconds of a race nobody
// triggers remotely.)
func (s controllerSessions) Stop(ctx context.Context, sessionID string) error {
	st := s.c.Status()
	if st.Session == nil || st.Session.ID != sessionID {
		return fmt.Errorf("stop session %s: %w", sessionID, gateway.ErrNoSession)
	}
	if _, err := s.c.Do(ctx, gateway.Command{Name: gateway.CmdStop, RequestID: requestID()}); err != nil {
		return fmt.Errorf("stop session %s: %w", sessionID, err)
	}
	return nil
}

// Hold keeps new sessions from starting (gateway.Controller.Hold).
func (s controllerSessions) Hold(ctx context.Context) (func(), error) { return s.c.Hold(ctx) }

// Commander wraps the session commander that the other operator links (MQTT, local API) use,
// so that a session they start reaches the CSMS with its id token at once rather than a
// status poll later under FallbackIDTag.
func (cp *ChargePoint) Commander(next gateway.SessionCommander) gateway.SessionCommander {
	return commander{cp, next}
}

type commander struct {
	cp   *ChargePoint
	next gateway.SessionCommander
}

func (c commander) Do(ctx context.Context, cmd gateway.Command) (gateway.Result, error) {
	if cmd.Name == gateway.CmdStart || cmd.Name == gateway.CmdAuthorize {
		// A start on another link honours a reservation: only its idTag may start.
		c.cp.mu.Lock()
		r := c.cp.reservation
		c.cp.mu.Unlock()
		if r != nil && cmd.IDToken != r.IDTag {
			return nil, fmt.Errorf("%s: %w", cmd.Name, ErrReserved)
		}
	}
	res, err := c.next.Do(ctx, cmd)
	if err == nil && (cmd.Name == gateway.CmdStart || cmd.Name == gateway.CmdAuthorize) {
		if id, _ := res["session_id"].(string); id != "" {
			c.cp.tagSession(id, cmd.IDToken)
		}
	}
	return res, err
}

// Follow feeds the charge point the control loop's status every period until ctx ends
// (gateway.Controller.Status is a snapshot, not a notification).
func (cp *ChargePoint) Follow(ctx context.Context, status func() gateway.Status, period time.Duration) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		cp.Status(status())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
