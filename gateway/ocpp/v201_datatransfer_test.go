package ocpp_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/ledger"
)

// DataTransfer on 2.0.1 both ways: the CSMS's org.chargegate messages reach the core's handlers
// (a string's text, an object's JSON), other vendors and messageIds get UnknownVendorId and
// UnknownMessageId; a session's receipt goes to the CSMS after its Ended event, schema-valid.
func TestV201DataTransfer(t *testing.T) {
	c := startCSMS201(t, "--interval", "30")
	g := newStandIn(t)
	var mu sync.Mutex
	var got []string
	token := func(ctx context.Context, data string) (string, string) {
		mu.Lock()
		got = append(got, data)
		mu.Unlock()
		if data == "bad" {
			return "Rejected", "invalid_token: not a capability token"
		}
		return "Accepted", "session-42"
	}
	cp, _, _ := startCP201(t, c, g, t.TempDir(), func(c *ocpp.Config) {
		c.DataHandlers = map[string]ocpp.DataHandler{ocpp.MessageToken: token}
	})
	c.WaitFor("online", cp.Online)

	for _, tc := range []struct {
		req          map[string]any
		status, data string
		handlerSaw   string
	}{
		{map[string]any{"vendorId": "org.chargegate", "messageId": "token", "data": "eyJhbGciOi.x.y"}, "Accepted", "session-42", "eyJhbGciOi.x.y"},
		{map[string]any{"vendorId": "org.chargegate", "messageId": "token", "data": map[string]any{"name": "start", "id_token": "T1"}}, "Accepted", "session-42", `{"id_token":"T1","name":"start"}`},
		{map[string]any{"vendorId": "org.chargegate", "messageId": "token", "data": "bad"}, "Rejected", "invalid_token: not a capability token", "bad"},
		{map[string]any{"vendorId": "org.chargegate", "messageId": "token"}, "Accepted", "session-42", ""},
		{map[string]any{"vendorId": "org.chargegate", "messageId": "nosuch", "data": 7}, "UnknownMessageId", "", ""},
		{map[string]any{"vendorId": "org.chargegate"}, "UnknownMessageId", "", ""},
		{map[string]any{"vendorId": "com.example", "messageId": "token", "data": "x"}, "UnknownVendorId", "", ""},
	} {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		res, err := c.Call("DataTransfer", tc.req)
		if err != nil {
			t.Fatalf("DataTransfer %v: %v", tc.req, err)
		}
		var conf struct{ Status, Data string }
		if err := json.Unmarshal(res, &conf); err != nil || conf.Status != tc.status || conf.Data != tc.data {
			t.Errorf("DataTransfer %v = %s (%v), want %s / %q", tc.req, res, err, tc.status, tc.data)
		}
		mu.Lock()
		saw := got[n:]
		mu.Unlock()
		if handled := tc.status == "Accepted" || tc.status == "Rejected"; handled != (len(saw) == 1) || (handled && saw[0] != tc.handlerSaw) {
			t.Errorf("DataTransfer %v: the handler saw %q, want %q", tc.req, saw, tc.handlerSaw)
		}
	}

	g.startLocal("TAG-RECEIPT")
	rec := g.end(ledger.EndLocal)
	receipt := `{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"credentialSubject":{"session":"` + rec.ID + `"}}`
	if err := cp.SendData(context.Background(), rec.ID, ocpp.MessageReceipt, receipt); err != nil {
		t.Fatal(err)
	}
	dt := params[struct{ VendorID, MessageID, Data string }](t, c.WaitCalls("DataTransfer", 1)[0])
	if dt.VendorID != ocpp.VendorID || dt.MessageID != ocpp.MessageReceipt || dt.Data != receipt {
		t.Errorf("receipt DataTransfer %+v", dt)
	}
	order := []string{}
	for _, l := range c.All() {
		if l.Type == "call" && (l.Action == "TransactionEvent" || l.Action == "DataTransfer") {
			order = append(order, l.Action+":"+params[struct{ EventType string }](t, l).EventType)
		}
	}
	if want := []string{"TransactionEvent:Started", "TransactionEvent:Ended", "DataTransfer:"}; len(order) != 3 || order[1] != want[1] || order[2] != want[2] {
		t.Errorf("calls %v, want %v (the receipt after its transaction's Ended)", order, want)
	}
}
