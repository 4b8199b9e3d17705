package ocpp_test

import (
	"encoding/json"
	"testing"
)

func TestTriggerMessageAndUnlock(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	g := newStandIn(t)
	cp, _, _ := startCP(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	c.WaitCalls("StatusNotification", 2)

	for _, tc := range []struct {
		message   string
		connector any
		want      string
		action    string
	}{
		{"StatusNotification", 1, "Accepted", "StatusNotification"},
		{"Heartbeat", nil, "Accepted", "Heartbeat"},
		{"MeterValues", 1, "Accepted", "MeterValues"},
		{"BootNotification", nil, "Accepted", "BootNotification"},
		{"DiagnosticsStatusNotification", nil, "Accepted", "DiagnosticsStatusNotification"},
		{"FirmwareStatusNotification", nil, "Accepted", "FirmwareStatusNotification"},
		{"StatusNotification", 2, "Rejected", ""},
	} {
		before := len(c.Calls(tc.action))
		p := map[string]any{"requestedMessage": tc.message}
		if tc.connector != nil {
			p["connectorId"] = tc.connector
		}
		if got := c.Status("TriggerMessage", p); got != tc.want {
			t.Errorf("TriggerMessage %s on %v = %s, want %s", tc.message, tc.connector, got, tc.want)
			continue
		}
		if tc.action != "" {
			c.WaitCalls(tc.action, before+1)
		}
	}
	var mv struct {
		ConnectorID   int    `json:"connectorId"`
		TransactionID *int64 `json:"transactionId"`
		MeterValue    []struct {
			SampledValue []struct{ Value, Context, Unit string } `json:"sampledValue"`
		} `json:"meterValue"`
	}
	json.Unmarshal(c.Calls("MeterValues")[0].Params, &mv)
	if mv.ConnectorID != 1 || mv.TransactionID != nil || mv.MeterValue[0].SampledValue[0].Context != "Trigger" || mv.MeterValue[0].SampledValue[0].Value != "1234567" {
		t.Errorf("triggered MeterValues %+v, want connector 1, no transaction, context Trigger, 1234567 Wh", mv)
	}
	if st := params[statusNote](t, c.Calls("StatusNotification")[2]); st.ConnectorID != 1 || st.Status != "Available" {
		t.Errorf("triggered StatusNotification %+v, want connector 1 Available", st)
	}
	if got := c.Status("UnlockConnector", map[string]any{"connectorId": 1}); got != "NotSupported" {
		t.Errorf("UnlockConnector = %s, want NotSupported (no lock)", got)
	}
}
