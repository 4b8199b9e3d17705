package chaos_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

// TestMeterFaults injects every metersim fault kind into a charging session and checks what the
// gateway records: a signed gap entry naming the failure for every failed or implausible poll
// that was due (never a silent hole: `chargegate verify --max-interval` proves it), the alarm for
// a meter lost longer than the loss limit, reset or replaced, and the session ended for the
// right reason. A counter reset or a replacement latches its alarm: no session starts (autostart
// included) until the operator sends clear_fault, which is recorded as a fault_cleared event.
func TestMeterFaults(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{Broker: true, NoNode: true})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	const poll = 100 * time.Millisecond
	// The loss limit is longer than the reset confirmation (chaosResetConfirm), so that a
	// counter that went back ends the session as a reset, not as a lost meter.
	cfg := rig.WriteConfig(t, dir, chaosConfig(s, data, gwOpts{poll: poll, autostart: true,
		extra: fmt.Sprintf("  meter_loss_limit: %s\n", chaosResetConfirm+time.Second)}))
	g := rig.StartGateway(t, data, cfg)
	op := rig.ConnectOperator(t, s.Broker)
	op.WaitOnline(g.Device)
	charging := func() bool {
		st := g.Status(t)
		return st.Session != nil && st.Session.EnergyMWh > 0
	}
	rig.WaitFor(t, 20*time.Second, "charging", charging)

	const (
		missed      = ledger.EventPollMissed
		implausible = ledger.EventMeterImplausible
	)
	cases := []struct {
		fault   string        // metersim fault JSON (unit 1)
		gap     string        // the gap entries' event code
		detail  string        // the gap entries' detail must contain this (or one of its |-separated parts)
		event   string        // an event entry expected besides gaps ("" = none)
		alarm   string        // alarm raised
		latched bool          // the alarm blocks sessions until clear_fault
		reason  string        // the session must end with this reason ("" = it goes on)
		profile bool          // needs a high-power load (frozen counter)
		window  time.Duration // how long the fault lasts
		needMWh int64         // wait for the counter to pass this before injecting
	}{
		{fault: `{"kind":"noreply","for_ms":400}`, gap: missed, detail: "meter timeout", window: 400 * time.Millisecond},
		{fault: `{"kind":"late","delay_ms":1000,"for_ms":400}`, gap: missed, detail: "meter timeout", window: 400 * time.Millisecond},
		{fault: `{"kind":"exception","code":4,"for_ms":400}`, gap: missed, detail: "exception 04", window: 400 * time.Millisecond},
		{fault: `{"kind":"exception","code":6,"for_ms":400}`, gap: missed, detail: "exception 06", window: 400 * time.Millisecond},
		{fault: `{"kind":"badcrc","for_ms":400}`, gap: missed, detail: "frame error", window: 400 * time.Millisecond},
		{fault: `{"kind":"truncate","for_ms":400}`, gap: missed, detail: "frame error", window: 400 * time.Millisecond},
		{fault: `{"kind":"wrongunit","for_ms":400}`, gap: missed, detail: "bad unit id", window: 400 * time.Millisecond},
		// All ones and a hung meter are values a meter cannot have measured: implausible, not billed.
		{fault: `{"kind":"absent","for_ms":400}`, gap: implausible, detail: "implausible", window: 400 * time.Millisecond},
		{fault: `{"kind":"frozen","for_ms":1500}`, gap: implausible, detail: "(frozen)", profile: true, window: 1500 * time.Millisecond},
		{fault: fmt.Sprintf(`{"kind":"noreply","for_ms":%d}`, (chaosResetConfirm + 2*time.Second).Milliseconds()), gap: missed,
			detail: "meter timeout|context deadline exceeded", alarm: gateway.AlarmMeterLost, reason: ledger.EndMeterLost, window: chaosResetConfirm + 2*time.Second},
		// rollover and backwards are events: the counter stays lower. Implausible polls (rule
		// fall, gaps) for reset_confirm, then the meter confirms a counter reset: a signed
		// meter_reset event, a latched alarm, the session ended, and readings again from the new
		// baseline.
		{fault: `{"kind":"rollover"}`, gap: implausible, detail: "(fall)", event: ledger.EventMeterReset, alarm: gateway.AlarmCounterReset,
			latched: true, reason: ledger.EndMeterReset, profile: true, needMWh: 50_000},
		{fault: `{"kind":"backwards","amount_wh":200}`, gap: implausible, detail: "(fall)", event: ledger.EventMeterReset, alarm: gateway.AlarmCounterReset,
			latched: true, reason: ledger.EndMeterReset, profile: true, needMWh: 50_000},
		{fault: `{"kind":"replace"}`, gap: implausible, detail: "(fall)", event: ledger.EventMeterReplaced, alarm: gateway.AlarmMeterReplaced,
			latched: true, reason: ledger.EndMeterReplaced},
	}
	for i, c := range cases {
		t.Run(strings.SplitN(strings.TrimPrefix(c.fault, `{"kind":"`), `"`, 2)[0], func(t *testing.T) {
			if c.profile {
				s.SetProfile(t, 450000, 1e7)
				defer s.SetProfile(t, 11000, 2000)
			}
			rig.WaitFor(t, 20*time.Second, "charging before the fault", charging)
			if c.needMWh > 0 {
				rig.WaitFor(t, 30*time.Second, "energy counted", func() bool { return g.Status(t).Meter.ImportMWh >= c.needMWh })
				s.SetProfile(t, 11000, 1e7) // slow again: the counter cannot catch up within reset_confirm
			}
			before := g.Status(t)
			injected := time.Now()
			s.MeterFault(t, c.fault)
			// Wait for the whole fault window to pass and a good reading to follow it.
			var gaps []ledger.Entry
			var sawEvent bool
			var recovered uint64
			rig.WaitFor(t, 30*time.Second, "the fault recorded and a good reading after it", func() bool {
				gaps, sawEvent, recovered = gaps[:0], false, 0
				for _, e := range rig.Entries(t, data, before.Entries) {
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
			after := g.Status(t)
			// Besides the gaps of the failure itself, a reading later than its interval declares
			// the time since the previous one (poll_late), whether polls failed in between or a
			// slow answer came at last.
			failedGaps := 0
			for _, e := range gaps {
				if e.Event == ledger.EventPollLate {
					continue
				}
				failedGaps++
				if e.Event != c.gap || !containsAny(e.Detail, c.detail) {
					t.Errorf("gap entry %d: event %q detail %q, want %q containing %q", e.Seq, e.Event, e.Detail, c.gap, c.detail)
				}
			}
			// A gap entry stands for one or more failed polls: at least one gap per fault, never
			// more failure gaps than polls that failed (verify --max-interval below proves there
			// is no silent hole).
			if failed := after.PollErrors - before.PollErrors; c.event == "" && (len(gaps) == 0 || int64(failedGaps) > failed) {
				t.Errorf("%d gap entries (%d for failed polls) for %d failed polls", len(gaps), failedGaps, failed)
			}
			if c.alarm != "" && after.Alarms[c.alarm] == "" && !sawAlarm(t, g, c.alarm) {
				t.Errorf("no alarm %s raised", c.alarm)
			}
			if c.reason != "" {
				ended := false
				for _, e := range rig.Entries(t, data, before.Entries) {
					ended = ended || (e.Kind == ledger.KindSessionEnd && e.Event == c.reason)
				}
				if !ended {
					t.Errorf("no session_end entry with reason %s", c.reason)
				}
			}
			s.ClearMeterFaults(t)
			if c.latched {
				clearLatched(t, g, op, data, c.alarm, fmt.Sprintf("cf-%d", i))
			}
			detail := ""
			if len(gaps) > 0 {
				detail = gaps[0].Detail
			}
			t.Logf("%d gap entries for %d failed polls, readings again from seq %d; first detail: %s",
				len(gaps), after.PollErrors-before.PollErrors, recovered, detail)
		})
	}
	g.StopClean(t)
	// Never a silent hole: readings further apart than 5 polls (plus scheduling slack) must have
	// a gap or event entry between them.
	rig.MustVerify(t, data, "--max-interval", "1s")
	t.Logf("entries: %s", summary(countEvents(storedEntries(t, data))))
}

// clearLatched proves that a latched alarm holds sessions back (autostart included) for a
// while, then sends clear_fault and requires the fault_cleared event and charging again.
func clearLatched(t *testing.T, g *rig.Gateway, op *rig.Operator, data, alarm, requestID string) {
	t.Helper()
	rig.WaitFor(t, 10*time.Second, "the session ended", func() bool { return g.Status(t).Session == nil })
	// Absence needs a window: ten polls without a session while latched.
	for range 10 {
		st := g.Status(t)
		if st.Alarms[alarm] == "" {
			t.Fatalf("alarm %s not latched: alarms %v", alarm, st.Alarms)
		}
		if st.Session != nil {
			t.Fatalf("session %s started while %s is latched", st.Session.ID, alarm)
		}
		time.Sleep(100 * time.Millisecond) // one poll
	}
	head := g.Status(t).Entries
	rep := op.Command(g.Device, "clear_fault", fmt.Sprintf(`{"request_id":%q}`, requestID))
	if rep["ok"] != true {
		t.Fatalf("clear_fault: %v", rep)
	}
	if res, _ := rep["result"].(map[string]any); !strings.Contains(fmt.Sprint(res["cleared"]), alarm) {
		t.Errorf("clear_fault cleared %v, want %s among them", res["cleared"], alarm)
	}
	cleared := false
	for _, e := range rig.Entries(t, data, head) {
		cleared = cleared || (e.Kind == ledger.KindEvent && e.Event == ledger.EventFaultCleared)
	}
	if !cleared {
		t.Errorf("no fault_cleared event after clear_fault")
	}
}

// sawAlarm reports whether the gateway's log shows the alarm was raised: an alarm the control
// loop clears on the next good poll may be gone from the status by the time the test looks.
func sawAlarm(tb testing.TB, g *rig.Gateway, alarm string) bool {
	tb.Helper()
	return strings.Contains(g.Stderr.String(), alarm)
}

// containsAny reports whether s contains one of the |-separated parts of subs.
func containsAny(s, subs string) bool {
	for _, sub := range strings.Split(subs, "|") {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
