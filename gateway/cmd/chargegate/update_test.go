package main

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ota/slot"
)

// TestUpdateWaitsForSessionThenCommits drives an app-only update through the real daemon: the
// update is requested mid-session, waits for the session to end, installs into the inactive
// slot and restarts; the launcher starts the new slot as a trial, whose health check commits it.
func TestUpdateWaitsForSessionThenCommits(t *testing.T) {
	dir := t.TempDir()
	bin, err := os.ReadFile(rig.Bin(t, "chargegate"))
	if err != nil {
		t.Fatal(err)
	}
	// The box as installed (the launcher copied the binary into slot A and started it) and a
	// release of the same program signed with a key the device trusts.
	f := newFirmwareRig(t, dir)
	slotDir, dirs, srv := f.slotDir, f.dirs, f.srv

	s := rig.StartStack(t, rig.StackOptions{Broker: true})
	op := rig.ConnectOperator(t, s.Broker)
	cfg := testConfig(s, filepath.Join(dir, "data"), "sessions:\n  mode: free\n"+f.updateConfig(dir))
	g := startGateway(t, dir, cfg)
	op.WaitOnline(g.Device)
	if rep := op.Command(g.Device, "start", `{"request_id":"u-start"}`); rep["ok"] != true {
		t.Fatalf("start: %v", rep)
	}
	if rep := op.Command(g.Device, "update", `{"request_id":"u-1","url":"`+srv.URL+`/update.bundle"}`); rep["ok"] != true {
		t.Fatalf("update: %v", rep)
	}
	rig.WaitFor(t, 30*time.Second, "update waiting for the session", func() bool {
		u, _ := g.StatusMap(t)["update"].(map[string]any)
		return u != nil && u["state"] == "waiting"
	})
	if st := g.StatusMap(t); st["session"] == nil || st["relay_closed"] != true {
		t.Fatalf("the update interrupted the session: %v", st)
	}
	if rep := op.Command(g.Device, "stop", `{"request_id":"u-stop"}`); rep["ok"] != true {
		t.Fatalf("stop: %v", rep)
	}
	// Installing ends with a clean exit so that systemd restarts the service into the new slot.
	waitInstallExit(t, g)
	got, err := os.ReadFile(filepath.Join(slotDir, "B", slot.AppFile))
	if err != nil || sha256.Sum256(got) != sha256.Sum256(bin) {
		t.Fatalf("slot B does not hold the bundle's payload (err %v)", err)
	}

	// systemd runs the launcher again: it starts slot B once, as a trial.
	next, err := dirs.Launch()
	if err != nil || !strings.HasSuffix(next, filepath.Join("B", slot.AppFile)) {
		t.Fatalf("launcher chose %q, %v; want slot B", next, err)
	}
	g2 := startGateway(t, dir, cfg)
	rig.WaitFor(t, 60*time.Second, "trial committed", func() bool {
		u, _ := g2.StatusMap(t)["update"].(map[string]any)
		return u != nil && u["state"] == "committed"
	})
	cur, _ := os.ReadFile(filepath.Join(slotDir, "current"))
	if strings.TrimSpace(string(cur)) != "B" {
		t.Fatalf("default slot after commit = %q, want B", cur)
	}
	if err := g2.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	committed := false
	for _, e := range chain(t, g2.DataDir) {
		committed = committed || (e.Kind == ledger.KindEvent && e.Event == ledger.EventUpdateCommitted && strings.Contains(e.Detail, "security_version=2"))
	}
	if !committed {
		t.Fatal("no signed update_committed event with security_version=2 in the chain")
	}

	// Issue 14: a damaged state file and a lost floor file never stop the charger; the updater
	// reports itself broken until repaired, and the floor survives in the gateway's store.
	if err := os.WriteFile(filepath.Join(dir, "update", "state.json"), []byte("\x00garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "update", "security-floor"))
	g3 := startGateway(t, dir, cfg)
	op.WaitOnline(g3.Device)
	rig.WaitFor(t, 10*time.Second, "updater reported broken", func() bool {
		u, _ := g3.StatusMap(t)["update"].(map[string]any)
		return u != nil && u["state"] == "broken"
	})
	if rep := op.Command(g3.Device, "start", `{"request_id":"u-start-2"}`); rep["ok"] != true {
		t.Fatalf("start with a broken updater: %v", rep)
	}
	if rep := op.Command(g3.Device, "update", `{"request_id":"u-2","url":"`+srv.URL+`/update.bundle"}`); rep["ok"] != false ||
		rep["error"].(map[string]any)["code"] != "update_broken" {
		t.Fatalf("update while broken: %v", rep)
	}
	if rep := op.Command(g3.Device, "repair_update", `{"request_id":"u-repair"}`); rep["ok"] != true {
		t.Fatalf("repair_update: %v", rep)
	}
	rig.WaitFor(t, 10*time.Second, "security floor 2 after losing the agent's files", func() bool {
		u, _ := g3.StatusMap(t)["update"].(map[string]any)
		return u != nil && u["security_floor"] == float64(2)
	})
	if rep := op.Command(g3.Device, "stop", `{"request_id":"u-stop-2"}`); rep["ok"] != true {
		t.Fatalf("stop: %v", rep)
	}
	g3.Stop(syscall.SIGTERM)
}
