package ota_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/durable"
)

// TestCorruptStateFileKeepsCharging: a damaged update/state.json (issue 14: 46 starts in
// 15 s) no longer fails New or Run. The agent reports "broken", refuses updates with
// ErrBroken and never touches the inhibitor, so sessions go on; Repair keeps the floor and
// makes updates possible again, with the same running agent.
func TestCorruptStateFileKeepsCharging(t *testing.T) {
	damage := []struct{ name, content string }{
		{"truncated", `{"state":"committed","security_floor":`},
		{"empty", ``},
		{"zeroed sector", string(make([]byte, 512))},
		{"no state", `{"security_floor":7}`},
		{"unknown state", `{"state":"flying","security_floor":7}`},
	}
	for _, dmg := range damage {
		t.Run(dmg.name, func(t *testing.T) {
			b, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 7, size: slotSize})
			srv := serve(t, b, nil)
			d := newDevice(t)
			d.valid(payload("2.0.0", slotSize))
			d.modify = func(c *ota.Config) { c.SecurityFloor = 7 } // from the gateway's chain
			must(t, durable.WriteFile(d.fs, stateDir+"/state.json", []byte(dmg.content), 0o600))
			a, ctx, done := d.start(t)
			s := a.Status()
			if s.State != ota.StateBroken || !strings.Contains(s.LastError, ota.ErrStateCorrupt.Error()) || s.SecurityFloor != 7 {
				t.Fatalf("status with a damaged state file: %+v", s)
			}
			if err := a.Update(ctx, srv.URL); !errors.Is(err, ota.ErrBroken) {
				t.Fatalf("update while broken: %v, want ErrBroken", err)
			}
			if err := a.Cancel(ctx); !errors.Is(err, ota.ErrBroken) {
				t.Fatalf("cancel while broken: %v, want ErrBroken", err)
			}
			// Charging is untouched: a session starts, the agent never asked to hold.
			if err := d.inhibit.start(); err != nil || d.inhibit.holds.Load() != 0 {
				t.Fatalf("session start while the updater is broken: %v, holds %d", err, d.inhibit.holds.Load())
			}
			d.inhibit.set(false)
			select {
			case err := <-done:
				t.Fatalf("Run ended while broken: %v", err)
			default:
			}
			must(t, a.Repair(ctx))
			if s := a.Status(); s.State != ota.StateIdle || s.SecurityFloor != 7 || s.LastError != "" {
				t.Fatalf("after repair: %+v", s)
			}
			if _, err := durable.ReadFile(d.fs, stateDir+"/state.json.broken"); err != nil {
				t.Errorf("the damaged file was not kept for diagnosis: %v", err)
			}
			// The same Run goroutine carries the update to the trial reboot.
			must(t, a.Update(ctx, srv.URL))
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("no activation after repair: %+v", a.Status())
			}
			if d.fw.RebootRequests() != 1 {
				t.Fatalf("reboots %d, want 1", d.fw.RebootRequests())
			}
		})
	}
}

// TestUnresolvableStateIsBroken: when the saved state cannot be resolved against the boot
// (here the slot backend cannot tell which slot booted) Run does not end: the agent is
// broken until Repair, which resolves the state again.
func TestUnresolvableStateIsBroken(t *testing.T) {
	d := newDevice(t)
	d.boot()
	must(t, os.Remove(filepath.Join(d.fw.BootloaderDir, "partition")))
	a, err := ota.New(d.config(), d.inhibit)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitFor(t, func() bool { return a.Status().State == ota.StateBroken })
	if s := a.Status(); !strings.Contains(s.LastError, "booted partition") {
		t.Fatalf("broken status does not say why: %+v", s)
	}
	if err := a.Update(ctx, "http://127.0.0.1:1/u.bundle"); !errors.Is(err, ota.ErrBroken) {
		t.Fatalf("update while broken: %v", err)
	}
	d.fs.Reboot()
	d.boot() // the firmware's properties are back
	must(t, a.Repair(ctx))
	waitFor(t, func() bool { return a.Status().Slot == "A" })
	if s := a.Status(); s.State != ota.StateIdle {
		t.Fatalf("after repair: %+v", s)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run ended with %v", err)
	}
}

