package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/meter"
)

const (
	testPoll   = 100 * time.Millisecond
	testRecord = time.Second
)

// loop is one Controller over fakes, running inside a synctest bubble.
type loop struct {
	t      *testing.T
	m      *fakeMeter
	b      *fakeBoard
	s      *fakeStore
	n      *recordingNotifier
	c      *Controller
	cancel context.CancelFunc
	done   chan error
}

// newLoop builds the fakes; prepare may change them before the loop starts.
func newLoop(t *testing.T, policy SessionPolicy, prepare func(*loop)) *loop {
	t.Helper()
	l := &loop{t: t, b: newFakeBoard(), s: newFakeStore(), n: &recordingNotifier{}, done: make(chan error, 1)}
	l.m = newFakeMeter(l.b)
	if policy.MeterLossLimit == 0 {
		policy.MeterLossLimit = time.Second
	}
	if prepare != nil {
		prepare(l)
	}
	c, err := NewController(l.m, l.b, l.s, Options{
		EVSEID: "DE*CGT*E0001*1", PollInterval: testPoll, RecordIntervalCharging: testRecord, RecordIntervalIdle: testRecord,
		Policy: policy, Notifier: l.n, TimeStatus: func() ledger.TimeStatus { return ledger.TimeSynchronised },
	})
	if err != nil {
		t.Fatal(err)
	}
	l.c = c
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() { l.done <- c.Run(ctx) }()
	time.Sleep(testPoll / 2)
	synctest.Wait()
	return l
}

// stop ends the loop and waits for it.
func (l *loop) stop() {
	l.t.Helper()
	l.cancel()
	if err := <-l.done; err != nil {
		l.t.Errorf("Run: %v", err)
	}
}

// do runs a command in the loop.
func (l *loop) do(name, idToken string) (Result, error) {
	return l.c.Do(context.Background(), Command{Name: name, RequestID: "r", IDToken: idToken})
}

// advance lets d of fake time pass with the loop running.
func (l *loop) advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func (l *loop) mustStart() Result {
	l.t.Helper()
	res, err := l.do(CmdStart, "04A1B2C3")
	if err != nil {
		l.t.Fatalf("start: %v", err)
	}
	return res
}

// ends returns the session end entries.
func (l *loop) ends() []ledger.Entry { return l.s.find(ledger.KindSessionEnd, "") }

// oneEnd asserts exactly one end entry with reason and returns the published record.
func (l *loop) oneEnd(reason string) SessionRecord {
	l.t.Helper()
	ends := l.ends()
	if len(ends) != 1 {
		l.t.Fatalf("%d session end entries, want 1: %+v", len(ends), ends)
	}
	if ends[0].Event != reason {
		l.t.Fatalf("end reason %q, want %q", ends[0].Event, reason)
	}
	recs := l.n.all()
	if len(recs) != 1 || recs[0].Reason != reason || recs[0].EndSeq != ends[0].Seq {
		l.t.Fatalf("published sessions %+v, want one ending %q at seq %d", recs, reason, ends[0].Seq)
	}
	if l.b.RelayClosed() {
		l.t.Fatal("relay closed after the session ended")
	}
	if st, _ := l.s.GetState(context.Background(), sessionStateKey); st != nil && string(st) != "null" {
		l.t.Fatalf("session still persisted after its end: %s", st)
	}
	return recs[0]
}

