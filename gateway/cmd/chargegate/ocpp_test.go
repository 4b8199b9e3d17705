package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

// Issue 16 (started): the real daemon as an OCPP 1.6J charge point of the strict ocpp-rpc
// CSMS. Every call and reply is checked against the official schemas (a violation fails the
// test); a remote start and stop run a session through the control loop, and the session's
// OCMF record arrives in StopTransaction as SignedData that chargegate ocmf verify accepts.
func TestOCPPRemoteSessionWithSignedMeterValues(t *testing.T) {
	c := rig.StartCSMS(t, filepath.Join("..", "..", "ocpp", "testdata", "csms"), "--interval", "30", "--txid-start", "500")
	s := rig.StartStack(t, rig.StackOptions{})
	dir := t.TempDir()
	cfg := s.Config(filepath.Join(dir, "data"), rig.Config{
		Sessions: "  mode: authorized\n",
		Extra:    "ocpp:\n  url: " + c.URL() + "\n  identity: CG-E2E-1\n  meter_value_sample_interval: 1s\n",
	})
	g := startGateway(t, dir, cfg)
	c.WaitCalls("BootNotification", 1)
	c.WaitFor("connector 1 available", func() bool {
		for _, l := range c.Calls("StatusNotification") {
			if strings.Contains(string(l.Params), `"connectorId":1`) && strings.Contains(string(l.Params), `"Available"`) {
				return true
			}
		}
		return false
	})
	if st := c.Status("RemoteStartTransaction", map[string]any{"connectorId": 1, "idTag": "TAG-E2E"}); st != "Accepted" {
		t.Fatalf("RemoteStartTransaction: %s", st)
	}
	start := c.WaitCalls("StartTransaction", 1)[0]
	if !strings.Contains(string(start.Params), `"idTag":"TAG-E2E"`) {
		t.Errorf("StartTransaction %s does not carry the remote idTag", start.Params)
	}
	c.WaitCalls("MeterValues", 2)
	if st := c.Status("RemoteStopTransaction", map[string]any{"transactionId": 500}); st != "Accepted" {
		t.Fatalf("RemoteStopTransaction: %s", st)
	}
	stop := c.WaitCalls("StopTransaction", 1)[0]
	var sp struct {
		TransactionID   int    `json:"transactionId"`
		Reason          string `json:"reason"`
		TransactionData []struct {
			SampledValue []struct {
				Value, Format, Context string
			} `json:"sampledValue"`
		} `json:"transactionData"`
	}
	if err := json.Unmarshal(stop.Params, &sp); err != nil {
		t.Fatal(err)
	}
	if sp.TransactionID != 500 || sp.Reason != "Remote" {
		t.Errorf("StopTransaction id %d reason %q, want 500 Remote", sp.TransactionID, sp.Reason)
	}
	var signed string
	for _, mv := range sp.TransactionData {
		for _, sv := range mv.SampledValue {
			if sv.Format == "SignedData" {
				signed = sv.Value
			}
		}
	}
	if !strings.HasPrefix(signed, "OCMF|") {
		t.Fatalf("no OCMF record as SignedData in StopTransaction: %s", stop.Params)
	}
	res, err := c.Call("GetConfiguration", map[string]any{"key": []string{"MeterPublicKey1"}})
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		ConfigurationKey []struct{ Value string } `json:"configurationKey"`
	}
	if json.Unmarshal(res, &conf) != nil || len(conf.ConfigurationKey) != 1 {
		t.Fatalf("GetConfiguration MeterPublicKey1: %s", res)
	}
	if code, out := rig.CLI(t, "", "ocmf", "verify", "--key", conf.ConfigurationKey[0].Value, signed); code != 0 {
		t.Errorf("chargegate ocmf verify of the SignedData = %d: %s", code, out)
	}
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ends := endsBySession(chain(t, g.DataDir))
	if len(ends) != 1 {
		t.Fatalf("%d sessions ended in the chain, want 1", len(ends))
	}
	for _, es := range ends {
		if len(es) != 1 || es[0].Event != ledger.EndRemote {
			t.Errorf("session ends %+v, want one remote end", es)
		}
	}
}
