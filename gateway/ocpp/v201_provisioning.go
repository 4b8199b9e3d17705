package ocpp

import (
	"context"
	"encoding/json"
	"time"
)

// Block B beyond boot and the device model: Reset, ChangeAvailability and TriggerMessage on
// the 2.0.1 face, over the core's availability hold (availability.go) and security events.

// bootReasonKey keeps the BootNotification reason of the next start (RemoteReset after a
// Reset) in the config table; cleared once a boot with it is accepted.
const bootReasonKey = "chargegate:v201:boot_reason"

type resetReq struct {
	Type   string `json:"type"` // Immediate | OnIdle
	EVSEID *int   `json:"evseId,omitempty"`
}

type changeAvailability201Req struct {
	OperationalStatus string    `json:"operationalStatus"`
	EVSE              *evseType `json:"evse,omitempty"`
}

type triggerMessage201Req struct {
	RequestedMessage string    `json:"requestedMessage"`
	EVSE             *evseType `json:"evse,omitempty"`
}

// reset answers Reset (B11/B12): Rejected without Config.Reset or for another EVSE; OnIdle
// while a transaction runs is Scheduled (the reset follows its end), else Accepted. An
// Immediate reset ends the running transaction first (ResetCommand / ImmediateReset).
func (cp *ChargePoint201) reset(req resetReq) (string, func()) {
	if cp.cfg.Reset == nil || (req.EVSEID != nil && *req.EVSEID != evseOne) || (req.Type != "Immediate" && req.Type != "OnIdle") {
		return "Rejected", nil
	}
	cp.mu.Lock()
	session := cp.current
	cp.mu.Unlock()
	status := "Accepted"
	if session != "" && req.Type == "OnIdle" {
		status = "Scheduled"
	}
	return status, func() {
		cp.bg.Go(func() {
			if session != "" && req.Type == "Immediate" {
				cp.stopFor(session, [2]string{"ResetCommand", "ImmediateReset"})
			}
			for session != "" { // the transaction's end (a stop, or OnIdle: whatever ends it)
				cp.mu.Lock()
				ended := cp.current != session
				cp.mu.Unlock()
				if ended {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := cp.q.setConfig(ctx, bootReasonKey, "RemoteReset"); err != nil {
				cp.log.Error("store the boot reason", "err", err)
			}
			cp.base.securityEvent(EventResetOrReboot, req.Type+" reset requested by the CSMS")
			cp.poke()
			for deadline := time.Now().Add(5 * time.Second); cp.Online() && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				n, err := cp.q.Backlog(ctx)
				m, err2 := cp.q.securityBacklog(ctx)
				if err != nil || err2 != nil || n+m == 0 {
					break
				}
			}
			cp.log.Warn("reset requested by the CSMS", "type", req.Type)
			cp.cfg.Reset(true)
		})
	}
}

// changeAvailability answers ChangeAvailability (G03/G04) for the station or EVSE 1 (the same
// outlet) with the core's hold: Accepted, Scheduled while a transaction runs, Rejected.
func (cp *ChargePoint201) changeAvailability(ctx context.Context, req changeAvailability201Req) string {
	connector := 0
	if req.EVSE != nil {
		if req.EVSE.ID != evseOne || (req.EVSE.ConnectorID != nil && *req.EVSE.ConnectorID != 1) {
			return "Rejected"
		}
		connector = connectorOne
	}
	status := cp.base.changeAvailability(ctx, changeAvailabilityReq{ConnectorID: connector, Type: req.OperationalStatus})
	cp.refreshStatus()
	return status
}

// refreshStatus derives the connector status again from the latest gateway status.
func (cp *ChargePoint201) refreshStatus() {
	cp.mu.Lock()
	st, have := cp.last, cp.haveStatus
	cp.mu.Unlock()
	if have {
		status := cp.outlet201(st)
		cp.mu.Lock()
		cp.status = status
		cp.mu.Unlock()
	}
	cp.poke()
}

// trigger answers TriggerMessage (F06) for BootNotification, Heartbeat, StatusNotification,
// FirmwareStatusNotification, LogStatusNotification and SignChargingStationCertificate (A02;
// Rejected without Config.CertDir); the message is sent after the answer.
func (cp *ChargePoint201) trigger(req triggerMessage201Req) (string, func()) {
	if req.EVSE != nil && req.EVSE.ID != evseOne {
		return "Rejected", nil
	}
	switch req.RequestedMessage {
	case "BootNotification", "Heartbeat", "StatusNotification", "FirmwareStatusNotification", "LogStatusNotification":
	case "SignChargingStationCertificate":
		if cp.cfg.CertDir == "" {
			return "Rejected", nil
		}
	default:
		return "NotImplemented", nil
	}
	return "Accepted", func() {
		cp.mu.Lock()
		cp.triggered = append(cp.triggered, req.RequestedMessage)
		cp.mu.Unlock()
		cp.poke()
	}
}

// sendTriggered sends the triggered messages in order.
func (cp *ChargePoint201) sendTriggered(ctx context.Context, conn *rpcConn) error {
	for {
		cp.mu.Lock()
		if len(cp.triggered) == 0 {
			cp.mu.Unlock()
			return nil
		}
		msg := cp.triggered[0]
		cp.triggered = cp.triggered[1:]
		cp.mu.Unlock()
		var err error
		switch msg {
		case "BootNotification":
			cp.mu.Lock()
			cp.bootReason = "Triggered"
			cp.mu.Unlock()
			err = cp.boot(ctx, conn)
		case "Heartbeat":
			err = conn.call(ctx, "", "Heartbeat", struct{}{}, nil)
		case "StatusNotification":
			cp.mu.Lock()
			cp.statusSent = ""
			cp.mu.Unlock()
			err = cp.sendStatus(ctx, conn)
		case "SignChargingStationCertificate":
			err = cp.base.requestCertificate(ctx, conn)
		case "FirmwareStatusNotification", "LogStatusNotification":
			err = cp.sendFileStatus(ctx, conn, msg)
		}
		if err != nil {
			return err
		}
	}
}

// handleProvisioning answers Reset, ChangeAvailability and TriggerMessage; ok false for other
// actions.
func (cp *ChargePoint201) handleProvisioning(ctx context.Context, action string, payload json.RawMessage) (res any, after func(), cerr *CallError, ok bool) {
	switch action {
	case "Reset":
		var req resetReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr, true
		}
		status, after := cp.reset(req)
		return map[string]string{"status": status}, after, nil, true
	case "ChangeAvailability":
		var req changeAvailability201Req
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr, true
		}
		return map[string]string{"status": cp.changeAvailability(ctx, req)}, nil, nil, true
	case "TriggerMessage":
		var req triggerMessage201Req
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr, true
		}
		status, after := cp.trigger(req)
		return map[string]string{"status": status}, after, nil, true
	}
	return nil, nil, nil, false
}