func TestSessionStopReasons(t *testing.T) {
	cases := []struct {
		name   string
		policy SessionPolicy
		act    func(l *loop)
		reason string
	}{
		{"remote stop", SessionPolicy{}, func(l *loop) {
			l.advance(3 * time.Second)
			res, err := l.do(CmdStop, "")
			if err != nil || res["end_seq"].(uint64) == 0 {
				t.Fatalf("stop: %v %v", res, err)
			}
		}, ledger.EndRemote},
		{"energy limit", SessionPolicy{MaxEnergyWh: 10}, func(l *loop) { l.advance(10 * time.Second) }, ledger.EndEnergyLimit},
		{"time limit", SessionPolicy{MaxDuration: 2 * time.Second}, func(l *loop) { l.advance(3 * time.Second) }, ledger.EndTimeLimit},
		{"emergency stop", SessionPolicy{}, func(l *loop) {
			l.b.trip(hal.EventEStop, hal.ErrEStop)
			l.advance(testPoll)
		}, ledger.EndEmergencyStop},
		{"rcd trip", SessionPolicy{}, func(l *loop) {
			l.b.trip(hal.EventRCDTrip, hal.ErrRCDTrip)
			l.advance(testPoll)
		}, ledger.EndRCDTrip},
		{"welded", SessionPolicy{}, func(l *loop) {
			l.b.trip(hal.EventWelded, hal.ErrWelded)
			l.advance(testPoll)
		}, ledger.EndRelayFault},
		{"meter lost", SessionPolicy{}, func(l *loop) {
			l.m.setFail(meter.ErrTimeout)
			l.advance(2 * time.Second)
		}, ledger.EndMeterLost},
		{"meter replaced", SessionPolicy{}, func(l *loop) {
			l.m.mu.Lock()
			l.m.serial = "SIM-2"
			l.m.mu.Unlock()
			l.advance(testPoll)
		}, ledger.EndMeterReplaced},
		{"counter reset", SessionPolicy{}, func(l *loop) {
			l.m.setFail(&meter.CounterResetError{OldImportMWh: 1_000_000, NewImportMWh: 0})
			l.advance(testPoll)
		}, ledger.EndMeterReset},
		{"shutdown", SessionPolicy{}, func(l *loop) { l.advance(time.Second); l.stop() }, ledger.EndShutdown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLoop(t, tc.policy, nil)
				l.mustStart()
				l.advance(testPoll)
				tc.act(l)
				rec := l.oneEnd(tc.reason)
				if rec.EnergyMWh < 0 {
					t.Errorf("negative energy billed: %d mWh", rec.EnergyMWh)
				}
				if tc.reason != ledger.EndShutdown {
					l.stop()
				}
				if n := len(l.ends()); n != 1 {
					t.Errorf("%d end entries after shutdown, want 1", n)
				}
			})
		})
	}
}

func TestEnergyBilledMatchesTheMeter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(t, SessionPolicy{}, nil)
		l.mustStart()
		l.advance(3600 * time.Second / 11) // 11 kW for 1/11 h: 1 kWh
		l.do(CmdStop, "")
		rec := l.oneEnd(ledger.EndRemote)
		if d := rec.EnergyMWh - 1_000_000; d < -20_000 || d > 20_000 {
			t.Errorf("billed %d mWh, want about 1,000,000", rec.EnergyMWh)
		}
		l.stop()
	})
}

func TestStartRefusals(t *testing.T) {
	cases := []struct {
		name    string
		policy  SessionPolicy
		prepare func(l *loop)
		token   string
		code    string
	}{
		{"authorized mode without token", SessionPolicy{Authorized: true}, nil, "", "unauthorized"},
		{"token with NUL", SessionPolicy{}, nil, "tag\x00", "bad_request"},
		{"token with invalid UTF-8", SessionPolicy{}, nil, "tag\xff", "bad_request"},
		{"token too long", SessionPolicy{}, nil, "0123456789012345678901234567890123456", "bad_request"},
		{"latched hardware fault", SessionPolicy{}, func(l *loop) { l.b.fault = hal.ErrEStop }, "04A1", "hardware_fault"},
		{"store full", SessionPolicy{}, func(l *loop) { l.s.admitErr = errDiskFull }, "04A1", "store_full"},
		{"meter unreadable", SessionPolicy{}, func(l *loop) { l.m.fail = meter.ErrTimeout }, "04A1", "meter_unreadable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLoop(t, tc.policy, tc.prepare)
				_, err := l.do(CmdStart, tc.token)
				if got := ErrorCode(err); got != tc.code {
					t.Errorf("start refused with %q (%v), want %q", got, err, tc.code)
				}
				if n := len(l.s.find(ledger.KindSessionBegin, "")); n != 0 || l.b.RelayClosed() {
					t.Errorf("%d begin entries, relay closed %t after a refused start", n, l.b.RelayClosed())
				}
				l.stop()
			})
		})
	}
}