// TestFloorSurvivesLostStateFile: issue 14 — "lose the file and an older signed bundle
// commits again". After a commit at security version 5 the floor is in the floor file and
// in the gateway's chain (Config.SecurityFloor); either alone keeps a version-3 bundle out.
func TestFloorSurvivesLostStateFile(t *testing.T) {
	good, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 5, size: slotSize})
	old, _ := makeBundle(t, bundleSpec{version: "1.5.0", secVersion: 3, size: slotSize})
	oldURL := serve(t, old, nil).URL
	cases := []struct {
		name      string
		loseFloor bool   // the floor file is lost too
		chain     uint64 // Config.SecurityFloor
		want      ota.State
	}{
		{name: "floor file", want: ota.StateFailed},
		{name: "chain", loseFloor: true, chain: 5, want: ota.StateFailed},
		// The boundary: with every copy gone the old bundle is accepted again, which is
		// what the two copies prevent.
		{name: "nothing left", loseFloor: true, want: ota.StateCommitted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDevice(t)
			d.valid(payload("2.0.0", slotSize))
			d.valid(payload("1.5.0", slotSize))
			var mu sync.Mutex
			var commits []string
			d.modify = func(c *ota.Config) {
				c.OnCommit = func(v string, sv uint64) {
					mu.Lock()
					commits = append(commits, v+"/"+strconv.FormatUint(sv, 10))
					mu.Unlock()
				}
			}
			if s, booted := d.runToEnd(serve(t, good, nil).URL, 4); s.State != ota.StateCommitted || booted != "B" || s.SecurityFloor != 5 {
				t.Fatalf("first update: %+v, booted %s", s, booted)
			}
			if len(commits) != 1 || commits[0] != "2.0.0/5" {
				t.Fatalf("OnCommit calls %q, want one for 2.0.0/5", commits)
			}
			floor, err := durable.ReadFile(d.fs, stateDir+"/security-floor")
			if err != nil || string(floor) != "chargegate-security-floor/1 5\n" {
				t.Fatalf("floor file %q, %v", floor, err)
			}
			must(t, d.fs.Remove(stateDir+"/state.json"))
			if tc.loseFloor {
				must(t, d.fs.Remove(stateDir+"/security-floor"))
			}
			d.fs.Reboot()
			d.modify = func(c *ota.Config) { c.Version, c.SecurityFloor = "2.0.0", tc.chain }
			s, _ := d.runToEnd(oldURL, 4)
			if s.State != tc.want {
				t.Fatalf("older bundle after losing state.json: %+v, want %s", s, tc.want)
			}
			if tc.want == ota.StateFailed && (!strings.Contains(s.Error, ota.ErrDowngrade.Error()) || s.SecurityFloor != 5) {
				t.Fatalf("refused for the wrong reason: %+v", s)
			}
		})
	}
}

// TestFloorFileRestored: a state file with a floor but no floor file (written by an older
// release, or the floor file was lost) gets its second copy back at the next start.
func TestFloorFileRestored(t *testing.T) {
	d := newDevice(t)
	must(t, durable.WriteFile(d.fs, stateDir+"/state.json", []byte(`{"state":"committed","security_floor":9}`), 0o600))
	must(t, durable.WriteFile(d.fs, stateDir+"/security-floor", []byte("garbage"), 0o600))
	a, _, _ := d.start(t)
	waitFor(t, func() bool {
		b, err := durable.ReadFile(d.fs, stateDir+"/security-floor")
		return err == nil && string(b) == "chargegate-security-floor/1 9\n"
	})
	if s := a.Status(); s.SecurityFloor != 9 || s.State != ota.StateCommitted {
		t.Fatalf("status %+v", s)
	}
}
