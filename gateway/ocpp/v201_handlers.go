package ocpp

import (
	"context"
	"encoding/json"
	"time"
)

// handle answers the CSMS's 2.0.1 calls; anything not listed is NotImplemented. The
// customData every 2.0.1 object may carry (a vendor's extension) is dropped before the
// strict decoding: this charge point knows no vendor's extension.
func (cp *ChargePoint201) handle(ctx context.Context, action string, payload json.RawMessage) (any, func(), *CallError) {
	payload, err := dropCustomData(action, payload)
	if err != nil {
		return nil, nil, &CallError{Code: "FormationViolation", Description: err.Error()}
	}
	if res, after, cerr, ok := cp.handleProvisioning(ctx, action, payload); ok {
		return res, after, cerr
	}
	if res, after, cerr, ok := cp.handleSecurity(ctx, action, payload); ok {
		return res, after, cerr
	}
	if res, cerr, ok := cp.handleLocalAuth(ctx, action, payload); ok {
		return res, nil, cerr
	}
	if res, after, cerr, ok := cp.handleSmartCharging(ctx, action, payload); ok {
		return res, after, cerr
	}
	if res, cerr, ok := cp.handleFiles(ctx, action, payload); ok {
		return res, nil, cerr
	}
	if res, cerr, ok := cp.handleReservation(ctx, action, payload); ok {
		return res, nil, cerr
	}
	if res, cerr, ok := cp.handleDataTransfer(ctx, action, payload); ok {
		return res, nil, cerr
	}
	if res, cerr, ok := cp.handleStatus(ctx, action, payload); ok {
		return res, nil, cerr
	}
	if res, after, cerr, ok := cp.handleReport(ctx, action, payload); ok {
		return res, after, cerr
	}
	switch action {
	case "GetVariables":
		var req getVariablesReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr
		}
		cp.refreshSecurityVars(ctx)
		return cp.getVariables(req), nil, nil
	case "SetVariables":
		var req setVariablesReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr
		}
		res, after, err := cp.setVariables(ctx, req)
		if err != nil {
			return nil, nil, &CallError{Code: "InternalError", Description: err.Error()}
		}
		return res, after, nil
	case "GetBaseReport":
		var req getBaseReportReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr
		}
		cp.refreshSecurityVars(ctx)
		reports := cp.baseReport(req.ReportBase)
		if len(reports) == 0 {
			return map[string]string{"status": "NotSupported"}, nil, nil
		}
		return map[string]string{"status": "Accepted"}, func() { cp.bg.Go(func() { cp.notifyReport(ctx, req.RequestID, reports) }) }, nil
	case "RequestStartTransaction":
		var req requestStartReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr
		}
		return cp.requestStart(ctx, req), nil, nil
	case "RequestStopTransaction":
		var req requestStopReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, nil, cerr
		}
		if cp.stopFor(req.TransactionID, [2]string{"RemoteStop", "Remote"}) {
			return map[string]string{"status": "Accepted"}, nil, nil
		}
		return map[string]string{"status": "Rejected"}, nil, nil
	}
	return nil, nil, &CallError{Code: "NotImplemented", Description: action + " is not implemented by this charge point"}
}

// getVariables answers each requested variable (OCPP 2.0.1 B06): Actual only.
func (cp *ChargePoint201) getVariables(req getVariablesReq) any {
	res := []getVariableResult{}
	for _, d := range req.GetVariableData {
		r := getVariableResult{Component: d.Component, Variable: d.Variable, AttributeType: d.AttributeType}
		v, status := lookupVar(d.Component.Name, d.Variable.Name, d.Variable.Instance)
		switch {
		case status != "":
			r.AttributeStatus = status
		case d.AttributeType != "" && d.AttributeType != "Actual":
			r.AttributeStatus = "NotSupportedAttributeType"
		case v.writeOnly:
			r.AttributeStatus = "Rejected" // B06: a WriteOnly variable is never read back
		default:
			cp.mu.Lock()
			val := cp.vals[v.key()]
			cp.mu.Unlock()
			r.AttributeStatus, r.AttributeValue = "Accepted", &val
		}
		res = append(res, r)
	}
	return map[string]any{"getVariableResult": res}
}

// setVariables sets each variable (OCPP 2.0.1 B05): ReadOnly and invalid values Rejected,
// accepted values persisted in ocpp.db before the answer. A new BasicAuthPassword (A01)
// renews the connection after the answer (after), so that the next one authenticates with it.
func (cp *ChargePoint201) setVariables(ctx context.Context, req setVariablesReq) (res any, after func(), err error) {
	results := []setVariableResult{}
	for _, d := range req.SetVariableData {
		r := setVariableResult{Component: d.Component, Variable: d.Variable, AttributeType: d.AttributeType}
		v, status := lookupVar(d.Component.Name, d.Variable.Name, d.Variable.Instance)
		switch {
		case status != "":
			r.AttributeStatus = status
		case d.AttributeType != "" && d.AttributeType != "Actual":
			r.AttributeStatus = "NotSupportedAttributeType"
		case v.readOnly || v.checkValue(d.AttributeValue) != nil:
			r.AttributeStatus = "Rejected"
		default:
			if err := cp.q.setConfig(ctx, v.key(), d.AttributeValue); err != nil {
				return nil, nil, err
			}
			cp.mu.Lock()
			cp.vals[v.key()] = d.AttributeValue
			cp.mu.Unlock()
			r.AttributeStatus = "Accepted"
			if v.variable == varBasicAuth && v.component == compSecurity {
				after = cp.base.renewConnection("the CSMS set a new Basic auth password")
			}
		}
		results = append(results, r)
	}
	cp.poke() // a new HeartbeatInterval applies at once
	return map[string]any{"setVariableResult": results}, after, nil
}

