package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger/ocmf"
	"github.com/chargegate/chargegate/ledger/receipt"
)

// Issue 17: a bidirectional (V2G) session settles its export too: the meter's export register
// at begin and end is in the OCMF record (RI 01-00:02.08.00*FF) and in the receipt, and
// receipt verify holds both registers to the entries.
func TestV2GSessionReceiptCarriesExport(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{Broker: true, NoNode: true})
	s.LedgerURL = ""
	resp, err := http.Post(s.Metersim["control"]+"/v1/profile", "application/json",
		bytes.NewBufferString(`{"unit":1,"max_w":11000,"phases":3,"ramp_w_per_s":100000,"export":true}`))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("set an exporting profile: %v %v", err, resp)
	}
	resp.Body.Close()
	dir := t.TempDir()
	op := rig.ConnectOperator(t, s.Broker)
	g := startGateway(t, dir, testConfig(s, filepath.Join(dir, "data"), ""))
	op.WaitOnline(g.Device)
	rep := op.Command(g.Device, "start", `{"request_id":"v1","id_token":"04A1B2C3D4E5F6"}`)
	if rep["ok"] != true {
		t.Fatalf("start: %v", rep)
	}
	id, _ := rep["result"].(map[string]any)["session_id"].(string)
	rig.WaitFor(t, 20*time.Second, "5 Wh fed back (above the OCMF record's 1 Wh resolution)", func() bool {
		m := s.SimMeter(t)
		e, _ := m["energy_export_mwh"].(float64)
		return e > 5000
	})
	if rep := op.Command(g.Device, "stop", `{"request_id":"v2"}`); rep["ok"] != true {
		t.Fatalf("stop: %v", rep)
	}
	var doc []byte
	rig.WaitFor(t, 20*time.Second, "the receipt", func() bool {
		resp, err := http.Get("http://" + g.API + "/api/v1/sessions/" + id + "/receipt")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		doc, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK
	})
	_, ev, err := receipt.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	if ev.EnergyExportMWh < 5000 || !strings.Contains(ev.OCMF, ocmf.OBISExport) {
		t.Fatalf("receipt export %d mWh, OCMF %s: want the export register in both", ev.EnergyExportMWh, ev.OCMF)
	}
	file := filepath.Join(dir, "receipt.json")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := rig.CLI(t, "", "receipt", "verify", file)
	if code != 0 || !strings.Contains(out, "ok      ocmf") {
		t.Fatalf("receipt verify = %d:\n%s", code, out)
	}
	t.Logf("export %d mWh; OCMF %s", ev.EnergyExportMWh, ev.OCMF)
}
