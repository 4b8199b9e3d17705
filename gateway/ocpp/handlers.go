package ocpp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"time"
)

// handle answers one call from the CSMS. Payloads are decoded strictly: an unknown field is a
// FormationViolation, as the OCPP 1.6 JSON schemas forbid additional properties.
func (cp *ChargePoint) handle(ctx context.Context, action string, payload json.RawMessage) (any, func(), *CallError) {
	if action == "TriggerMessage" {
		var req triggerMessageReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr
		}
		status, after := cp.trigger(req)
		return statusConf{Status: status}, after, nil
	}
	if action == "Reset" {
		var req struct {
			Type string `json:"type"` // Hard | Soft
		}
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr
		}
		if cp.cfg.Reset == nil || (req.Type != "Hard" && req.Type != "Soft") {
			return statusConf{Status: "Rejected"}, nil, nil
		}
		return statusConf{Status: "Accepted"}, func() { cp.bg.Go(func() { cp.reset(ctx, req.Type == "Hard") }) }, nil
	}
	if action == "ExtendedTriggerMessage" {
		var req triggerMessageReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr
		}
		status, after := cp.extendedTrigger(req)
		return statusConf{Status: status}, after, nil
	}
	if action == "CertificateSigned" {
		var req struct {
			CertificateChain string `json:"certificateChain"`
		}
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr
		}
		status, after, _ := cp.certificateSigned(ctx, req.CertificateChain)
		return statusConf{Status: status}, after, nil
	}
	res, cerr := cp.answer(ctx, action, payload)
	return res, nil, cerr
}

// answerMore answers the Firmware Management, diagnostics and Security Whitepaper calls.
func (cp *ChargePoint) answerMore(ctx context.Context, action string, payload json.RawMessage) (any, *CallError) {
	switch action {
	case "UpdateFirmware":
		var req updateFirmwareReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		cp.updateFirmware(ctx, req)
		return struct{}{}, nil
	case "SignedUpdateFirmware":
		var req signedUpdateFirmwareReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return statusConf{Status: cp.signedUpdateFirmware(ctx, req)}, nil
	case "GetDiagnostics":
		var req getDiagnosticsReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return cp.getDiagnostics(ctx, req), nil
	case "GetLog":
		var req getLogReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return cp.getLog(ctx, req), nil
	case "InstallCertificate":
		var req struct {
			CertificateType string `json:"certificateType"`
			Certificate     string `json:"certificate"`
		}
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		status, _ := cp.installCertificate(ctx, req.CertificateType, req.Certificate)
		return statusConf{Status: status}, nil
	case "GetInstalledCertificateIds":
		var req struct {
			CertificateType string `json:"certificateType"`
		}
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return cp.installedCertificates(ctx, req.CertificateType), nil
	case "DeleteCertificate":
		var req struct {
			CertificateHashData certificateHashData `json:"certificateHashData"`
		}
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return statusConf{Status: cp.deleteCertificate(ctx, req.CertificateHashData)}, nil
	}
	return nil, &CallError{Code: "NotImplemented", Description: action + " is not implemented"}
}

