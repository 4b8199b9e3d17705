package ocpp

import (
	"context"
	"encoding/json"
)

// GetTransactionStatus (E14) and UnlockConnector (F05) on the 2.0.1 face: questions the CSMS
// asks about the outlet's state, answered from the durable queue and the running transaction.

type getTransactionStatusReq struct {
	TransactionID string `json:"transactionId,omitempty"`
}

type getTransactionStatusConf struct {
	OngoingIndicator *bool `json:"ongoingIndicator,omitempty"`
	MessagesInQueue  bool  `json:"messagesInQueue"`
}

type unlockConnectorReq struct {
	EVSEID      int `json:"evseId"`
	ConnectorID int `json:"connectorId"`
}

// transactionStatus answers GetTransactionStatus: with a transactionId, whether that
// transaction still runs and whether TransactionEvents of it wait in the outbox (an unknown
// transaction: neither); without one, whether any transaction's events wait.
func (cp *ChargePoint201) transactionStatus(ctx context.Context, req getTransactionStatusReq) (getTransactionStatusConf, error) {
	n, err := cp.q.txMessages201(ctx, req.TransactionID)
	if err != nil {
		return getTransactionStatusConf{}, err
	}
	res := getTransactionStatusConf{MessagesInQueue: n > 0}
	if req.TransactionID != "" {
		cp.mu.Lock()
		ongoing := cp.current == req.TransactionID
		cp.mu.Unlock()
		res.OngoingIndicator = &ongoing
	}
	return res, nil
}

// unlockConnector answers UnlockConnector. The outlet has no connector lock (a socket without
// an actuator, or a tethered cable), so a connector without a transaction is Unlocked; during
// one the answer is OngoingAuthorizedTransaction (F05.FR.02: the transaction is not stopped);
// any EVSE or connector but 1/1 is UnknownConnector.
func (cp *ChargePoint201) unlockConnector(req unlockConnectorReq) status201Conf {
	if req.EVSEID != evseOne || req.ConnectorID != 1 {
		return withInfo("UnknownConnector", "UnknownConnector", "this charging station has EVSE 1 connector 1 only")
	}
	cp.mu.Lock()
	running := cp.current != ""
	cp.mu.Unlock()
	if running {
		return status201Conf{Status: "OngoingAuthorizedTransaction"}
	}
	return withInfo("Unlocked", "NoLock", "the connector has no lock to release")
}

// handleStatus answers GetTransactionStatus and UnlockConnector; ok false for other actions.
func (cp *ChargePoint201) handleStatus(ctx context.Context, action string, payload json.RawMessage) (res any, cerr *CallError, ok bool) {
	switch action {
	case "GetTransactionStatus":
		var req getTransactionStatusReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr, true
		}
		res, err := cp.transactionStatus(ctx, req)
		if err != nil {
			return nil, &CallError{Code: "InternalError", Description: err.Error()}, true
		}
		return res, nil, true
	case "UnlockConnector":
		var req unlockConnectorReq
		if cerr := decodeStrict(payload, &req); cerr != nil {
			return nil, cerr, true
		}
		return cp.unlockConnector(req), nil, true
	}
	return nil, nil, false
}
