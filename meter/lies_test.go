package meter_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/chargegate/chargegate/meter"
	"github.com/chargegate/chargegate/meter/sim"
)

// liar is one SDM630 simulator on a manual clock, charging at 11 kW for an hour, with a
// meter.Meter on it over Modbus TCP that has taken one good reading.
type liar struct {
	t     *testing.T
	clk   *sim.ManualClock
	sim   *sim.Sim
	m     *meter.Meter
	first meter.Reading
}

func newLiar(t *testing.T, cfg meter.Config) *liar {
	t.Helper()
	clk := sim.NewManualClock(t0)
	url, s := startSim(t, sim.Options{Model: "sdm630", Clock: clk, Serial: "4242"}, "tcp")
	cfg.URL, cfg.Model, cfg.Now = url, "sdm630", clk.Now
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	m, err := meter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	sm, _ := s.Meter(0, 1)
	sm.SetLoad(clk.Now(), true, 0)
	clk.Advance(time.Hour) // about 11 kWh: a 2 kWh step back is not caught up within a minute
	l := &liar{t: t, clk: clk, sim: s, m: m}
	if l.first, err = m.Read(context.Background()); err != nil {
		t.Fatalf("first reading: %v", err)
	}
	return l
}

// lie injects a fault and returns a function that clears it.
func (l *liar) lie(f sim.Fault) func() {
	l.t.Helper()
	id, err := l.sim.AddFault(f)
	if err != nil {
		l.t.Fatal(err)
	}
	return func() { l.sim.ClearFault(id) }
}

// read advances the clock by d and polls.
func (l *liar) read(d time.Duration) (meter.Reading, error) {
	l.clk.Advance(d)
	return l.m.Read(context.Background())
}

// implausible asserts that err is an *ImplausibleError of rule, that the failed reading
// carries no energy, and that the baseline did not move.
func (l *liar) implausible(r meter.Reading, err error, rule meter.Rule, base meter.Baseline) *meter.ImplausibleError {
	l.t.Helper()
	var ie *meter.ImplausibleError
	if !errors.As(err, &ie) || ie.Rule != rule {
		l.t.Fatalf("err = %v, want implausible by rule %s", err, rule)
	}
	if r.Status != meter.StatusImplausible || r.ImportMWh != 0 || r.ExportMWh != 0 {
		l.t.Fatalf("implausible reading handed out numbers: %+v", r)
	}
	if got := l.m.Baseline(); got != base {
		l.t.Fatalf("baseline moved: %+v → %+v", base, got)
	}
	return ie
}

// TestLieJump: a counter 1,000 kWh higher (issue 12, case 2) is never accepted; the error
// says what was seen and what the physics allowed, and the baseline stays.
func TestLieJump(t *testing.T) {
	l := newLiar(t, meter.Config{})
	base := l.m.Baseline()
	l.lie(sim.Fault{Kind: sim.FaultJump, AmountWh: 1_000_000})
	for i := range 5 {
		r, err := l.read(time.Second)
		ie := l.implausible(r, err, meter.RuleRise, base)
		if ie.SeenMWh < base.ImportMWh+1_000_000_000 || ie.BaseMWh != base.ImportMWh {
			t.Fatalf("poll %d: seen %d, base %d; want ≥ %d over %d", i, ie.SeenMWh, ie.BaseMWh, 1_000_000_000, base.ImportMWh)
		}
		// 69 kW rated × 1.25 over the time since the last accepted reading, plus two steps.
		elapsed := time.Duration(i+1) * time.Second
		if ie.Elapsed != elapsed || ie.BoundMWh > base.ImportMWh+int64(69000*1.25*elapsed.Hours()*1000)+1000 {
			t.Fatalf("poll %d: bound %d after %s, want rated power × margin × elapsed", i, ie.BoundMWh, ie.Elapsed)
		}
	}
}