func TestRelayThatDoesNotCloseEndsTheSessionAtZero(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(t, SessionPolicy{}, func(l *loop) { l.b.failClose = fmt.Errorf("%w: feedback open", hal.ErrFailedToClose) })
		if _, err := l.do(CmdStart, "04A1"); err == nil {
			t.Fatal("start succeeded with a contactor that does not close")
		}
		if rec := l.oneEnd(ledger.EndRelayNotClosed); rec.EnergyMWh != 0 {
			t.Errorf("billed %d mWh for a session that never charged", rec.EnergyMWh)
		}
		l.stop()
	})
}

// Issue 12 case 2: a reset is latched — autostart does not begin a session at 0 and nothing
// starts until clear_fault, which is recorded.
func TestCounterResetLatchesUntilCleared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(t, SessionPolicy{Autostart: true}, nil)
		l.advance(testPoll)
		if len(l.s.find(ledger.KindSessionBegin, "")) != 1 {
			t.Fatal("autostart did not start")
		}
		l.m.setFail(&meter.CounterResetError{OldImportMWh: 1_000_000, NewImportMWh: 0})
		l.advance(testPoll)
		l.m.setFail(nil)
		l.advance(5 * time.Second)
		if n := len(l.s.find(ledger.KindSessionBegin, "")); n != 1 {
			t.Fatalf("%d sessions began across a counter reset, want only the first", n)
		}
		if _, err := l.do(CmdStart, "04A1"); ErrorCode(err) != "alarm_latched" {
			t.Fatalf("start after reset: %v, want alarm_latched", err)
		}
		if _, err := l.do(CmdClearFault, ""); err != nil {
			t.Fatal(err)
		}
		if len(l.s.find(ledger.KindEvent, ledger.EventFaultCleared)) != 1 {
			t.Error("clear_fault was not recorded")
		}
		l.advance(testPoll)
		if n := len(l.s.find(ledger.KindSessionBegin, "")); n != 2 {
			t.Errorf("%d sessions after clear_fault, want autostart to begin the second", n)
		}
		l.stop()
	})
}

// Issue 12 case 2: an implausible poll is a declared gap and never billed.
func TestImplausiblePollIsAGapNotBilled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(t, SessionPolicy{}, nil)
		l.mustStart()
		l.advance(2 * time.Second)
		l.m.setFail(&meter.ImplausibleError{Quantity: meter.EnergyImport, Reason: "rose 1000 kWh in 0.1 s"})
		l.advance(3 * testPoll)
		l.m.setFail(nil)
		l.advance(time.Second)
		l.do(CmdStop, "")
		rec := l.oneEnd(ledger.EndRemote)
		if rec.EnergyMWh > 11_000*3600/3600*4 { // 11 kW for under 4 s
			t.Errorf("billed %d mWh", rec.EnergyMWh)
		}
		if len(l.s.find(ledger.KindGap, ledger.EventMeterImplausible)) == 0 {
			t.Error("no meter_implausible gap entry")
		}
		l.stop()
	})
}

// Issue 12 case 4: when the store refuses an entry during a session, the session ends at once
// with its end entry, and a gap declares what was not recorded.
func TestFullDiskEndsTheSessionWithItsEndEntry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(t, SessionPolicy{}, nil)
		l.mustStart()
		l.advance(2 * time.Second)
		l.s.mu.Lock()
		l.s.full = true
		l.s.mu.Unlock()
		l.advance(2 * time.Second)
		rec := l.oneEnd(ledger.EndDiskFull)
		if rec.EndSeq == 0 {
			t.Error("end_seq 0")
		}
		if gaps := l.s.find(ledger.KindGap, ledger.EventStoreRefused); len(gaps) != 1 {
			t.Errorf("the refused entry was declared by %d gaps, want 1: %+v", len(gaps), gaps)
		}
		if _, err := l.do(CmdStart, "04A1"); ErrorCode(err) != "store_full" {
			t.Errorf("start on a full disk: %v", err)
		}
		l.stop()
	})
}

