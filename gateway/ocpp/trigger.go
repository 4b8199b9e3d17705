package ocpp

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// trigger answers TriggerMessage (OCPP 1.6 §5.17): the requested message is sent after the
// answer, by the connection's loop. Diagnostics and firmware status say the upload's or the
// update's latest status, Idle when none runs.
func (cp *ChargePoint) trigger(req triggerMessageReq) (string, func()) {
	if req.ConnectorID != nil && (*req.ConnectorID < 0 || *req.ConnectorID > connectorOne) {
		return "Rejected", nil
	}
	switch req.RequestedMessage {
	case "BootNotification", "Heartbeat", "MeterValues", "DiagnosticsStatusNotification", "FirmwareStatusNotification":
	case "StatusNotification":
		return "Accepted", func() {
			cp.mu.Lock()
			now := time.Now()
			for i, s := range cp.statusNow {
				if req.ConnectorID == nil || *req.ConnectorID == i {
					cp.statusQueue = append(cp.statusQueue, statusChange{i, s, now})
				}
			}
			cp.mu.Unlock()
			cp.poke()
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

// extendedTrigger answers ExtendedTriggerMessage (Security Whitepaper §3.3): as
// TriggerMessage, plus LogStatusNotification and SignChargePointCertificate (a new key and
// CSR, SignCertificate; Rejected without Config.CertDir); FirmwareStatusNotification is
// answered with a SignedFirmwareStatusNotification.
func (cp *ChargePoint) extendedTrigger(req triggerMessageReq) (string, func()) {
	if req.ConnectorID != nil && (*req.ConnectorID < 0 || *req.ConnectorID > connectorOne) {
		return "Rejected", nil
	}
	switch req.RequestedMessage {
	case "LogStatusNotification", "SignChargePointCertificate", "FirmwareStatusNotification":
		if req.RequestedMessage == "SignChargePointCertificate" && cp.cfg.CertDir == "" {
			return "Rejected", nil
		}
		m := req.RequestedMessage
		if m == "FirmwareStatusNotification" {
			m = "SignedFirmwareStatusNotification" // the Security Whitepaper's status message
		}
		return "Accepted", func() {
			cp.mu.Lock()
			cp.triggered = append(cp.triggered, m)
			cp.mu.Unlock()
			cp.poke()
		}
	}
	return cp.trigger(req)
}

// firmwarePlain maps a signed-only status to the 1.6 FirmwareStatus enum.
func firmwarePlain(s string) string {
	switch s {
	case fwDownloadScheduled:
		return fwIdle
	case fwSignatureVerified, fwInstallScheduled:
		return fwDownloaded
	case fwInstallRebooting:
		return fwInstalling
	case fwInstallVerificationFailed, fwInvalidSignature:
		return fwInstallationFailed
	}
	return s
}

// sendTriggered sends the messages TriggerMessage asked for.
func (cp *ChargePoint) sendTriggered(ctx context.Context, conn *rpcConn) error {
	cp.mu.Lock()
	list := cp.triggered
	cp.triggered = nil
	cp.mu.Unlock()
	for _, m := range list {
		var err error
		switch m {
		case "BootNotification":
			var conf bootNotificationConf
			err = conn.call(ctx, "", m, cp.bootRequest(), &conf)
		case "Heartbeat":
			err = conn.call(ctx, "", m, struct{}{}, &heartbeatConf{})
		case "DiagnosticsStatusNotification":
			status, _ := cp.diagnosticsNow(false)
			err = conn.call(ctx, "", m, statusConf{Status: status}, nil)
		case "LogStatusNotification":
			status, id := cp.diagnosticsNow(true)
			err = conn.call(ctx, "", m, logStatusReq{Status: status, RequestID: id}, nil)
		case "FirmwareStatusNotification":
			status, _, _ := cp.firmwareNow()
			err = conn.call(ctx, "", m, statusConf{Status: firmwarePlain(status)}, nil)
		case "SignedFirmwareStatusNotification": // ExtendedTriggerMessage FirmwareStatusNotification
			status, _, id := cp.firmwareNow()
			req := signedFirmwareStatusReq{Status: status}
			if id != 0 {
				req.RequestID = &id
			}
			err = conn.call(ctx, "", m, req, nil)
		case "SignChargePointCertificate":
			if err := cp.requestCertificate(ctx, conn); err != nil {
				return err
			}
		case "MeterValues":
			err = cp.triggeredMeterValues(ctx, conn)
		}
		if err != nil {
			return fmt.Errorf("triggered %s: %w", m, err)
		}
	}
	return nil
}

// triggeredMeterValues sends the latest register with context Trigger: queued with the
// transaction while one runs, else straight away without a transactionId.
func (cp *ChargePoint) triggeredMeterValues(ctx context.Context, conn *rpcConn) error {
	cp.mu.Lock()
	st, current := cp.status, cp.current
	cp.mu.Unlock()
	mv := meterValuesReq{ConnectorID: connectorOne, MeterValue: []MeterValue{{Timestamp: Time{time.Now()}, SampledValue: []SampledValue{
		{Value: strconv.FormatInt(st.Meter.ImportMWh/1000, 10), Context: "Trigger", Measurand: "Energy.Active.Import.Register", Unit: "Wh"},
	}}}}
	if current != "" {
		cp.enqueue(current, actionMeter, mv)
		return nil
	}
	return conn.call(ctx, "", actionMeter, mv, nil)
}
