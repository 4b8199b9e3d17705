package chaos_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// entriesAfter reads the entries after seq from a running gateway's store (read-only).
func entriesAfter(tb testing.TB, dataDir string, seq uint64) []ledger.Entry {
	tb.Helper()
	ctx := context.Background()
	r, err := sqlite.OpenReader(ctx, dataDir)
	if err != nil {
		tb.Fatalf("open store for reading: %v", err)
	}
	defer r.Close()
	var out []ledger.Entry
	for e, err := range r.All(ctx) {
		if err != nil {
			tb.Fatalf("read entries: %v", err)
		}
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out
}

// setProfile changes the simulated load.
func (s *stack) setProfile(tb testing.TB, maxW, ramp float64) {
	tb.Helper()
	body := fmt.Sprintf(`{"unit":1,"max_w":%g,"phases":3,"ramp_w_per_s":%g}`, maxW, ramp)
	resp, err := http.Post(s.metersim["control"]+"/v1/profile", "application/json", bytes.NewBufferString(body))
	if err != nil {
		tb.Fatalf("set profile: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		tb.Fatalf("set profile: %s", resp.Status)
	}
}

// TestMeterFaults injects every metersim fault kind into a charging session and checks what the
// gateway records: a signed gap entry naming the failure for every failed poll that was due
// (never a silent hole: `chargegate verify --max-interval` proves it), the alarm for a meter lost
// longer than the loss limit or replaced, and the session ended for the right reason.
func TestMeterFaults(t *testing.T) {
	s := startStack(t, stackOpts{noNode: true})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	const poll = 50 * time.Millisecond
	cfg := writeConfig(t, dir, s.config(data, gwOpts{poll: poll, autostart: true,
		extra: "  meter_loss_limit: 1s\n"}))
	g := startGateway(t, data, cfg)
	charging := func() bool {
		st := g.status(t)
		return st.Session != nil && st.Session.EnergyMWh > 0
	}
	rig.WaitFor(t, 20*time.Second, "charging", charging)

	cases := []struct {
		fault   string        // metersim fault JSON (unit 1)
		detail  string        // the gap entries' detail must contain this
		event   string        // an event entry expected besides gaps ("" = none)
		alarm   string        // alarm raised
		reason  string        // the session must end with this reason ("" = it goes on)
		profile bool          // needs a high-power load (frozen counter)
		window  time.Duration // how long the fault lasts
		needMWh int64         // wait for the counter to pass this before injecting
	}{
		{fault: `{"kind":"noreply","for_ms":400}`, detail: "meter timeout", window: 400 * time.Millisecond},
		{fault: `{"kind":"late","delay_ms":1000,"for_ms":400}`, detail: "meter timeout", window: 400 * time.Millisecond},
		{fault: `{"kind":"exception","code":4,"for_ms":400}`, detail: "exception 04", window: 400 * time.Millisecond},
		{fault: `{"kind":"exception","code":6,"for_ms":400}`, detail: "exception 06", window: 400 * time.Millisecond},
		{fault: `{"kind":"badcrc","for_ms":400}`, detail: "frame error", window: 400 * time.Millisecond},
		{fault: `{"kind":"truncate","for_ms":400}`, detail: "frame error", window: 400 * time.Millisecond},
		{fault: `{"kind":"wrongunit","for_ms":400}`, detail: "bad unit id", window: 400 * time.Millisecond},
		{fault: `{"kind":"absent","for_ms":400}`, detail: "not-available marker", window: 400 * time.Millisecond},
		{fault: `{"kind":"frozen","for_ms":1500}`, detail: "counter frozen", profile: true, window: 1500 * time.Millisecond},
		{fault: `{"kind":"noreply","for_ms":2000}`, detail: "meter timeout", alarm: "meter_lost", reason: "meter_lost", window: 2000 * time.Millisecond},
		// rollover and backwards are events: the counter stays lower. A few implausible polls
		// (gaps), then the driver confirms a counter reset: a signed event, an alarm, the session
		// ended, and readings again from the new baseline.
		{fault: `{"kind":"rollover"}`, detail: "went backwards", event: "meter_counter_reset", alarm: "meter_counter_reset",
			reason: "meter_counter_reset", profile: true, needMWh: 50_000},
		{fault: `{"kind":"backwards","amount_wh":20}`, detail: "went backwards", event: "meter_counter_reset", alarm: "meter_counter_reset",
			reason: "meter_counter_reset", profile: true, needMWh: 50_000},
		{fault: `{"kind":"replace"}`, event: "meter_replaced", alarm: "meter_replaced", reason: "meter_replaced"},
	}
	for _, c := range cases {
		t.Run(strings.SplitN(strings.TrimPrefix(c.fault, `{"kind":"`), `"`, 2)[0], func(t *testing.T) {
			if c.profile {
				s.setProfile(t, 450000, 1e7)
				defer s.setProfile(t, 11000, 2000)
			}
			rig.WaitFor(t, 20*time.Second, "charging before the fault", charging)
			if c.needMWh > 0 {
				rig.WaitFor(t, 30*time.Second, "energy counted", func() bool { return g.status(t).Meter.ImportMWh >= c.needMWh })
				s.setProfile(t, 11000, 1e7) // slow again: the counter cannot catch up within the loss limit
			}
			before := g.status(t)
			injected := time.Now()
			s.metersimFault(t, c.fault)
			// Wait for the whole fault window to pass and a good reading to follow it.
			var gaps []ledger.Entry
			var sawEvent bool
			var recovered uint64
			rig.WaitFor(t, 30*time.Second, "the fault recorded and a good reading after it", func() bool {
				gaps, sawEvent, recovered = gaps[:0], false, 0
				for _, e := range entriesAfter(t, data, before.Entries) {
					switch {
					case e.Kind == ledger.KindGap:
						gaps, recovered = append(gaps, e), 0
					case e.Kind == ledger.KindEvent && e.Event == c.event:
						sawEvent = true
					case e.Kind == ledger.KindReading && recovered == 0 && e.Time.After(injected.Add(c.window)):
						recovered = e.Seq
					}
				}
				happened := (c.event == "" && len(gaps) > 0) || (c.event != "" && sawEvent)
				return happened && recovered != 0
			})
			after := g.status(t)
			for _, e := range gaps {
				if e.Event != ledger.EventPollMissed || !strings.Contains(e.Detail, c.detail) {
					t.Errorf("gap entry %d: event %q detail %q, want %q containing %q", e.Seq, e.Event, e.Detail, ledger.EventPollMissed, c.detail)
				}
			}
			// A gap entry stands for one or more missed polls: at least one per fault, never more
			// than the polls that failed (verify --max-interval below proves there is no silent hole).
			if failed := after.PollErrors - before.PollErrors; c.event == "" && (len(gaps) == 0 || int64(len(gaps)) > failed) {
				t.Errorf("%d gap entries for %d failed polls", len(gaps), failed)
			}
			if c.alarm != "" && after.Alarms[c.alarm] == "" && !sawAlarm(t, g, c.alarm) {
				t.Errorf("no alarm %s raised", c.alarm)
			}
			if c.reason != "" {
				ended := false
				for _, e := range entriesAfter(t, data, before.Entries) {
					ended = ended || (e.Kind == ledger.KindSessionEnd && e.Event == c.reason)
				}
				if !ended {
					t.Errorf("no session_end entry with reason %s", c.reason)
				}
			}
			s.clearFaults(t)
			detail := ""
			if len(gaps) > 0 {
				detail = gaps[0].Detail
			}
			t.Logf("%d gap entries for %d failed polls, readings again from seq %d; first detail: %s",
				len(gaps), after.PollErrors-before.PollErrors, recovered, detail)
		})
	}
	g.stopClean(t)
	// Never a silent hole: readings further apart than 5 polls (plus scheduling slack) must have
	// a gap or event entry between them.
	if code, out := runCLI(t, "verify", "--data", data, "--max-interval", "1s"); code != 0 {
		t.Fatalf("chargegate verify --max-interval 1s = %d: %s", code, out)
	}
	t.Logf("entries: %s", summary(countEvents(storedEntries(t, data))))
}

// sawAlarm reports whether the gateway's log shows the alarm was raised: an alarm the control
// loop clears on the next good poll may be gone from the status by the time the test looks.
func sawAlarm(tb testing.TB, g *gatewayProc, alarm string) bool {
	tb.Helper()
	return strings.Contains(g.Stderr.String(), alarm)
}