// Issue 12 case 4: when not even the end can be recorded, the session stays persisted, no other
// session starts, and it is closed exactly once when the store accepts again.
func TestUnrecordableEndIsRetriedAndBlocksNewSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(t, SessionPolicy{}, nil)
		l.mustStart()
		l.advance(time.Second)
		l.s.mu.Lock()
		l.s.broken = true
		l.s.mu.Unlock()
		l.advance(time.Second)
		if l.b.RelayClosed() {
			t.Fatal("relay still closed with a broken store")
		}
		if _, err := l.do(CmdStart, "04A1"); ErrorCode(err) != "session_unclosed" {
			t.Fatalf("start with an unclosed session: %v", err)
		}
		if st, _ := l.s.GetState(context.Background(), sessionStateKey); st == nil {
			t.Fatal("unclosed session no longer persisted")
		}
		l.s.mu.Lock()
		l.s.broken = false
		l.s.mu.Unlock()
		l.advance(time.Second)
		l.oneEnd(ledger.EndDiskFull)
		l.mustStart()
		l.stop()
	})
}

// Issue 12 case 3: a session whose end is in the chain is not closed again at the next start.
func TestRecoveryDoesNotCloseAnEndedSessionAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := Session{ID: "s1", State: "charging", BeginSeq: 1, MeterSerial: "SIM-1", BeginMWh: 1_000_000}
		b, _ := json.Marshal(s)
		l := newLoop(t, SessionPolicy{}, func(l *loop) {
			now := time.Now()
			l.s.Append(context.Background(),
				ledger.Record{Time: now, TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindSessionBegin, SessionID: "s1", MeterSerial: "SIM-1", ImportMWh: 1_000_000},
				ledger.Record{Time: now, TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindSessionEnd, SessionID: "s1", MeterSerial: "SIM-1", ImportMWh: 1_010_000, Event: ledger.EndRemote})
			l.s.state[sessionStateKey] = b // the state clear was lost
		})
		l.advance(time.Second)
		if n := len(l.ends()); n != 1 {
			t.Fatalf("%d end entries for one session", n)
		}
		if st, _ := l.s.GetState(context.Background(), sessionStateKey); st != nil && string(st) != "null" {
			t.Error("stale session not cleared")
		}
		l.stop()
	})
}

func TestRecoveryClosesAnOpenSessionAsPowerFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := Session{ID: "s1", State: "charging", BeginSeq: 1, MeterSerial: "SIM-1", BeginMWh: 1_000_000}
		b, _ := json.Marshal(s)
		l := newLoop(t, SessionPolicy{}, func(l *loop) {
			l.s.Append(context.Background(), ledger.Record{Time: time.Now(), TimeStatus: ledger.TimeSynchronised,
				Kind: ledger.KindSessionBegin, SessionID: "s1", MeterSerial: "SIM-1", ImportMWh: 1_000_000})
			l.s.state[sessionStateKey] = b
		})
		rec := l.oneEnd(ledger.EndPowerFailure)
		if rec.EnergyMWh < 0 {
			t.Errorf("negative energy %d", rec.EnergyMWh)
		}
		l.stop()
	})
}

// Issue 12 case 6: a reading later than its interval (the loop starved) is declared as a gap.
func TestLateReadingIsDeclaredAsGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(t, SessionPolicy{}, nil)
		l.advance(2 * time.Second)
		if n := len(l.s.find(ledger.KindGap, ledger.EventPollLate)); n != 0 {
			t.Fatalf("%d poll_late gaps on time", n)
		}
		l.m.mu.Lock()
		l.m.nextRead = func(*meter.Reading) error { time.Sleep(3 * testRecord / 2); return nil }
		l.m.mu.Unlock()
		l.advance(3 * time.Second)
		if n := len(l.s.find(ledger.KindGap, ledger.EventPollLate)); n != 1 {
			t.Errorf("%d poll_late gaps after one late reading, want 1", n)
		}
		l.stop()
	})
}

func TestHoldIsAtomicWithSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(t, SessionPolicy{}, nil)
		l.mustStart()
		if _, err := l.c.Hold(context.Background()); !errors.Is(err, ErrSessionRunning) {
			t.Fatalf("Hold during a session: %v", err)
		}
		l.do(CmdStop, "")
		release, err := l.c.Hold(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.do(CmdStart, "04A1"); ErrorCode(err) != "updating" {
			t.Fatalf("start while held: %v", err)
		}
		release()
		l.mustStart()
		l.stop()
	})
}

// seedingMeter records the baseline it was seeded with.
type seedingMeter struct {
	*fakeMeter
	seeded []meter.Baseline
}

func (m *seedingMeter) Seed(b meter.Baseline) error { m.seeded = append(m.seeded, b); return nil }

// Issue 12 case 1: across restarts the meter's baseline comes from the chain's last registers.
func TestMeterIsSeededFromTheChain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.Append(context.Background(),
			ledger.Record{Time: time.Now(), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindReading, MeterSerial: "SIM-1", ImportMWh: 5_000_000, ExportMWh: 7},
			ledger.Record{Time: time.Now(), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindEvent, Event: ledger.EventStarted})
		b := newFakeBoard()
		m := &seedingMeter{fakeMeter: newFakeMeter(b)}
		c, err := NewController(m, b, st, Options{PollInterval: testPoll, RecordIntervalCharging: testRecord, RecordIntervalIdle: testRecord,
			TimeStatus: func() ledger.TimeStatus { return ledger.TimeSynchronised }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		time.Sleep(testPoll)
		synctest.Wait()
		cancel()
		<-done
		if len(m.seeded) != 1 || m.seeded[0].ImportMWh != 5_000_000 || m.seeded[0].ExportMWh != 7 || m.seeded[0].Serial != "SIM-1" || m.seeded[0].At.IsZero() {
			t.Fatalf("seeded %+v, want the last reading's registers and time", m.seeded)
		}
	})
}

// A cut after the begin entry committed but before the session was persisted again: recovery
// takes the begin from the chain and bills from it, once.
func TestRecoveryTakesTheBeginFromTheChain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := Session{ID: "s1", State: "starting", MeterSerial: "SIM-1", BeginMWh: 1_000_000}
		b, _ := json.Marshal(s)
		l := newLoop(t, SessionPolicy{}, func(l *loop) {
			l.s.Append(context.Background(),
				ledger.Record{Time: time.Now(), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindSessionBegin, SessionID: "s1", MeterSerial: "SIM-1", ImportMWh: 1_000_000},
				ledger.Record{Time: time.Now(), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindReading, MeterSerial: "SIM-1", ImportMWh: 1_004_000})
			l.s.state[sessionStateKey] = b
		})
		rec := l.oneEnd(ledger.EndPowerFailure)
		if rec.BeginSeq != 1 || rec.BeginMWh != 1_000_000 || rec.EnergyMWh < 4_000 {
			t.Errorf("recovered session %+v, want begin seq 1 at 1,000,000 mWh and the 4 Wh recorded since", rec)
		}
		l.stop()
	})
}

