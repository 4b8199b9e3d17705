package ota_test

import (
	"context"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/durable"
)

// TestPowerCutAtEveryStep cuts power at every mutating filesystem operation of a whole
// update (download, install, trial, commit), then boots the fake firmware and restarts the
// agent. The cut either discards everything not synced, or keeps everything written before
// it (the disk flushed on its own): the two extremes of what a real disk may do. Every boot must start a slot holding a verified
// bundle (checked in device.boot), and every run must end committed (new slot, floor
// raised) or rolled back (old slot, floor unchanged).
func TestPowerCutAtEveryStep(t *testing.T) {
	b, m := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 5, size: slotSize})
	srv := serve(t, b, nil)
	cases := []struct {
		name      string
		keep      bool
		unhealthy bool
	}{
		{name: "healthy/unsynced-lost"},
		{name: "healthy/unsynced-kept", keep: true},
		{name: "unhealthy/unsynced-lost", unhealthy: true},
		{name: "unhealthy/unsynced-kept", keep: true, unhealthy: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setup := func() *device {
				d := newDevice(t)
				d.valid(payload("2.0.0", slotSize))
				d.keepUnsynced = tc.keep
				if tc.unhealthy {
					d.health = func(context.Context) error { return errors.New("meter not readable") }
					d.modify = func(c *ota.Config) { c.HealthDeadline = 5 * time.Millisecond }
				}
				return d
			}
			check := func(n int, d *device, s ota.Status, booted string) {
				t.Helper()
				// The floor's second copy rises with the commit and never without it.
				floor, err := durable.ReadFile(d.fs, stateDir+"/security-floor")
				switch {
				case s.State == ota.StateCommitted && booted == "B" && s.SecurityFloor == m.SecurityVersion && !tc.unhealthy &&
					err == nil && string(floor) == "chargegate-security-floor/1 5\n" && d.commits.Load() >= 1:
				case s.State == ota.StateRolledBack && booted == "A" && s.SecurityFloor == 0 && errors.Is(err, fs.ErrNotExist) && d.commits.Load() == 0:
				default:
					t.Fatalf("cut at operation %d: ended %+v, booted %s, floor file %q (%v), OnCommit calls %d", n, s, booted, floor, err, d.commits.Load())
				}
			}
			// A run without a cut counts the operations.
			d := setup()
			d.fs.CutAt(0)
			s, booted := d.runToEnd(srv.URL, 6)
			check(0, d, s, booted)
			if want := map[bool]ota.State{false: ota.StateCommitted, true: ota.StateRolledBack}[tc.unhealthy]; s.State != want {
				t.Fatalf("uninterrupted update ended %s, want %s", s.State, want)
			}
			total := d.fs.Ops()
			if total < 20 {
				t.Fatalf("only %d operations in a whole update", total)
			}
			outcomes := map[ota.State]int{}
			for n := 1; n <= total; n++ {
				d := setup()
				d.fs.CutAt(n)
				s, booted := d.runToEnd(srv.URL, 8)
				check(n, d, s, booted)
				outcomes[s.State]++
			}
			t.Logf("crash points: %d; outcomes: %v", total, outcomes)
			if !tc.unhealthy && outcomes[ota.StateCommitted] == 0 {
				t.Errorf("no crash point ended committed: %v", outcomes)
			}
			if outcomes[ota.StateRolledBack] == 0 {
				t.Errorf("no crash point ended rolled back: %v", outcomes)
			}
		})
	}
}

// TestDoublePowerCut cuts power at every operation, and again a few operations into the
// recovery that follows.
func TestDoublePowerCut(t *testing.T) {
	b, m := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 5, size: slotSize})
	srv := serve(t, b, nil)
	runs := 0
	for _, second := range []int{1, 3, 6} {
		for n := 1; ; n++ {
			d := newDevice(t)
			d.valid(payload("2.0.0", slotSize))
			d.fs.CutAt(n)
			d.secondCut = second
			s, booted := d.runToEnd(srv.URL, 10)
			if d.secondCut != 0 { // the first cut never came: n is past the end
				break
			}
			runs++
			switch {
			case s.State == ota.StateCommitted && booted == "B" && s.SecurityFloor == m.SecurityVersion:
			case s.State == ota.StateRolledBack && booted == "A" && s.SecurityFloor == 0:
			default:
				t.Fatalf("cuts at operation %d and %d after: ended %+v, booted %s", n, second, s, booted)
			}
		}
	}
	t.Logf("double power cuts: %d runs", runs)
}

// TestServiceRestartDuringTrialRollsBack: the new version crashing during its trial (the
// service restarts within the same boot) counts as a failed trial.
func TestServiceRestartDuringTrialRollsBack(t *testing.T) {
	b, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 1, size: slotSize})
	srv := serve(t, b, nil)
	d := newDevice(t)
	d.valid(payload("2.0.0", slotSize))
	block := make(chan struct{})
	d.modify = func(c *ota.Config) { c.HealthDeadline = time.Minute } // the restart comes first
	d.health = func(ctx context.Context) error {
		select {
		case <-block:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if end, s := d.life(srv.URL); end != rebooted || s.State != ota.StateInstalled {
		t.Fatalf("first boot ended %v in %s, want a reboot into the trial", end, s.State)
	}
	// Trial boot: the agent runs the health check; the service "crashes" (ctx cancelled
	// without a reboot) and systemd starts it again in the same boot.
	a, _, done := d.start(t)
	waitFor(t, func() bool { return a.Status().State == ota.StateTrial && a.Status().Slot == "B" })
	d.mu.Lock()
	d.cancel()
	d.mu.Unlock()
	<-done
	a, err := ota.New(d.config(), d.inhibit)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.mu.Lock()
	d.cancel = cancel
	d.mu.Unlock()
	reboots := d.fw.RebootRequests()
	if err := a.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("run after restart in trial: %v", err)
	}
	if s := a.Status(); s.State != ota.StateRolledBack || d.fw.RebootRequests() != reboots+1 {
		t.Fatalf("after a restart in the trial: %+v, reboots %d", s, d.fw.RebootRequests()-reboots)
	}
	d.fs.Reboot()
	if name, _ := d.boot(); name != "A" {
		t.Fatalf("fell back to %s, want A", name)
	}
	close(block)
}

// waitFor polls cond every millisecond until it holds, failing the test after 10 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-deadline:
			t.Fatal("condition not met within 10 s")
		case <-tick.C:
		}
	}
}
