package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

// Issue 15: a data directory restored from an older copy reuses nothing. A checkpoint witness
// that cosigned a larger tree refuses the older one; the gateway raises chain_rolled_back,
// records a signed rolled_back event and continues its sequence above what the witness saw, so
// the chain still verifies with the numbers in between declared.
func TestWitnessCatchesARolledBackDataDirectory(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if _, err := ledger.LoadOrCreateKeys(data); err != nil {
		t.Fatal(err)
	}
	_, deviceVkey := rig.CLI(t, "", "witness", "device-vkey", "--data", data)
	wkey := filepath.Join(dir, "witness.key")
	code, witnessVkey := rig.CLI(t, "", "witness", "vkey", "--key", wkey, "--name", "w1.test")
	if code != 0 {
		t.Fatalf("witness vkey: %s", witnessVkey)
	}
	addrs := rig.StartService(t, rig.Bin(t, "chargegate"), "witness", "serve", "--listen", "127.0.0.1:0", "--key", wkey, "--name", "w1.test",
		"--state", filepath.Join(dir, "witness.json"), "--log", strings.TrimSpace(deviceVkey)).Addrs
	cfg := strings.Replace(testConfig(s, data, ""), "ledger:\n", "ledger:\n  witnesses: [\""+addrs["witness"]+" "+strings.TrimSpace(witnessVkey)+"\"]\n", 1)

	g := startGateway(t, dir, cfg)
	waitAnchored := func(g *rig.Gateway, n float64) {
		rig.WaitFor(t, 30*time.Second, "anchors confirmed", func() bool {
			a, _ := g.StatusMap(t)["anchor"].(map[string]any)
			return a != nil && a["confirmed"].(float64) >= n
		})
	}
	waitAnchored(g, 1)
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup")
	if out, err := exec.Command("cp", "-a", data, backup).CombinedOutput(); err != nil {
		t.Fatalf("back up the data directory: %v %s", err, out)
	}
	g = startGateway(t, dir, cfg)
	waitAnchored(g, 2) // the witness cosigns a larger tree at each anchor
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// What the witness saw: the size of the last checkpoint it cosigned (entries after it, up to
	// the stop, were never shown to anyone and cannot be told apart from a rollback).
	var state map[string]struct {
		Size uint64 `json:"size"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "witness.json"))
	if err != nil || json.Unmarshal(b, &state) != nil || len(state) != 1 {
		t.Fatalf("witness state: %v %s", err, b)
	}
	var seen uint64
	for _, st := range state {
		seen = st.Size
	}
	// Restore the older copy, as an owner who wants to bill again or hide a session would.
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(backup, data); err != nil {
		t.Fatal(err)
	}
	restored := uint64(len(chain(t, data)))
	if seen <= restored {
		t.Fatalf("the witness saw size %d, the restored copy holds %d: nothing to catch", seen, restored)
	}
	g = startGateway(t, dir, cfg)
	rig.WaitFor(t, 20*time.Second, "alarm chain_rolled_back", func() bool {
		alarms, _ := g.StatusMap(t)["alarms"].(map[string]any)
		return alarms[AlarmRolledBack] != nil
	})
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, out := rig.CLI(t, "", "verify", "--data", data); code != 0 {
		t.Fatalf("verify after the rollback = %d: %s", code, out)
	}
	var event, skipped bool
	for _, e := range chain(t, data) {
		event = event || (e.Kind == ledger.KindEvent && e.Event == ledger.EventRolledBack)
		if e.Kind == ledger.KindEvent && e.Event == ledger.EventSeqSkipped {
			from, to, _ := ledger.ParseHole(e.Detail)
			skipped = skipped || (from <= restored+1 && to >= restored+1)
		}
		if e.Seq > restored && e.Seq <= seen && e.Event != ledger.EventSeqSkipped {
			t.Errorf("seq %d (%s %s) issued again after the rollback", e.Seq, e.Kind, e.Event)
		}
	}
	if !event || !skipped {
		t.Errorf("rolled_back event %t, numbers after the restored head declared skipped %t", event, skipped)
	}
}
