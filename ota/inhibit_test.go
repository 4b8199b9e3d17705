package ota_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/slot"
)

// TestUpdateWaitsForChargingSession: an update requested while a car charges downloads,
// then waits; it activates (reboots into the trial) only after the session ends.
func TestUpdateWaitsForChargingSession(t *testing.T) {
	b, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 1, size: slotSize})
	srv := serve(t, b, nil)
	d := newDevice(t)
	d.valid(payload("2.0.0", slotSize))
	d.inhibit.set(true) // a session runs
	a, ctx, done := d.start(t)
	must(t, a.Update(ctx, srv.URL))
	if err := a.Update(ctx, srv.URL); err == nil || !strings.Contains(err.Error(), ota.ErrBusy.Error()) {
		t.Fatalf("second update while one runs: %v, want ErrBusy", err)
	}
	waitFor(t, func() bool { s := a.Status(); return s.State == ota.StateWaiting && s.WaitingFor == "charging session" })
	// About 50 inhibit polls later (PollInterval is 1 ms) it still waits and has not rebooted.
	polls := 0
	waitFor(t, func() bool { polls++; return polls > 50 })
	if s := a.Status(); s.State != ota.StateWaiting || s.Percent != 100 || d.fw.RebootRequests() != 0 {
		t.Fatalf("during the session: %+v, reboots %d", s, d.fw.RebootRequests())
	}
	d.inhibit.set(false) // the session ends
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no activation after the session ended")
	}
	if d.fw.RebootRequests() != 1 || a.Status().State != ota.StateInstalled || !a.Activating() {
		t.Fatalf("after the session: %+v, reboots %d", a.Status(), d.fw.RebootRequests())
	}
	d.fs.Reboot()
	if s, booted := d.runToEnd(srv.URL, 3); s.State != ota.StateCommitted || booted != "B" {
		t.Fatalf("ended %+v, booted %s", s, booted)
	}
}

// TestMaintenanceWindow: activation waits for the window, read from the injected clock.
func TestMaintenanceWindow(t *testing.T) {
	b, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 1, size: slotSize})
	srv := serve(t, b, nil)
	d := newDevice(t)
	d.valid(payload("2.0.0", slotSize))
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC).UnixNano())
	d.modify = func(c *ota.Config) {
		c.Window = &ota.MaintenanceWindow{Start: 2 * time.Hour, End: 4 * time.Hour}
		c.Now = func() time.Time { return time.Unix(0, now.Load()) }
	}
	a, ctx, done := d.start(t)
	must(t, a.Update(ctx, srv.URL))
	waitFor(t, func() bool { return a.Status().WaitingFor == "maintenance window" })
	now.Store(time.Date(2026, 11, 25, 2, 30, 0, 0, time.UTC).UnixNano())
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no activation inside the window")
	}
	if d.fw.RebootRequests() != 1 {
		t.Fatalf("reboots %d, want 1", d.fw.RebootRequests())
	}
}

func TestMaintenanceWindowOpen(t *testing.T) {
	day := func(h, m int) time.Time { return time.Date(2026, 1, 2, h, m, 0, 0, time.UTC) }
	cases := []struct {
		w    ota.MaintenanceWindow
		t    time.Time
		want bool
	}{
		{ota.MaintenanceWindow{Start: 2 * time.Hour, End: 4 * time.Hour}, day(3, 0), true},
		{ota.MaintenanceWindow{Start: 2 * time.Hour, End: 4 * time.Hour}, day(4, 0), false},
		{ota.MaintenanceWindow{Start: 2 * time.Hour, End: 4 * time.Hour}, day(1, 59), false},
		{ota.MaintenanceWindow{Start: 23 * time.Hour, End: time.Hour}, day(23, 30), true},
		{ota.MaintenanceWindow{Start: 23 * time.Hour, End: time.Hour}, day(0, 30), true},
		{ota.MaintenanceWindow{Start: 23 * time.Hour, End: time.Hour}, day(12, 0), false},
		{ota.MaintenanceWindow{Start: 2 * time.Hour, End: 4 * time.Hour, Location: time.FixedZone("CET", 3600)}, day(1, 30), true},
	}
	for _, c := range cases {
		if got := c.w.Open(c.t); got != c.want {
			t.Errorf("%+v.Open(%v) = %v, want %v", c.w, c.t, got, c.want)
		}
	}
}

