package ota_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/durable"
)

// TestCancelStuckDownload: issue 14 — a stuck download answered every new update with
// "busy" and there was no way out. Cancel stops the request, ends the update failed with
// ErrCancelled, and the next Update is accepted.
func TestCancelStuckDownload(t *testing.T) {
	b := bigBundle(t, "2.0.0")
	stuck := make(chan struct{}, 4)
	closed := make(chan struct{}, 4)
	srv := serve(t, b, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.WriteHeader(http.StatusOK)
			w.Write(b[:5000])
			w.(http.Flusher).Flush()
			stuck <- struct{}{}
			<-r.Context().Done()
			closed <- struct{}{}
		})
	})
	d := updateDevice(t, "2.0.0")
	d.modify = func(c *ota.Config) { c.StallTimeout, c.MinRate = time.Hour, 1 } // only Cancel ends it
	a, ctx, _ := d.start(t)
	must(t, a.Update(ctx, srv.URL))
	<-stuck
	if err := a.Update(ctx, srv.URL); !errors.Is(err, ota.ErrBusy) {
		t.Fatalf("update during a download: %v, want ErrBusy", err)
	}
	must(t, a.Cancel(ctx))
	if s := a.Status(); s.State != ota.StateFailed || !strings.Contains(s.Error, ota.ErrCancelled.Error()) {
		t.Fatalf("after cancel: %+v", s)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the request was not closed")
	}
	must(t, a.Update(ctx, srv.URL)) // a new update is accepted
	<-stuck
	if s := a.Status(); s.State != ota.StateDownloading {
		t.Fatalf("second update: %+v", s)
	}
	must(t, a.Cancel(ctx))
	must(t, a.Cancel(ctx)) // nothing left to cancel: no error
	if d.fw.RebootRequests() != 0 {
		t.Fatal("rebooted for a cancelled update")
	}
}

// TestCancelWhileWaiting: an update waiting for a session to end is cancelled without ever
// holding the inhibitor; once activation began, Cancel answers ErrActivating.
func TestCancelWhileWaiting(t *testing.T) {
	b, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 1, size: slotSize})
	srv := serve(t, b, nil)
	d := newDevice(t)
	d.valid(payload("2.0.0", slotSize))
	d.inhibit.set(true)
	a, ctx, done := d.start(t)
	must(t, a.Update(ctx, srv.URL))
	waitFor(t, func() bool { return a.Status().WaitingFor == "charging session" })
	must(t, a.Cancel(ctx))
	d.inhibit.set(false)
	if s := a.Status(); s.State != ota.StateFailed || !strings.Contains(s.Error, ota.ErrCancelled.Error()) || d.inhibit.holds.Load() != 0 {
		t.Fatalf("after cancel: %+v, holds %d", s, d.inhibit.holds.Load())
	}
	// Again, up to the switch this time.
	must(t, a.Update(ctx, srv.URL))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no activation")
	}
	if err := a.Cancel(context.Background()); !errors.Is(err, ota.ErrActivating) {
		t.Fatalf("cancel after the switch: %v, want ErrActivating", err)
	}
	if err := a.Update(context.Background(), srv.URL); !errors.Is(err, ota.ErrBusy) || !errors.Is(err, ota.ErrActivating) {
		t.Fatalf("update after the switch: %v, want ErrBusy and ErrActivating", err)
	}
}

// TestActivationNeverCutsASession: issue 14 — a session started as activation began was cut
// off (2–3 of 6 tries). Sessions start and stop as fast as they can while the agent
// activates; at the moment of the switch (the firmware's reboot request) the agent must
// hold the inhibitor and no session may run. The control loop's atomic Hold is what this
// relies on; the agent must take it before the switch and keep it through.
func TestActivationNeverCutsASession(t *testing.T) {
	b, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 1, size: slotSize})
	srv := serve(t, b, nil)
	const runs = 20
	var cut, unheld, started, refused, waited atomic.Int64
	for range runs {
		d := newDevice(t)
		d.valid(payload("2.0.0", slotSize))
		reboot := d.fw.OnReboot
		d.fw.OnReboot = func() {
			session, held := d.inhibit.state()
			if session {
				cut.Add(1)
			}
			if !held {
				unheld.Add(1)
			}
			reboot()
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { // the EV side: sessions start whenever they may, and stop soon after
			tick := time.NewTicker(100 * time.Microsecond)
			defer tick.Stop()
			for {
				if d.inhibit.start() == nil {
					started.Add(1)
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					d.inhibit.set(false)
				} else {
					refused.Add(1)
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		})
		a, ctx, done := d.start(t)
		must(t, a.Update(ctx, srv.URL))
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("no activation: %+v", a.Status())
		}
		close(stop)
		wg.Wait()
		waited.Add(d.inhibit.busy.Load())
		if d.fw.RebootRequests() != 1 {
			t.Fatalf("reboots %d", d.fw.RebootRequests())
		}
	}
	t.Logf("%d runs: %d sessions started, %d refused while held, %d holds refused for a session", runs, started.Load(), refused.Load(), waited.Load())
	if cut.Load() != 0 || unheld.Load() != 0 {
		t.Fatalf("of %d switches, %d cut a session and %d happened without the hold", runs, cut.Load(), unheld.Load())
	}
	if started.Load() == 0 || refused.Load() == 0 || waited.Load() == 0 {
		t.Fatal("the race was not exercised: sessions and holds never met")
	}
}

// reporter is the gateway's inhibitor before New: it only reports a session.
type reporter struct {
	a        atomic.Pointer[ota.Agent]
	calls    atomic.Int64
	unmarked atomic.Int64
}

func (r *reporter) ChargingActive() bool {
	r.calls.Add(1)
	if a := r.a.Load(); a != nil && !a.Activating() {
		r.unmarked.Add(1)
	}
	return false
}

// TestDeprecatedNewAgent: the old constructor still works and keeps its contract: the
// agent is Activating (sessions refused) whenever it asks ChargingActive.
func TestDeprecatedNewAgent(t *testing.T) {
	b, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 1, size: slotSize})
	srv := serve(t, b, nil)
	d := newDevice(t)
	d.valid(payload("2.0.0", slotSize))
	d.boot()
	rep := &reporter{}
	a, err := ota.NewAgent(d.config(), rep)
	must(t, err)
	rep.a.Store(a)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.mu.Lock()
	d.cancel = cancel
	d.mu.Unlock()
	must(t, a.Update(ctx, srv.URL))
	if err := a.Run(ctx); !errors.Is(err, context.Canceled) || d.fw.RebootRequests() != 1 {
		t.Fatalf("run: %v, reboots %d", err, d.fw.RebootRequests())
	}
	if rep.calls.Load() == 0 || rep.unmarked.Load() != 0 {
		t.Fatalf("ChargingActive asked %d times, %d of them while not Activating", rep.calls.Load(), rep.unmarked.Load())
	}
	// Today's gateway wiring (NewAgent) no longer fails to start on a damaged state file.
	must(t, durable.WriteFile(d.fs, stateDir+"/state.json", []byte("{"), 0o600))
	a, err = ota.NewAgent(d.config(), rep)
	must(t, err)
	if s := a.Status(); s.State != ota.StateBroken {
		t.Fatalf("NewAgent on a damaged state file: %+v", s)
	}
}
