package ocpp_test

import (
	"encoding/json"
	"testing"

	"github.com/chargegate/chargegate/ledger"
)

// E14: GetTransactionStatus says whether a transaction runs and whether its TransactionEvents
// still wait in the outbox: true while the CSMS refuses the Started event, false once it took
// it, and for an unknown transaction neither. F05: UnlockConnector of a lockless outlet.
func TestV201TransactionStatusAndUnlock(t *testing.T) {
	c := startCSMS201(t, "--interval", "30", "--fail", "TransactionEvent:2")
	g := newStandIn(t)
	cp, _, _ := startCP201(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	if s := setVars(t, c, varReq("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent", "2"),
		varReq("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent", "5")); s[0].AttributeStatus != "Accepted" || s[1].AttributeStatus != "Accepted" {
		t.Fatalf("SetVariables = %+v", s)
	}
	type status struct {
		OngoingIndicator *bool
		MessagesInQueue  bool
	}
	ask := func(params map[string]any) status {
		t.Helper()
		res, err := c.Call("GetTransactionStatus", params)
		if err != nil {
			t.Fatalf("GetTransactionStatus %v: %v", params, err)
		}
		var s status
		if err := json.Unmarshal(res, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	is := func(b *bool, want bool) bool { return b != nil && *b == want }

	if s := ask(map[string]any{}); s.MessagesInQueue || s.OngoingIndicator != nil {
		t.Errorf("idle: %+v, want nothing queued and no ongoingIndicator", s)
	}
	if s := c.Status("UnlockConnector", map[string]any{"evseId": 1, "connectorId": 1}); s != "Unlocked" {
		t.Errorf("UnlockConnector idle = %s, want Unlocked", s)
	}
	if s := c.Status("UnlockConnector", map[string]any{"evseId": 2, "connectorId": 1}); s != "UnknownConnector" {
		t.Errorf("UnlockConnector EVSE 2 = %s, want UnknownConnector", s)
	}

	g.startLocal("04A1B2C3")
	first := c.WaitCalls("TransactionEvent", 1)[0] // refused (--fail): it stays at the head
	var ev struct {
		TransactionInfo struct{ TransactionID string }
	}
	if err := json.Unmarshal(first.Params, &ev); err != nil {
		t.Fatal(err)
	}
	txID := ev.TransactionInfo.TransactionID
	if s := ask(map[string]any{"transactionId": txID}); !is(s.OngoingIndicator, true) || !s.MessagesInQueue {
		t.Errorf("while the Started event is refused: %+v, want ongoing and queued", s)
	}
	if s := ask(map[string]any{}); !s.MessagesInQueue {
		t.Errorf("any transaction while the Started event is refused: %+v, want queued", s)
	}
	if s := c.Status("UnlockConnector", map[string]any{"evseId": 1, "connectorId": 1}); s != "OngoingAuthorizedTransaction" {
		t.Errorf("UnlockConnector during a transaction = %s, want OngoingAuthorizedTransaction", s)
	}
	c.WaitCalls("TransactionEvent", 3) // two refused, the third taken
	c.WaitFor("the outbox empty", func() bool { return !ask(map[string]any{"transactionId": txID}).MessagesInQueue })
	if s := ask(map[string]any{"transactionId": txID}); !is(s.OngoingIndicator, true) {
		t.Errorf("after delivery: %+v, want still ongoing", s)
	}
	g.end(ledger.EndLocal)
	c.WaitFor("the Ended event", func() bool { ev := txEvents(t, c); return ev[len(ev)-1].EventType == "Ended" })
	c.WaitFor("the outbox empty", func() bool { return !ask(map[string]any{}).MessagesInQueue })
	if s := ask(map[string]any{"transactionId": txID}); !is(s.OngoingIndicator, false) || s.MessagesInQueue {
		t.Errorf("after the end: %+v, want neither", s)
	}
	if s := ask(map[string]any{"transactionId": "no-such-transaction"}); !is(s.OngoingIndicator, false) || s.MessagesInQueue {
		t.Errorf("an unknown transaction: %+v, want neither", s)
	}
}