func TestPauseKeepsTheSessionAndBillsOnlyWhatFlowed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(t, SessionPolicy{}, nil)
		start := l.mustStart()
		l.advance(3600 * time.Second / 11) // 1 kWh at 11 kW
		res, err := l.c.Do(context.Background(), Command{Name: CmdPause, RequestID: "p", Source: "ocpp limit=0"})
		if err != nil || res["session_id"] != start["session_id"] {
			t.Fatalf("pause: %v %v", res, err)
		}
		if l.b.RelayClosed() {
			t.Fatal("relay closed while paused")
		}
		if st := l.c.Status(); st.Session == nil || st.Session.State != "paused" {
			t.Fatalf("status while paused: %+v", st.Session)
		}
		if persisted, _ := l.s.GetState(context.Background(), sessionStateKey); !json.Valid(persisted) || !strings.Contains(string(persisted), `"state":"paused"`) {
			t.Fatalf("persisted session while paused: %s", persisted)
		}
		l.advance(time.Hour) // nothing flows with the relay open
		if _, err := l.do(CmdPause, ""); ErrorCode(err) != "session_state" {
			t.Errorf("second pause answered %v, want session_state", err)
		}
		if _, err := l.c.Do(context.Background(), Command{Name: CmdResume, RequestID: "r", Source: "web"}); err != nil {
			t.Fatalf("resume: %v", err)
		}
		if !l.b.RelayClosed() {
			t.Fatal("relay open after resume")
		}
		if _, err := l.do(CmdResume, ""); ErrorCode(err) != "session_state" {
			t.Errorf("resume while charging answered %v, want session_state", err)
		}
		l.advance(3600 * time.Second / 11)
		l.do(CmdStop, "")
		rec := l.oneEnd(ledger.EndRemote)
		if d := rec.EnergyMWh - 2_000_000; d < -40_000 || d > 40_000 {
			t.Errorf("billed %d mWh, want about 2,000,000 (two charging hours at 1 kWh, none while paused)", rec.EnergyMWh)
		}
		paused, resumed := l.s.find(ledger.KindEvent, ledger.EventSessionPaused), l.s.find(ledger.KindEvent, ledger.EventSessionResumed)
		if len(paused) != 1 || paused[0].Detail != "by=ocpp limit=0" || paused[0].SessionID != rec.ID {
			t.Errorf("pause events %+v, want one by ocpp in session %s", paused, rec.ID)
		}
		if len(resumed) != 1 || resumed[0].Detail != "by=web" || resumed[0].Seq <= paused[0].Seq {
			t.Errorf("resume events %+v, want one by web after the pause", resumed)
		}
		l.stop()
	})
}

func TestPauseAndResumeRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(t, SessionPolicy{}, nil)
		for _, name := range []string{CmdPause, CmdResume} {
			if _, err := l.do(name, ""); ErrorCode(err) != "no_session" {
				t.Errorf("%s without a session answered %v, want no_session", name, err)
			}
		}
		l.mustStart()
		l.advance(time.Second)
		if _, err := l.do(CmdPause, ""); err != nil {
			t.Fatal(err)
		}
		// A fault latched while paused keeps the relay open: resume is refused, the session goes on.
		l.b.mu.Lock()
		l.b.fault = hal.ErrEStop
		l.b.mu.Unlock()
		if _, err := l.do(CmdResume, ""); ErrorCode(err) != "hardware_fault" || l.b.RelayClosed() {
			t.Errorf("resume with a latched fault answered %v, relay closed %t", err, l.b.RelayClosed())
		}
		l.b.mu.Lock()
		l.b.fault = nil
		l.b.failClose = fmt.Errorf("%w: feedback open", hal.ErrFailedToClose)
		l.b.mu.Unlock()
		// A contactor that does not pull in on resume ends the session on it.
		if _, err := l.do(CmdResume, ""); err == nil {
			t.Fatal("resume succeeded with a contactor that does not close")
		}
		l.oneEnd(ledger.EndRelayNotClosed)
		l.stop()
	})
}

func TestTimeLimitRunsOnWhilePaused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(t, SessionPolicy{MaxDuration: time.Hour}, nil)
		l.mustStart()
		l.advance(time.Second)
		if _, err := l.do(CmdPause, ""); err != nil {
			t.Fatal(err)
		}
		// The time limit runs on while paused.
		l.advance(time.Hour)
		rec := l.oneEnd(ledger.EndTimeLimit)
		if rec.EnergyMWh <= 0 {
			t.Errorf("billed %d mWh for a second of charging", rec.EnergyMWh)
		}
		l.stop()
	})
}