// TestLieAllZeroAndAllOnes: registers that all read 0x0000 or 0xFFFF are never a reading,
// never a replacement (the zero serial) and never the start of a counter reset; the link
// heals when the lie ends.
func TestLieAllZeroAndAllOnes(t *testing.T) {
	for _, c := range []struct {
		kind string
		rule meter.Rule
	}{{sim.FaultZeros, meter.RuleAllZero}, {sim.FaultAbsent, meter.RuleAllOnes}} {
		t.Run(c.kind, func(t *testing.T) {
			l := newLiar(t, meter.Config{ResetConfirm: 10 * time.Second})
			base := l.m.Baseline()
			clear := l.lie(sim.Fault{Kind: c.kind})
			for range 30 { // three times ResetConfirm
				r, err := l.read(time.Second)
				l.implausible(r, err, c.rule, base)
			}
			clear()
			r, err := l.read(time.Second)
			if err != nil || r.Serial != "4242" || r.ImportMWh <= base.ImportMWh {
				t.Fatalf("after the lie: %+v, %v", r, err)
			}
		})
	}
}

// TestLieLowerAfterReconnect is issue 12, case 1: the connection drops and the counter
// comes back 2 kWh lower. The Meter reconnects by itself, keeps its baseline, re-reads the
// identity (same serial), and reports every poll as implausible; only after the lower
// counters held for ResetConfirm is it a counter reset, reported as such (never silently).
func TestLieLowerAfterReconnect(t *testing.T) {
	l := newLiar(t, meter.Config{Retries: -1})
	base := l.m.Baseline()
	before := l.sim.Requests()
	l.lie(sim.Fault{Kind: sim.FaultBackwards, AmountWh: 2000, Drop: true})
	if _, err := l.read(time.Second); !errors.Is(err, meter.ErrFrame) {
		t.Fatalf("poll on the dropped connection: %v, want ErrFrame", err)
	}
	var reset *meter.CounterResetError
	var err error
	var r meter.Reading
	held := time.Duration(0)
	for range 120 {
		r, err = l.read(time.Second)
		held += time.Second
		if errors.As(err, &reset) {
			break
		}
		l.implausible(r, err, meter.RuleFall, base)
	}
	if reset == nil {
		t.Fatalf("no counter reset after %s: %v", held, err)
	}
	if held < meter.DefaultResetConfirm || reset.Consistent < meter.DefaultResetConfirm {
		t.Fatalf("reset accepted after %s (consistent %s), before ResetConfirm %s", held, reset.Consistent, meter.DefaultResetConfirm)
	}
	if d := reset.OldImportMWh - reset.NewImportMWh; reset.OldImportMWh != base.ImportMWh || d < 1_000_000 {
		t.Fatalf("reset %+v, want from the baseline %d down by about 2 kWh less what flowed since", reset, base.ImportMWh)
	}
	// The identity was read on the new connection and after every implausible poll: the
	// poll on the dropped connection reached nobody, then two requests per poll
	// (measurement block + identity block), so a replacement would have been named at once.
	if n, want := l.sim.Requests()-before, 2*int64(held/time.Second); n != want {
		t.Errorf("%d requests for %d polls, want %d", n, held/time.Second+1, want)
	}
	if r, err := l.read(time.Second); err != nil || r.ImportMWh < reset.NewImportMWh {
		t.Fatalf("after the reset: %+v, %v", r, err)
	}
}

// TestLieReplacedAfterReconnect: a different serial on the new connection is a replacement,
// not a fall.
func TestLieReplacedAfterReconnect(t *testing.T) {
	l := newLiar(t, meter.Config{})
	l.lie(sim.Fault{Kind: sim.FaultReplace, Drop: true})
	_, err := l.read(time.Second)
	var re *meter.ReplacementError
	if !errors.As(err, &re) || re.OldSerial != "4242" || re.NewSerial == "4242" {
		t.Fatalf("err = %v, want ReplacementError from 4242", err)
	}
	if b := l.m.Baseline(); b.Serial != re.NewSerial || b.ImportMWh > 100_000 {
		t.Fatalf("baseline after replacement: %+v", b)
	}
}