// baseReport builds the report data of a GetBaseReport (B07): FullInventory and
// ConfigurationInventory (the writable variables); SummaryInventory is not supported.
func (cp *ChargePoint201) baseReport(base string) []reportData {
	if base != "FullInventory" && base != "ConfigurationInventory" {
		return nil
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var out []reportData
	for _, v := range deviceModel {
		if base == "ConfigurationInventory" && v.readOnly {
			continue
		}
		mut, val := "ReadWrite", cp.vals[v.key()]
		switch {
		case v.readOnly:
			mut = "ReadOnly"
		case v.writeOnly:
			mut, val = "WriteOnly", ""
		}
		out = append(out, reportData{
			Component:               componentType{Name: v.component},
			Variable:                variableType{Name: v.variable, Instance: v.instance},
			VariableAttribute:       []variableAttribute{{Type: "Actual", Value: val, Mutability: mut, Persistent: true, Constant: v.readOnly}},
			VariableCharacteristics: &variableCharacteristics{Unit: v.unit, DataType: v.dataType, ValuesList: v.values},
		})
	}
	return out
}

// notifyReport sends the report in NotifyReports of DeviceDataCtrlr.ItemsPerMessage[GetReport]
// items, seqNo from 0, tbc on all but the last.
func (cp *ChargePoint201) notifyReport(ctx context.Context, requestID int, data []reportData) {
	cp.mu.Lock()
	conn := cp.conn
	cp.mu.Unlock()
	if conn == nil {
		return
	}
	per := 20
	now := time.Now()
	for seq := 0; len(data) > 0; seq++ {
		n := min(per, len(data))
		req := notifyReportReq{RequestID: requestID, GeneratedAt: Time{now}, ReportData: data[:n], Tbc: n < len(data), SeqNo: seq}
		data = data[n:]
		if err := conn.call(ctx, "", "NotifyReport", req, nil); err != nil {
			cp.log.Warn("notify report", "request", requestID, "err", err)
			return
		}
	}
}

// requestStart accepts when no transaction runs or is being started, and the reservation (if
// any) is the idToken's, and starts the session in the background (F01, F02); the Started
// event carries remoteStartId and triggerReason RemoteStart. With AuthCtrlr.AuthorizeRemoteStart
// the idToken is authorized first (the local list and cache, or Authorize with the CSMS); a
// token that is not Accepted starts nothing: with TxStartPoint Authorized no transaction
// exists before that, so no TransactionEvent is sent.
// A chargingProfile in the request becomes the transaction's TxProfile (K05); one that is not
// a valid TxProfile without transactionId makes it Rejected.
func (cp *ChargePoint201) requestStart(ctx context.Context, req requestStartReq) any {
	profile, ok := startProfile(req.ChargingProfile)
	if !ok {
		return requestStartConf{Status: "Rejected"}
	}
	cp.mu.Lock()
	busy := cp.current != "" || cp.pendingStart != ""
	if req.EVSEID != nil && *req.EVSEID != evseOne {
		busy = true
	}
	if !busy {
		cp.pendingStart = req.IDToken.IDToken
	}
	cp.mu.Unlock()
	if busy {
		return requestStartConf{Status: "Rejected"}
	}
	if err := cp.claimStart(ctx, req); err != nil {
		cp.log.Warn("remote start refused", "err", err)
		cp.mu.Lock()
		cp.pendingStart = ""
		cp.mu.Unlock()
		return requestStartConf{Status: "Rejected"}
	}
	tok := req.IDToken.IDToken
	cp.mu.Lock()
	cp.remoteIDs[tok] = req.RemoteStartID
	cp.mu.Unlock()
	cp.bg.Go(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cp.cfg.CallTimeout+10*time.Second)
		defer cancel()
		fail := func(msg string, args ...any) {
			cp.log.Warn(msg, args...)
			cp.unclaim()
			cp.mu.Lock()
			delete(cp.remoteIDs, tok)
			cp.pendingStart = ""
			cp.mu.Unlock()
		}
		if cp.value(compAuth, "AuthorizeRemoteStart", "") == "true" {
			info, err := cp.authorize(ctx, req.IDToken)
			if err != nil || info.Status != "Accepted" {
				fail("remote start not authorized", "status", info.Status, "err", err)
				return
			}
		}
		id, err := cp.sessions.Start(ctx, tok)
		if err != nil {
			fail("remote start failed", "err", err)
			return
		}
		// The session's Status begins it with the register at its start (Status).
		cp.mu.Lock()
		cp.tokens[id] = tok
		cp.pendingStart = ""
		cp.mu.Unlock()
		cp.installStartProfile(context.WithoutCancel(ctx), profile)
		cp.poke()
	})
	return requestStartConf{Status: "Accepted"}
}
