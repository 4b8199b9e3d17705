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
)

// Issue 17 (started): every finished session leaves the box as a signed receipt — published on
// the receipts topic, kept in the store and served by the local API — that chargegate receipt
// verify accepts: the device's signature, both entries, the figures and the OCMF record.
func TestSessionReceiptIsPublishedAndVerifies(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{Broker: true})
	dir := t.TempDir()
	op := rig.ConnectOperator(t, s.Broker)
	g := startGateway(t, dir, testConfig(s, filepath.Join(dir, "data"), ""))
	op.WaitOnline(g.Device)
	rep := op.Command(g.Device, "start", `{"request_id":"rc1","id_token":"04A1B2C3D4E5F6"}`)
	if rep["ok"] != true {
		t.Fatalf("start: %v", rep)
	}
	id, _ := rep["result"].(map[string]any)["session_id"].(string)
	time.Sleep(2 * time.Second)
	if rep := op.Command(g.Device, "stop", `{"request_id":"rc2"}`); rep["ok"] != true {
		t.Fatalf("stop: %v", rep)
	}
	rig.WaitFor(t, 20*time.Second, "the receipt on the receipts topic", func() bool { return len(op.Messages("receipts")) > 0 })
	published := op.Messages("receipts")[0]
	if !bytes.Contains(published, []byte(id)) {
		t.Fatalf("the published receipt does not name session %s: %.300s", id, published)
	}
	resp, err := http.Get("http://" + g.API + "/api/v1/sessions/" + id + "/receipt")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(served, published) {
		t.Fatalf("local API receipt: %s, equal to the published one: %t", resp.Status, bytes.Equal(served, published))
	}
	if resp, err := http.Get("http://" + g.API + "/api/v1/sessions/nosuchsession/receipt"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("receipt of an unknown session: %v %v", resp.Status, err)
	}
	file := filepath.Join(dir, "receipt.json")
	if err := os.WriteFile(file, served, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := rig.CLI(t, "", "receipt", "verify", "--node", s.LedgerURL, file)
	for _, check := range []string{"ok      signature", "ok      entries", "ok      figures", "ok      ocmf"} {
		if !strings.Contains(out, check) {
			t.Errorf("receipt verify does not report %q:\n%s", check, out)
		}
	}
	if code == 1 {
		t.Fatalf("receipt verify = 1 (invalid):\n%s", out)
	}
	t.Logf("receipt verify = %d:\n%s", code, out)
}