// TestLieStuckWhilePowerFlows: the counters stop while 11 kW flow; after 100 Wh should have
// been counted (about 33 s), every poll is implausible until the counter moves again.
func TestLieStuckWhilePowerFlows(t *testing.T) {
	l := newLiar(t, meter.Config{})
	clear := l.lie(sim.Fault{Kind: sim.FaultStuck})
	var err error
	var r meter.Reading
	polls := 0
	for ; polls < 60 && err == nil; polls++ {
		r, err = l.read(time.Second)
	}
	base := l.m.Baseline()
	ie := l.implausible(r, err, meter.RuleFrozen, base)
	if polls < 30 || polls > 36 {
		t.Errorf("frozen after %d s at 11 kW, want about 33 s (100 Wh)", polls)
	}
	if ie.SeenMWh != base.ImportMWh {
		t.Errorf("frozen at %d, baseline %d", ie.SeenMWh, base.ImportMWh)
	}
	r, err = l.read(time.Second)
	l.implausible(r, err, meter.RuleFrozen, base)
	clear()
	// The counter catches up by what flowed while it stood still: more than the rise bound
	// allows since the last accepted reading at first, so it is accepted once the bound,
	// growing at 69 kW × 1.25, has overtaken the 11 kW flow (a few seconds).
	for range 10 {
		if r, err = l.read(time.Second); err == nil {
			break
		}
		l.implausible(r, err, meter.RuleRise, base)
	}
	if err != nil || r.ImportMWh <= base.ImportMWh {
		t.Fatalf("after the counter moved again: %+v, %v", r, err)
	}
}

// TestLieTruncatedFrames: half a reply and a dropped connection are transport errors; the
// Meter reconnects and the next poll is good, from the same baseline.
func TestLieTruncatedFrames(t *testing.T) {
	for _, kind := range []string{sim.FaultTruncate, sim.FaultDrop} {
		t.Run(kind, func(t *testing.T) {
			l := newLiar(t, meter.Config{Retries: -1})
			base := l.m.Baseline()
			l.lie(sim.Fault{Kind: kind, Count: 3})
			for range 3 {
				if _, err := l.read(time.Second); !errors.Is(err, meter.ErrFrame) {
					t.Fatalf("err = %v, want ErrFrame", err)
				}
			}
			r, err := l.read(time.Second)
			if err != nil || r.ImportMWh <= base.ImportMWh {
				t.Fatalf("after reconnecting: %+v, %v", r, err)
			}
		})
	}
}

// TestIdentityReadOnlyWhenDue: a poll is one request (the measurement block); the identity
// block is read at connect, after a failed poll, and every IdentityInterval.
func TestIdentityReadOnlyWhenDue(t *testing.T) {
	l := newLiar(t, meter.Config{IdentityInterval: time.Minute, Retries: -1})
	requests := func(polls int) int64 {
		t.Helper()
		before := l.sim.Requests()
		for range polls {
			if _, err := l.read(time.Second); err != nil {
				t.Fatal(err)
			}
		}
		return l.sim.Requests() - before
	}
	if n := requests(10); n != 10 {
		t.Fatalf("10 polls took %d requests, want 10", n)
	}
	l.clk.Advance(time.Minute)
	if n := requests(2); n != 3 {
		t.Fatalf("2 polls after IdentityInterval took %d requests, want 3", n)
	}
	l.lie(sim.Fault{Kind: sim.FaultException, Code: 4, Count: 1})
	if _, err := l.read(time.Second); err == nil {
		t.Fatal("exception fault not seen")
	}
	if n := requests(2); n != 3 {
		t.Fatalf("2 polls after a failed poll took %d requests, want 3", n)
	}
}