func TestParseMaintenanceWindow(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	must(t, err)
	cases := []struct {
		in   string
		want *ota.MaintenanceWindow
		bad  bool
	}{
		{in: ""},
		{in: "02:00-04:30", want: &ota.MaintenanceWindow{Start: 2 * time.Hour, End: 4*time.Hour + 30*time.Minute}},
		{in: "23:00-01:00 Europe/Berlin", want: &ota.MaintenanceWindow{Start: 23 * time.Hour, End: time.Hour, Location: berlin}},
		{in: "2-4", bad: true},
		{in: "02:00", bad: true},
		{in: "25:00-04:00", bad: true},
		{in: "02:00-02:00", bad: true},
		{in: "02:00-04:00 Mars/Olympus", bad: true},
	}
	for _, c := range cases {
		got, err := ota.ParseMaintenanceWindow(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q: no error", c.in)
			}
			continue
		}
		if err != nil || (got == nil) != (c.want == nil) || (got != nil && (got.Start != c.want.Start || got.End != c.want.End || got.Location.String() != c.want.Location.String())) {
			t.Errorf("%q: %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

// TestAppOnlyDirs runs a whole update with the Dirs backend on the real filesystem: the
// launcher starts the new binary once as a trial, the agent commits, later starts keep it.
func TestAppOnlyDirs(t *testing.T) {
	root := t.TempDir()
	dirs := &slot.Dirs{FS: durable.OS{}, Root: root}
	must(t, os.MkdirAll(filepath.Join(root, "A"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "A", slot.AppFile), payload("1.0.0", 2000), 0o755))
	b, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 3, size: 2500, typ: bundle.TypeApp})
	srv := serve(t, b, nil)
	cfg := ota.Config{
		StateDir: filepath.Join(root, "state"), Slots: dirs, TrustedKeys: trusted(testKey("release")), Hardware: "rpi4",
		Version: "1.0.0", HealthCheck: func(context.Context) error { return nil }, RetryDelay: time.Millisecond, PollInterval: time.Millisecond,
	}
	start := func() (string, *ota.Agent, context.Context, func(), chan error) {
		bin, err := dirs.Launch()
		must(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		dirs.Restart = func(context.Context) error { cancel(); return nil }
		a, err := ota.New(cfg, &charging{})
		must(t, err)
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		return bin, a, ctx, cancel, done
	}
	bin, a, ctx, cancel, done := start()
	if bin != filepath.Join(root, "A", slot.AppFile) {
		t.Fatalf("first start runs %s", bin)
	}
	must(t, a.Update(ctx, srv.URL))
	<-done // the agent restarted the service into the trial
	cancel()
	bin, a, _, cancel, done = start()
	defer cancel()
	if bin != filepath.Join(root, "B", slot.AppFile) {
		t.Fatalf("trial start runs %s", bin)
	}
	waitFor(t, func() bool { return a.Status().State == ota.StateCommitted })
	cancel()
	<-done
	got, err := os.ReadFile(bin)
	must(t, err)
	if string(got) != string(payload("2.0.0", 2500)) {
		t.Fatal("slot B does not hold the new binary")
	}
	js, err := json.Marshal(a.Status())
	must(t, err)
	// Issue 14: the process that committed no longer counts as a trial; the next update
	// is accepted without a restart.
	if s := a.Status(); s.Activating {
		t.Fatalf("after the commit: %+v", s)
	}
	if err := a.Update(context.Background(), srv.URL); err != nil {
		t.Fatalf("update after an app-only commit: %v", err)
	}
	must(t, a.Cancel(context.Background()))
	if bin, err := dirs.Launch(); err != nil || bin != filepath.Join(root, "B", slot.AppFile) {
		t.Fatalf("start after commit runs %s (%v), want B", bin, err)
	}
	for _, want := range []string{`"state":"committed"`, `"security_floor":3`, `"target_version":"2.0.0"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("status JSON %s lacks %s", js, want)
		}
	}
	st, err := os.Stat(filepath.Join(root, "state", "state.json"))
	must(t, err)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", st.Mode().Perm())
	}
}

// TestPollURL: with PollURL set, the agent finds the newer bundle by itself, installs it
// once, and does not start again for the version it just installed.
func TestPollURL(t *testing.T) {
	b, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 1, size: slotSize})
	srv, rec := faulty(t, b, func(int, *http.Request) (int, int) { return -1, -1 })
	d := newDevice(t)
	d.valid(payload("2.0.0", slotSize))
	d.modify = func(c *ota.Config) { c.PollURL, c.PollEvery = srv.URL, 5*time.Millisecond }
	s, booted := d.runToEnd("", 4)
	if s.State != ota.StateCommitted || booted != "B" {
		t.Fatalf("ended %+v, booted %s", s, booted)
	}
	// Keep polling a while on the committed device: heads only, no new download.
	a, _, _ := d.start(t)
	before := len(rec.Ranges())
	waitFor(t, func() bool { return len(rec.Ranges()) > before+5 })
	if s := a.Status(); s.State != ota.StateCommitted {
		t.Fatalf("after more polls: %+v", s)
	}
	for _, r := range rec.Ranges()[before:] {
		if !strings.HasPrefix(r, "bytes=0-") {
			t.Fatalf("a poll fetched %q, want only the bundle head", r)
		}
	}
}

// TestUpdateRightAfterCommit: issue 14 — after a commit the running process still thought
// it was a trial and answered "busy" until restarted. On the Raspberry Pi backend the
// firmware's tryboot flag stays set until the next reboot; the next update is accepted,
// and survives a service restart in the same boot.
func TestUpdateRightAfterCommit(t *testing.T) {
	b, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 1, size: slotSize})
	next, _ := makeBundle(t, bundleSpec{version: "2.1.0", secVersion: 1, size: slotSize})
	nextURL := serve(t, next, nil).URL
	d := newDevice(t)
	d.valid(payload("2.0.0", slotSize))
	d.valid(payload("2.1.0", slotSize))
	if end, _ := d.life(serve(t, b, nil).URL); end != rebooted {
		t.Fatalf("first boot ended %v, want the trial reboot", end)
	}
	a, ctx, _ := d.start(t)
	waitFor(t, func() bool { return a.Status().State == ota.StateCommitted })
	d.inhibit.set(true) // a session keeps the next update waiting after its download
	if err := a.Update(ctx, nextURL); err != nil {
		t.Fatalf("update in the committed trial boot: %v", err)
	}
	waitFor(t, func() bool { return a.Status().State == ota.StateWaiting })
	// The service restarts (same boot, flag still set): the update carries on.
	d.mu.Lock()
	d.cancel()
	d.mu.Unlock()
	a2, err := ota.New(d.config(), d.inhibit)
	must(t, err)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go a2.Run(ctx2)
	waitFor(t, func() bool { return a2.Status().WaitingFor == "charging session" })
	if s := a2.Status(); s.State != ota.StateWaiting || s.TargetVersion != "2.1.0" {
		t.Fatalf("after a restart in the committed boot: %+v", s)
	}
}

// TestTrialWaitsForSession: a session that started in the trial boot before the agent
// took its hold is neither cut by a fallback reboot nor run through a commit: the agent
// waits for it, then runs the health check and commits.
func TestTrialWaitsForSession(t *testing.T) {
	b, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 1, size: slotSize})
	d := newDevice(t)
	d.valid(payload("2.0.0", slotSize))
	if end, _ := d.life(serve(t, b, nil).URL); end != rebooted {
		t.Fatalf("first boot ended %v, want the trial reboot", end)
	}
	d.inhibit.set(true)
	a, _, _ := d.start(t)
	waitFor(t, func() bool { return a.Status().WaitingFor == "charging session" })
	polls := 0
	waitFor(t, func() bool { polls++; return polls > 50 })
	if s := a.Status(); s.State != ota.StateTrial || d.fw.RebootRequests() != 1 {
		t.Fatalf("during the session: %+v, reboots %d", s, d.fw.RebootRequests())
	}
	d.inhibit.set(false)
	// Committed, and the hold released (sessions may start again).
	waitFor(t, func() bool { _, held := d.inhibit.state(); return a.Status().State == ota.StateCommitted && !held })
}
