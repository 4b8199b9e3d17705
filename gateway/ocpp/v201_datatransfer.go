package ocpp

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/chargegate/chargegate/gateway/access"
)

// DataTransfer on the 2.0.1 face (P01, P02): the same org.chargegate messages as on 1.6
// (datatransfer.go), answered by the core's DataHandlers. 2.0.1's data may be any JSON: a
// string reaches the handler as its text, anything else (an object, say a start command) as
// its JSON; the handler's reply goes back as a JSON string. CP→CSMS messages (a session's
// receipt) go through the durable queue (SendData) and are sent by drain.

type dataTransfer201Req struct {
	VendorID  string          `json:"vendorId"`
	MessageID string          `json:"messageId,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
}

type dataTransfer201Conf struct {
	Status string `json:"status"` // Accepted | Rejected | UnknownMessageId | UnknownVendorId
	Data   string `json:"data,omitempty"`
}

// dataText is a DataTransfer data value as the core's handlers take it: a JSON string's text,
// other JSON compacted, nothing for null or absent.
func dataText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// handleDataTransfer answers DataTransfer; ok false for other actions.
func (cp *ChargePoint201) handleDataTransfer(ctx context.Context, action string, payload json.RawMessage) (res any, cerr *CallError, ok bool) {
	if action != actionData {
		return nil, nil, false
	}
	var req dataTransfer201Req
	if cerr := decodeStrict(payload, &req); cerr != nil {
		return nil, cerr, true
	}
	status, reply := cp.base.answerData(ctx, req.VendorID, req.MessageID, dataText(req.Data))
	return dataTransfer201Conf{Status: status, Data: reply}, nil, true
}

// SendData queues a DataTransfer of VendorID for the CSMS behind the transaction events queued
// before it, as ChargePoint.SendData does (a receipt goes after its transaction's Ended).
func (cp *ChargePoint201) SendData(ctx context.Context, session, messageID, data string) error {
	return cp.base.SendData(ctx, session, messageID, data)
}

// OnlineChecker returns the CSMS's Authorize (2.0.1) as the access component's online source,
// as ChargePoint.OnlineChecker does.
func (cp *ChargePoint201) OnlineChecker() access.OnlineChecker { return cp.base.OnlineChecker() }