func (cp *ChargePoint) answer(ctx context.Context, action string, payload json.RawMessage) (any, *CallError) {
	switch action {
	case "RemoteStartTransaction":
		var req remoteStartTransactionReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		if req.IDTag == "" || len(req.IDTag) > 20 {
			return nil, &CallError{Code: "PropertyConstraintViolation", Description: "idTag must be 1..20 characters"}
		}
		return statusConf{Status: cp.remoteStart(ctx, req)}, nil
	case "RemoteStopTransaction":
		var req remoteStopTransactionReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return statusConf{Status: cp.remoteStop(ctx, req.TransactionID)}, nil
	case "GetConfiguration":
		var req getConfigurationReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return cp.getConfiguration(req), nil
	case "ChangeConfiguration":
		var req changeConfigurationReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return statusConf{Status: cp.changeConfiguration(ctx, req)}, nil
	case "DataTransfer":
		var req dataTransferReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return cp.dataTransfer(ctx, req), nil
	case "ChangeAvailability":
		var req changeAvailabilityReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return statusConf{Status: cp.changeAvailability(ctx, req)}, nil
	case "SendLocalList":
		var req sendLocalListReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return statusConf{Status: cp.sendLocalList(ctx, req)}, nil
	case "GetLocalListVersion":
		if cerr := decodeStrict(payload, &struct{}{}); cerr != nil {
			return nil, cerr
		}
		if !cp.confBool(KeyLocalAuthListEnabled) {
			return getLocalListVersionConf{ListVersion: -1}, nil
		}
		v, err := cp.localListVersion(ctx)
		if err != nil {
			return nil, &CallError{Code: "InternalError", Description: err.Error()}
		}
		return getLocalListVersionConf{ListVersion: v}, nil
	case "ClearCache":
		if cerr := decodeStrict(payload, &struct{}{}); cerr != nil {
			return nil, cerr
		}
		if err := cp.q.clearCache(ctx); err != nil {
			return statusConf{Status: "Rejected"}, nil
		}
		return statusConf{Status: "Accepted"}, nil
	case "ReserveNow":
		var req reserveNowReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return statusConf{Status: cp.reserveNow(ctx, req)}, nil
	case "CancelReservation":
		var req cancelReservationReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return statusConf{Status: cp.cancelReservation(ctx, req.ReservationID)}, nil
	case "SetChargingProfile":
		var req setChargingProfileReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return statusConf{Status: cp.setChargingProfile(ctx, req)}, nil
	case "ClearChargingProfile":
		var req clearChargingProfileReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return statusConf{Status: cp.clearChargingProfile(ctx, req)}, nil
	case "GetCompositeSchedule":
		var req getCompositeScheduleReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		return cp.compositeSchedule(req), nil
	case "UnlockConnector":
		var req struct {
			ConnectorID int `json:"connectorId"`
		}
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr
		}
		// The outlet has no connector lock to release (OCPP 1.6 §5.18: NotSupported).
		return statusConf{Status: "NotSupported"}, nil
	}
	return cp.answerMore(ctx, action, payload)
}

func decodeStrict(payload json.RawMessage, v any) *CallError {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &CallError{Code: "TypeConstraintViolation", Description: err.Error()}
		}
		return &CallError{Code: "FormationViolation", Description: err.Error()}
	}
	return nil
}

// remoteStart accepts when the connector is free and starts the session in the background
// (OCPP 1.6 §5.11: the answer says whether the charge point will try, not whether it did).
// With AuthorizeRemoteTxRequests the idTag is authorized first.
func (cp *ChargePoint) remoteStart(ctx context.Context, req remoteStartTransactionReq) string {
	if req.ConnectorID != nil && *req.ConnectorID != connectorOne {
		return "Rejected"
	}
	// §5.11: a charging profile in the request is the transaction's TxProfile.
	if p := req.ChargingProfile; p != nil && (p.ChargingProfilePurpose != purposeTx || p.TransactionID != nil || !validProfile(*p)) {
		return "Rejected"
	}
	cp.mu.Lock()
	busy := cp.current != "" || cp.pendingTag != "" || (cp.haveStatus && cp.status.Session != nil) || cp.inoperative
	if !busy {
		cp.pendingTag = req.IDTag
	}
	c0, c1 := connectorStatuses(cp.status, cp.release != nil)
	cp.mu.Unlock()
	if busy || c0.Status == StatusFaulted || c1.Status == StatusFaulted {
		return "Rejected"
	}
	cp.bg.Go(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cp.cfg.CallTimeout+10*time.Second)
		defer cancel()
		defer func() { cp.mu.Lock(); cp.pendingTag = ""; cp.mu.Unlock() }()
		var parent string
		if cp.confBool(KeyAuthorizeRemoteTxRequests) {
			info, err := cp.authorize(ctx, req.IDTag)
			if err != nil || info.Status != "Accepted" {
				cp.log.Warn("remote start not authorized", "id_tag", req.IDTag, "status", info.Status, "err", err)
				return
			}
			parent = info.ParentIDTag
		} else if info, ok := cp.localInfo(ctx, req.IDTag); ok {
			parent = info.ParentIDTag
		}
		if err := cp.claimReservation(req.IDTag, parent); err != nil {
			cp.log.Warn("remote start refused", "id_tag", req.IDTag, "err", err)
			return
		}
		id, err := cp.sessions.Start(ctx, req.IDTag)
		if err != nil {
			cp.mu.Lock()
			cp.reservedStart = ""
			cp.mu.Unlock()
			cp.log.Warn("remote start failed", "id_tag", req.IDTag, "err", err)
			return
		}
		cp.mu.Lock()
		cp.pendingTag = req.IDTag
		cp.mu.Unlock()
		cp.begin(id, req.IDTag, time.Now(), cp.lastImportMWh())
		if p := req.ChargingProfile; p != nil {
			if st := cp.installProfile(ctx, connectorOne, *p); st != "Accepted" {
				cp.log.Warn("the remote start's charging profile was not installed", "status", st)
			}
		}
	})
	return "Accepted"
}