// TestReconnectsItself: a Meter from New starts while nothing listens, backs off between
// attempts (no I/O before the next attempt is due), and reads once the meter is there.
func TestReconnectsItself(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	clk := sim.NewManualClock(t0)
	m, err := meter.New(meter.Config{URL: "tcp://" + addr, Model: "sdm630", Now: clk.Now, Retries: -1, ReconnectMax: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	if _, err := m.Read(ctx); !errors.Is(err, meter.ErrConnect) {
		t.Fatalf("read with nothing listening: %v, want ErrConnect", err)
	}
	s, err := sim.New(sim.Options{Model: "sdm630", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Buses()[0].ServeTCP(sctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	for range 5 { // refused reads do not push the next attempt further out
		if _, err := m.Read(ctx); !errors.Is(err, meter.ErrConnect) || s.Requests() != 0 {
			t.Fatalf("read before the backoff ran out: %v (%d requests), want ErrConnect without I/O", err, s.Requests())
		}
	}
	clk.Advance(1500 * time.Millisecond) // the first wait: 1 s ± 50 %
	if r, err := m.Read(ctx); err != nil || r.Serial == "" {
		t.Fatalf("read after the meter came up: %+v, %v", r, err)
	}
}

// TestSeedCatchesAcrossRestart: the gateway seeds the baseline from its chain; a counter
// below it on the first poll is a fall, another serial a replacement.
func TestSeedCatchesAcrossRestart(t *testing.T) {
	clk := sim.NewManualClock(t0)
	url, _ := startSim(t, sim.Options{Model: "sdm630", Clock: clk, Serial: "4242"}, "tcp")
	for _, c := range []struct {
		name string
		seed meter.Baseline
		want func(error) bool
	}{
		{"fall", meter.Baseline{Serial: "4242", ImportMWh: 5_000_000, At: t0.Add(-time.Hour)}, func(err error) bool {
			var ie *meter.ImplausibleError
			return errors.As(err, &ie) && ie.Rule == meter.RuleFall && ie.BaseMWh == 5_000_000
		}},
		{"replaced", meter.Baseline{Serial: "777", ImportMWh: 5_000_000, At: t0.Add(-time.Hour)}, func(err error) bool {
			var re *meter.ReplacementError
			return errors.As(err, &re) && re.OldSerial == "777" && re.NewSerial == "4242"
		}},
		{"plausible", meter.Baseline{Serial: "4242", ImportMWh: 0, At: t0.Add(-time.Hour)}, func(err error) bool { return err == nil }},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := meter.New(meter.Config{URL: url, Model: "sdm630", Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if err := m.Seed(c.seed); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Read(context.Background()); !c.want(err) {
				t.Fatalf("first read after Seed(%+v): %v", c.seed, err)
			}
		})
	}
}

// TestCapPowerTightensRise: a charging point allowed 6 A on three phases (4,140 W) cannot have
// its energy rise at 11 kW: with the gateway's cap the rise rule catches what the meter's
// 69 kW rating lets through; lifted, the rating applies again.
func TestCapPowerTightensRise(t *testing.T) {
	l := newLiar(t, meter.Config{})
	if _, err := l.read(time.Second); err != nil {
		t.Fatalf("11 kW under the 69 kW rating: %v", err)
	}
	l.m.CapPower(16 * 3 * 230) // 16 A allowed: 11,040 W × 1.25 covers the load
	if _, err := l.read(time.Second); err != nil {
		t.Fatalf("11 kW under a 16 A cap: %v", err)
	}
	base := l.m.Baseline()
	l.m.CapPower(6 * 3 * 230)
	r, err := l.read(time.Second)
	ie := l.implausible(r, err, meter.RuleRise, base)
	t.Logf("11 kW under a 6 A cap: %v", ie)
	l.m.CapPower(0)
	if _, err := l.read(time.Second); err != nil {
		t.Fatalf("after lifting the cap: %v", err)
	}
}
