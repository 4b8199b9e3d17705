package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/access"
	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

// Issue 17: the operator manages the local allow-list with allow_list commands (versioned,
// persisted, each change an allow_list event), and with OCPP on it is OCPP's Local
// Authorization List too: the CSMS's SendLocalList and the operator's commands change one list,
// and GetLocalListVersion reports the version either set. A card neither knows is asked about
// with OCPP Authorize (the access component's online check).
func TestAllowListIsOneListForOperatorAndCSMS(t *testing.T) {
	c := rig.StartCSMS(t, filepath.Join("..", "..", "ocpp", "testdata", "csms"), "--interval", "30")
	s := rig.StartStack(t, rig.StackOptions{Broker: true, NoNode: true})
	s.LedgerURL = ""
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := s.Config(data, rig.Config{Idle: time.Second, Sessions: "  mode: authorized\n",
		Extra: "ocpp:\n  url: " + c.URL() + "\n  identity: CG-LIST-1\naccess:\n  rfid:\n    reader: sim\n"})
	g := startGateway(t, dir, cfg)
	op := rig.ConnectOperator(t, s.Broker)
	op.WaitOnline(g.Device)
	c.WaitCalls("BootNotification", 1)

	if st := c.Status("SendLocalList", map[string]any{"listVersion": 3, "updateType": "Full", "localAuthorizationList": []map[string]any{
		{"idTag": "04AA0001", "idTagInfo": map[string]any{"status": "Accepted", "parentIdTag": "fleet-7"}},
		{"idTag": "04BB0002", "idTagInfo": map[string]any{"status": "Blocked"}},
	}}); st != "Accepted" {
		t.Fatalf("SendLocalList: %s", st)
	}
	get := func() (float64, string) {
		t.Helper()
		rep := op.Command(g.Device, "allow_list", `{"request_id":"g-`+time.Now().Format("150405.000000")+`","op":"get"}`)
		res, _ := rep["result"].(map[string]any)
		if rep["ok"] != true {
			t.Fatalf("allow_list get: %v", rep)
		}
		b, _ := json.Marshal(res["entries"])
		v, _ := res["version"].(float64)
		return v, string(b)
	}
	v, entries := get()
	if v != 3 || !strings.Contains(entries, `{"group":"fleet-7","id_token":"04AA0001","status":"Accepted"}`) || !strings.Contains(entries, `"status":"Blocked"`) {
		t.Fatalf("after SendLocalList the operator sees version %v, entries %s", v, entries)
	}
	// In order: "added" (version 4) must come before "removed" (version 5).
	for _, tc := range []struct{ name, payload, code string }{
		{"stale version", `{"request_id":"a-1","op":"add","version":3,"entries":[{"id_token":"04CC0003"}]}`, "bad_request"},
		{"no version", `{"request_id":"a-2","op":"add","entries":[{"id_token":"04CC0003"}]}`, "bad_request"},
		{"bad status", `{"request_id":"a-3","op":"add","version":9,"entries":[{"id_token":"04CC0003","status":"Maybe"}]}`, "bad_request"},
		{"added", `{"request_id":"a-4","op":"add","version":4,"entries":[{"id_token":"04CC0003","group":"fleet-7","limits":{"max_wh":5000}}]}`, ""},
		{"removed", `{"request_id":"a-5","op":"remove","version":5,"entries":[{"id_token":"04BB0002"}]}`, ""},
	} {
		rep := op.Command(g.Device, "allow_list", tc.payload)
		e, _ := rep["error"].(map[string]any)
		if tc.code == "" && rep["ok"] != true || tc.code != "" && (rep["ok"] != false || e["code"] != tc.code) {
			t.Errorf("%s: reply %v, want code %q", tc.name, rep, tc.code)
		}
	}
	if st, _ := c.Call("GetLocalListVersion", map[string]any{}); !strings.Contains(string(st), `"listVersion":5`) {
		t.Errorf("GetLocalListVersion after the operator's changes: %s, want 5", st)
	}
	if st := c.Status("SendLocalList", map[string]any{"listVersion": 5, "updateType": "Differential", "localAuthorizationList": []map[string]any{
		{"idTag": "04DD0004", "idTagInfo": map[string]any{"status": "Accepted"}}}}); st != "VersionMismatch" {
		t.Errorf("a differential SendLocalList at the operator's version: %s, want VersionMismatch", st)
	}
	v, entries = get()
	if v != 5 || strings.Contains(entries, "04BB0002") || !strings.Contains(entries, `"max_wh":5000`) {
		t.Errorf("version %v, entries %s", v, entries)
	}

	// A card neither list knows is asked about online: OCPP Authorize, the CSMS accepts it.
	reader := openTapper(t, filepath.Join(data, "rfid.fifo"))
	reader.tap("04EE0005")
	rig.WaitFor(t, 15*time.Second, "the CSMS-authorized card's session", func() bool { return g.StatusMap(t)["session"] != nil })
	if n := len(c.Calls("Authorize")); n != 1 {
		t.Errorf("%d Authorize calls, want 1", n)
	}
	reader.tap("04EE0005")
	rig.WaitFor(t, 15*time.Second, "the same card stops it", func() bool { return g.StatusMap(t)["session"] == nil })
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	changes, online := 0, 0
	for _, e := range chain(t, data) {
		if e.Kind == ledger.KindSessionBegin && strings.HasPrefix(e.Detail, "auth=online tok="+access.TokenHash("04EE0005")) {
			online++
		}
	}
	if online != 1 {
		t.Errorf("%d begin entries authorized online, want 1", online)
	}
	for _, e := range chain(t, data) {
		if e.Event == ledger.EventAllowList {
			changes++
			if strings.Contains(e.Detail, "04CC0003") {
				t.Errorf("allow_list event %q names an id_token", e.Detail)
			}
		}
	}
	if changes != 2 {
		t.Errorf("%d allow_list events, want 2 (the operator's add and remove)", changes)
	}
	// The list outlives the process.
	g = startGateway(t, dir, cfg)
	op.WaitOnline(g.Device)
	if v, entries = get(); v != 5 || !strings.Contains(entries, "04CC0003") {
		t.Errorf("after a restart: version %v, entries %s", v, entries)
	}
}