// lastImportMWh is the import register of the latest status, the begin of a session the
// gateway has not reported yet.
func (cp *ChargePoint) lastImportMWh() int64 {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.status.Meter.ImportMWh
}

func (cp *ChargePoint) remoteStop(ctx context.Context, transactionID int64) string {
	session, ok, err := cp.q.session(ctx, transactionID)
	if err != nil || !ok {
		return "Rejected"
	}
	cp.mu.Lock()
	running := cp.current == session
	cp.mu.Unlock()
	if !running {
		return "Rejected"
	}
	cp.bg.Go(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cp.cfg.CallTimeout)
		defer cancel()
		if err := cp.sessions.Stop(ctx, session); err != nil {
			cp.log.Warn("remote stop failed", "session", session, "err", err)
		}
	})
	return "Accepted"
}

func (cp *ChargePoint) getConfiguration(req getConfigurationReq) getConfigurationConf {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var conf getConfigurationConf
	keys := req.Key
	if len(keys) == 0 {
		for k := range cp.conf {
			keys = append(keys, k)
		}
		sort.Strings(keys)
	}
	for _, k := range keys {
		v, ok := cp.conf[k]
		if !ok {
			conf.UnknownKey = append(conf.UnknownKey, k)
			continue
		}
		conf.ConfigurationKey = append(conf.ConfigurationKey, keyValue{Key: k, Readonly: keyDefs[k].readonly, Value: &v})
	}
	return conf
}

// changeConfiguration: unknown keys are NotSupported, read-only keys and bad values Rejected
// (OCPP 1.6 §5.3); accepted values are persisted and take effect at once.
func (cp *ChargePoint) changeConfiguration(ctx context.Context, req changeConfigurationReq) string {
	d, ok := keyDefs[req.Key]
	cp.mu.Lock()
	_, present := cp.conf[req.Key]
	cp.mu.Unlock()
	switch {
	case !ok || !present:
		return "NotSupported"
	case d.readonly:
		return "Rejected"
	case d.check != nil && d.check(req.Value) != nil:
		return "Rejected"
	}
	if err := cp.q.setConfig(ctx, req.Key, req.Value); err != nil {
		cp.log.Error("store configuration", "key", req.Key, "err", err)
		return "Rejected"
	}
	cp.mu.Lock()
	cp.conf[req.Key] = req.Value
	cp.mu.Unlock()
	if slices.Contains([]string{KeyHeartbeatInterval}, req.Key) {
		cp.poke()
	}
	return "Accepted"
}

// connection returns the connection the CSMS accepted on the face in use, or nil.
func (cp *ChargePoint) connection() *rpcConn {
	if f := cp.face201; f != nil {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.conn
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.conn
}

// reset ends the running session with reason SoftReset or HardReset, waits (up to 30 s) until
// its StopTransaction is queued, and hands over to Config.Reset (OCPP 1.6 §5.14).
func (cp *ChargePoint) reset(ctx context.Context, hard bool) {
	reason := ReasonSoftReset
	if hard {
		reason = ReasonHardReset
	}
	cp.mu.Lock()
	session := cp.current
	cp.mu.Unlock()
	if cp.stopFor(ctx, session, reason) {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			cp.mu.Lock()
			ended := cp.current != session
			cp.mu.Unlock()
			if ended {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	cp.log.Warn("reset requested by the CSMS", "hard", hard)
	// Security Whitepaper: ResetOrReboot, kept in ocpp.db and sent before the restart as far
	// as the link allows (else after it).
	kind := "SoftReset"
	if hard {
		kind = "HardReset"
	}
	cp.securityEvent(EventResetOrReboot, kind+" requested by the CSMS")
	cp.poke()
	for deadline := time.Now().Add(5 * time.Second); cp.connection() != nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if n, err := cp.q.securityBacklog(ctx); err != nil || n == 0 {
			break
		}
	}
	cp.cfg.Reset(hard)
}
