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

// TestMeterLies: a meter that answers well-formed Modbus with values no meter can have measured
// (metersim's lie modes, issue 12 cases 1 and 2) while a session charges. Each round: all
// registers zero for a second, a single 1,000 kWh jump (undone a second later, as a glitch
// would be), the energy counter stuck while 80 kW flow, and finally the connection dropped and
// the counter 50 Wh lower on the new one, which stays lower until it is taken as a reset: the
// session ends, the alarm latches and no session starts until clear_fault. Afterwards: no
// acknowledged entry lost, every session closed exactly once, no session billed more than the
// configured maximum power allows over its duration (× 1.25) or less than zero, no session begun
// while the alarm was latched, and `chargegate verify` passes. Short: 1 round; full: 5.
func TestMeterLies(t *testing.T) {
	const maxPowerW = 100_000
	s := rig.StartStack(t, rig.StackOptions{Broker: true, NoNode: true})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	// The loss limit outlasts every lie, so that the session ends only by the reset.
	cfg := rig.WriteConfig(t, dir, chaosConfig(s, data, gwOpts{autostart: true, maxPowerW: maxPowerW,
		extra: fmt.Sprintf("  meter_loss_limit: %s\n", 2*chaosResetConfirm)}))
	op := watchDeliveries(t, s.Broker) // before the gateway: it receives every reading
	g := rig.StartGateway(t, data, cfg)
	op.WaitOnline(g.Device)
	charging := func() bool {
		st := g.Status(t)
		return st.Session != nil && st.Session.EnergyMWh > 0
	}
	// lie injects a fault, waits for a gap of its plausibility rule, keeps the fault for hold
	// more, clears it (event kinds keep what they changed) and, after undo (if any), waits for
	// a reading again: readings are recorded only from plausible polls.
	lie := func(t *testing.T, fault string, hold time.Duration, rule string, undo func()) {
		t.Helper()
		head := g.Status(t).Entries
		s.MeterFault(t, fault)
		gap := rig.WaitEntry(t, data, head, time.Minute, "a meter_implausible gap of rule "+rule, func(e ledger.Entry) bool {
			return e.Kind == ledger.KindGap && e.Event == ledger.EventMeterImplausible && strings.Contains(e.Detail, "("+rule+")")
		})
		time.Sleep(hold) // the lie goes on for a while
		s.ClearMeterFaults(t)
		if undo != nil {
			undo()
		}
		cleared := g.Status(t).Entries
		rig.WaitEntry(t, data, max(cleared, gap.Seq), time.Minute, "a reading after the "+rule+" lie", func(e ledger.Entry) bool {
			return e.Kind == ledger.KindReading
		})
	}
	rounds := pick(1, 5)
	for round := range rounds {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			rig.WaitFor(t, 30*time.Second, "charging", charging)
			lie(t, `{"kind":"zeros"}`, time.Second, "all_zero", nil)
			lie(t, `{"kind":"jump","amount_wh":1000000}`, time.Second, "rise", func() {
				// Undo the glitch: the counter returns to what the meter really counted.
				s.MeterFault(t, `{"kind":"backwards","amount_wh":1000000}`)
			})
			s.SetProfile(t, 80000, 1e7)
			lie(t, `{"kind":"stuck"}`, time.Second, "frozen", func() { s.SetProfile(t, 11000, 1e7) })
			// Backwards after a reconnect: lower counters on a new connection are a fall, and a
			// reset only after reset_confirm. A 1 kW load keeps the counter below its old value
			// for minutes (50 Wh at 1 kW: 3 min).
			s.SetProfile(t, 1000, 1e7)
			head := g.Status(t).Entries
			s.MeterFault(t, `{"kind":"backwards","amount_wh":50,"drop":true}`)
			rig.WaitEntry(t, data, head, time.Minute, "the counter reset confirmed", func(e ledger.Entry) bool {
				return e.Kind == ledger.KindEvent && e.Event == ledger.EventMeterReset
			})
			s.ClearMeterFaults(t)
			clearLatched(t, g, op.Operator, data, gateway.AlarmCounterReset, fmt.Sprintf("lies-%d", round))
			s.SetProfile(t, 11000, 1e7)
			rig.WaitFor(t, 30*time.Second, "charging after clear_fault", charging)
		})
		if t.Failed() {
			break
		}
	}
	entries := stopAndAudit(t, g, op, maxPowerW)
	checkLatchedHoldsSessions(t, entries)
	rig.MustVerify(t, data, "--max-interval", "1s")
	t.Logf("%d rounds; %s", rounds, summary(countEvents(entries)))
}

