package ocpp

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Blocks L and N on the 2.0.1 face: UpdateFirmware over the core's firmware job and update
// agent (firmware.go), GetLog over the core's upload (diagnostics.go). The statuses
// (FirmwareStatusNotification, LogStatusNotification, both with the requestId) are sent by
// the core's connection loop (link.go).

// withInfo is a status-only answer with its statusInfo.
func withInfo(status, code, info string) status201Conf {
	return status201Conf{Status: status, StatusInfo: reason(code, info)}
}

// updateFirmware answers UpdateFirmware (L01 with signingCertificate and signature, L02
// without). Rejected: no update agent, a location that is not http(s), only one of
// signingCertificate and signature, or an update that reached the agent already.
// InvalidCertificate (security event InvalidFirmwareSigningCertificate): the signing
// certificate is not acceptable (firmwareSigner). AcceptedCanceled: a job that had not reached
// the agent yet (its retrieveDateTime to come) is replaced by this one. Otherwise Accepted:
// the job is persisted and handed to the agent at retrieveDateTime (the request's signature
// checked first when it has one); the agent verifies the bundle's own signature either way
// and waits for the running session to end before it installs. retries, retryInterval and
// installDateTime are not passed on: the agent retries by its own configuration and installs
// once the bundle is verified and no session runs.
func (cp *ChargePoint201) updateFirmware(ctx context.Context, req signedUpdateFirmwareReq) status201Conf {
	b, f := cp.base, req.Firmware
	if b.cfg.Firmware == nil {
		return withInfo("Rejected", "NoUpdateAgent", "this charging station has no firmware update agent")
	}
	if err := uploadable(f.Location); err != nil {
		return withInfo("Rejected", "InvalidURL", err.Error())
	}
	signed := f.SigningCertificate != "" || f.Signature != ""
	if signed && (f.SigningCertificate == "" || f.Signature == "") {
		return withInfo("Rejected", "MissingSignature", "signingCertificate and signature go together")
	}
	if signed {
		if _, err := b.firmwareSigner(ctx, f.SigningCertificate); err != nil {
			cp.log.Warn("signed firmware refused", "err", err)
			b.securityEvent(EventInvalidFirmwareSigningCertificate, err.Error())
			b.poke()
			return withInfo("InvalidCertificate", "InvalidCertificate", err.Error())
		}
	}
	job := &firmwareJob{ID: time.Now().UnixNano(), Signed: signed, OCPP201: true, RequestID: req.RequestID,
		Location: f.Location, Retrieve: f.RetrieveDateTime.Time}
	status := b.replaceFirmwareJob(ctx, job, signedCheck{cert: f.SigningCertificate, signature: f.Signature})
	if status == "Rejected" {
		return withInfo("Rejected", "UpdateInProgress", "an update has reached the update agent and cannot be cancelled")
	}
	cp.log.Info("firmware update accepted", "request", req.RequestID, "signed", signed, "status", status)
	return status201Conf{Status: status}
}

// getLog answers GetLog (N01) through the core: Accepted with the filename, Rejected for a
// location that is not http(s), no archive, or an upload that runs.
func (cp *ChargePoint201) getLog(ctx context.Context, req getLogReq) getLogConf {
	return cp.base.getLog(ctx, req)
}

// sendFileStatus sends a triggered FirmwareStatusNotification or LogStatusNotification (F06):
// the latest status of the update or upload in force with its requestId, Idle without one
// when none runs.
func (cp *ChargePoint201) sendFileStatus(ctx context.Context, conn *rpcConn, msg string) error {
	if msg == "LogStatusNotification" {
		status, id := cp.base.diagnosticsNow(true)
		if err := conn.call(ctx, "", msg, logStatusReq{Status: status, RequestID: id}, nil); err != nil {
			return fmt.Errorf("log status notification: %w", err)
		}
		return nil
	}
	status, _, id := cp.base.firmwareNow()
	req := signedFirmwareStatusReq{Status: status}
	cp.base.mu.Lock()
	inForce := cp.base.fwJob != nil && cp.base.fwJob.Final == ""
	if inForce { // accepted, perhaps nothing reported yet: this request's status
		id = cp.base.fwJob.RequestID
	}
	cp.base.mu.Unlock()
	if inForce || status != fwIdle {
		req.RequestID = &id
	}
	if err := conn.call(ctx, "", msg, req, nil); err != nil {
		return fmt.Errorf("firmware status notification: %w", err)
	}
	return nil
}

// handleFiles answers UpdateFirmware and GetLog; ok false for other actions.
func (cp *ChargePoint201) handleFiles(ctx context.Context, action string, payload json.RawMessage) (res any, cerr *CallError, ok bool) {
	switch action {
	case "UpdateFirmware":
		var req signedUpdateFirmwareReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr, true
		}
		return cp.updateFirmware(ctx, req), nil, true
	case "GetLog":
		var req getLogReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr, true
		}
		if req.LogType != LogDiagnostics && req.LogType != LogSecurity {
			return nil, &CallError{Code: "PropertyConstraintViolation", Description: "logType must be DiagnosticsLog or SecurityLog"}, true
		}
		return cp.getLog(ctx, req), nil, true
	}
	return nil, nil, false
}