// Two control loops of one box share the chain: each names its EVSE in every entry it writes,
// persists its session under its own key and is seeded and recovered from its own entries only.
func TestTwoEVSEsShareOneChain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newFakeStore()
		type point struct {
			b *fakeBoard
			m *fakeMeter
			c *Controller
		}
		var points []point
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 2)
		for evse := uint8(1); evse <= 2; evse++ {
			b := newFakeBoard()
			m := newFakeMeter(b)
			m.serial = fmt.Sprintf("SIM-E%d", evse)
			m.mwh = float64(evse) * 5_000_000
			c, err := NewController(m, b, store, Options{
				EVSEID: fmt.Sprintf("DE*CGT*E0001*%d", evse), EVSE: evse, PollInterval: testPoll,
				RecordIntervalCharging: testRecord, RecordIntervalIdle: testRecord,
				Policy: SessionPolicy{MeterLossLimit: time.Second}, TimeStatus: func() ledger.TimeStatus { return ledger.TimeSynchronised },
			})
			if err != nil {
				t.Fatal(err)
			}
			points = append(points, point{b, m, c})
			go func() { done <- c.Run(ctx) }()
		}
		time.Sleep(testPoll / 2)
		synctest.Wait()
		var ids []string
		for _, p := range points {
			res, err := p.c.Do(context.Background(), Command{Name: CmdStart, RequestID: "s", IDToken: "04A1"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, res["session_id"].(string))
		}
		time.Sleep(3600 * time.Second / 11) // 1 kWh each at 11 kW
		synctest.Wait()
		for i, p := range points {
			key := sessionStateKey
			if i == 1 {
				key = "session/2"
			}
			if st, _ := store.GetState(context.Background(), key); !strings.Contains(string(st), ids[i]) {
				t.Errorf("EVSE %d's session not persisted under %q: %s", i+1, key, st)
			}
			if st := p.c.Status(); st.EVSE != uint8(i+1) || st.Session == nil || st.Session.ID != ids[i] {
				t.Errorf("EVSE %d status: evse %d session %+v", i+1, st.EVSE, st.Session)
			}
		}
		// Only EVSE 2 stops: EVSE 1 charges on.
		if _, err := points[1].c.Do(context.Background(), Command{Name: CmdStop, RequestID: "x"}); err != nil {
			t.Fatal(err)
		}
		if !points[0].b.RelayClosed() || points[1].b.RelayClosed() {
			t.Errorf("relays after stopping EVSE 2: %t %t, want closed, open", points[0].b.RelayClosed(), points[1].b.RelayClosed())
		}
		cancel()
		<-done
		<-done
		started := map[uint8]int{}
		for _, e := range store.all() {
			if e.Event == ledger.EventStarted {
				started[e.EVSE]++
				continue
			}
			want := uint8(1)
			if e.MeterSerial == "SIM-E2" || e.SessionID == ids[1] {
				want = 2
			}
			if e.EVSE != want {
				t.Errorf("seq %d %s (meter %s, session %s) names EVSE %d, want %d", e.Seq, e.Kind, e.MeterSerial, e.SessionID, e.EVSE, want)
			}
		}
		if started[1] != 1 || started[2] != 1 {
			t.Errorf("started events per EVSE: %v, want one each", started)
		}
		for i, id := range ids {
			var begin, end *ledger.Entry
			for _, e := range store.all() {
				if e.SessionID == id && e.Kind == ledger.KindSessionBegin {
					begin = &e
				}
				if e.SessionID == id && e.Kind == ledger.KindSessionEnd {
					end = &e
				}
			}
			if begin == nil || end == nil || end.MeterSerial != fmt.Sprintf("SIM-E%d", i+1) {
				t.Fatalf("EVSE %d session %s: begin %v end %v", i+1, id, begin, end)
			}
			if billed := end.ImportMWh - begin.ImportMWh; billed < 980_000 || billed > 1_020_000 {
				t.Errorf("EVSE %d billed %d mWh from its own meter, want about 1,000,000", i+1, billed)
			}
		}
	})
}
