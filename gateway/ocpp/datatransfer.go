package ocpp

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chargegate/chargegate/gateway/access"
)

// DataTransfer (OCPP 1.6 §4.3 and §5.6) for chargegate's own vendor extension, vendorId
// "org.chargegate":
//
//	CSMS→CP messageId "token"    data: a signed capability token (gateway/access, compact JWS),
//	                             or a start command's JSON as the MQTT link takes it (the signed
//	                             envelope when commands are signed); the appliance runs it as the
//	                             Operator's start command. Accepted, data = the session id;
//	                             Rejected, data = the refusal's error code and message.
//	CP→CSMS messageId "receipt"  data: a finished session's signed receipt (ledger/receipt, W3C
//	                             VC JSON), through the durable queue after the session's
//	                             StopTransaction; the CSMS's status is logged.
//
// Other messageIds of the vendor are UnknownMessageId; other vendors UnknownVendorId.

// VendorID is chargegate's DataTransfer vendorId.
const VendorID = "org.chargegate"

// Message ids of chargegate's DataTransfer extension.
const (
	MessageToken   = "token"
	MessageReceipt = "receipt"
	actionData     = "DataTransfer"
)

// DataHandler answers one DataTransfer message of VendorID: status Accepted or Rejected and
// optional data.
type DataHandler func(ctx context.Context, data string) (status, reply string)

// dataTransfer answers the CSMS's DataTransfer.
func (cp *ChargePoint) dataTransfer(ctx context.Context, req dataTransferReq) dataTransferConf {
	status, reply := cp.answerData(ctx, req.VendorID, req.MessageID, req.Data)
	return dataTransferConf{Status: status, Data: reply}
}

// answerData runs the DataHandler of a DataTransfer (both faces): UnknownVendorId for another
// vendor, UnknownMessageId for a messageId without a handler, else the handler's answer.
func (cp *ChargePoint) answerData(ctx context.Context, vendor, messageID, data string) (status, reply string) {
	if vendor != VendorID {
		return "UnknownVendorId", ""
	}
	h, ok := cp.cfg.DataHandlers[messageID]
	if !ok {
		return "UnknownMessageId", ""
	}
	return h(ctx, data)
}

// SendData queues a DataTransfer of VendorID for the CSMS in the durable queue, behind the
// transaction messages queued before it (a receipt goes after its StopTransaction); it is sent
// once the CSMS accepted the boot, retried like a transaction message.
func (cp *ChargePoint) SendData(ctx context.Context, session, messageID, data string) error {
	b, err := json.Marshal(dataTransferReq{VendorID: VendorID, MessageID: messageID, Data: data})
	if err != nil {
		return fmt.Errorf("encode DataTransfer: %w", err)
	}
	if err := cp.q.enqueueData(ctx, session, b); err != nil {
		return err
	}
	if f := cp.face201; f != nil {
		f.poke() // DataTransfer has the same shape in 2.0.1 (P01); its drain sends it
		return nil
	}
	cp.poke()
	return nil
}

// deliverData sends one queued DataTransfer; any answer (Accepted, Rejected, Unknown…) ends it.
func (cp *ChargePoint) deliverData(ctx context.Context, conn *rpcConn, id string, m queued) error {
	var conf dataTransferConf
	if err := conn.call(ctx, id, actionData, json.RawMessage(m.Payload), &conf); err != nil {
		return err
	}
	cp.log.Info("DataTransfer delivered", "session", m.Session, "status", conf.Status)
	return cp.q.remove(ctx, m.ID)
}

// OnlineChecker returns the CSMS's Authorize as the access component's online source: it asks
// the CSMS only (no local list or cache; those are the access component's), and is available
// while the CSMS has accepted the charge point.
func (cp *ChargePoint) OnlineChecker() access.OnlineChecker { return onlineChecker{cp} }

type onlineChecker struct{ cp *ChargePoint }

func (o onlineChecker) Available() bool { return o.cp.Online() }

// Check sends Authorize for idToken: on 1.6 an IdToken of 1..20 characters, on 2.0.1 one of
// 1..36 typed by token201.
func (o onlineChecker) Check(ctx context.Context, idToken string) (access.OnlineResult, error) {
	maxLen := 20
	if o.cp.face201 != nil {
		maxLen = 36
	}
	if idToken == "" || len(idToken) > maxLen {
		return access.OnlineResult{}, fmt.Errorf("authorize: an idToken is 1..%d characters", maxLen)
	}
	conn := o.cp.connection()
	if conn == nil {
		return access.OnlineResult{}, fmt.Errorf("authorize: %w", ErrOffline)
	}
	var info idTagInfo
	var err error
	if o.cp.face201 != nil {
		info, err = authorize201(ctx, conn, token201(idToken))
	} else {
		info, err = authorize16(ctx, conn, idToken)
	}
	if err != nil {
		return access.OnlineResult{}, fmt.Errorf("authorize: %w", err)
	}
	r := access.OnlineResult{Allowed: info.Status == "Accepted", Group: info.ParentIDTag}
	if !r.Allowed {
		r.Reason = info.Status
	}
	if info.ExpiryDate != nil && info.ExpiryDate.After(time.Now()) {
		r.CacheUntil = info.ExpiryDate.Time
	}
	return r, nil
}