// stopAndAudit waits until everything the gateway committed so far was delivered over MQTT,
// stops it cleanly, and audits its chain: every delivered (acknowledged) entry stored
// unchanged, every session closed exactly once and billed within maxPowerW; verify passes. It
// returns the chain.
func stopAndAudit(t *testing.T, g *rig.Gateway, op *deliveries, maxPowerW float64) []ledger.Entry {
	t.Helper()
	op.waitDelivered(t, time.Minute, g.Status(t).Entries, nil)
	g.StopClean(t)
	op.check()
	delivered, _, _ := op.delivered()
	assertKept(t, g.DataDir, delivered)
	entries := storedEntries(t, g.DataDir)
	checkSessions(t, entries, maxPowerW)
	rig.MustVerify(t, g.DataDir)
	t.Logf("%d entries delivered over MQTT, all kept", len(delivered))
	return entries
}

// checkSessions requires every session begun in the chain to be ended exactly once, no end
// without a begin, and each session's energy (end − begin import register) to lie between 0
// and what maxPowerW × 1.25 (the meter's rise margin) can draw over its duration, plus 1 Wh of
// counter resolution: no implausible energy billed.
func checkSessions(t *testing.T, entries []ledger.Entry, maxPowerW float64) {
	t.Helper()
	begins := map[string]ledger.Entry{}
	ends := map[string]int{}
	for _, e := range entries {
		switch e.Kind {
		case ledger.KindSessionBegin:
			if _, dup := begins[e.SessionID]; dup {
				t.Errorf("session %s begun twice (seq %d)", e.SessionID, e.Seq)
			}
			begins[e.SessionID] = e
		case ledger.KindSessionEnd:
			ends[e.SessionID]++
			b, ok := begins[e.SessionID]
			if !ok {
				t.Errorf("session_end seq %d for session %s that never began", e.Seq, e.SessionID)
				continue
			}
			energy := e.ImportMWh - b.ImportMWh
			dur := e.Time.Sub(b.Time)
			bound := int64(maxPowerW*1.25*dur.Hours()*1000) + 1000
			if energy < 0 || energy > bound {
				t.Errorf("session %s (%s, ended %s) billed %d mWh in %v: outside 0..%d mWh", e.SessionID, e.Event,
					e.Time.Format(time.RFC3339Nano), energy, dur.Round(time.Millisecond), bound)
			}
		}
	}
	for id := range begins {
		if ends[id] != 1 {
			t.Errorf("session %s has %d session_end entries, want 1", id, ends[id])
		}
	}
}

// checkLatchedHoldsSessions requires that no session began between a meter_reset or
// meter_replaced event and the next fault_cleared event.
func checkLatchedHoldsSessions(t *testing.T, entries []ledger.Entry) {
	t.Helper()
	var latched uint64
	for _, e := range entries {
		switch {
		case e.Kind == ledger.KindEvent && (e.Event == ledger.EventMeterReset || e.Event == ledger.EventMeterReplaced):
			latched = e.Seq
		case e.Kind == ledger.KindEvent && e.Event == ledger.EventFaultCleared:
			latched = 0
		case e.Kind == ledger.KindSessionBegin && latched != 0:
			t.Errorf("session %s began (seq %d) while the alarm of seq %d was latched", e.SessionID, e.Seq, latched)
		}
	}
}
