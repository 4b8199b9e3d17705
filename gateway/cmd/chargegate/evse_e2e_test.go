package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/config"
	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

// The tests of issue 20 (several charging points per box): the appliance runs in this process,
// so the simulated box's e-stop can be pressed, against metersim processes over Modbus TCP.

// twoEVSEs are the evses: list of a two-socket post whose meters are units 1 and 2 of the
// stack's metersim (serials 71000042 and 71000043), each switching its own simulated load.
const twoEVSEs = `sessions:
  mode: free
evses:
  - id: DE*CGT*E0001*1
    meter: {unit: 1}
  - id: DE*CGT*E0001*2
    meter: {unit: 2}
`

// evseApp is a running appliance with its data directory; stop ends it and waits.
type evseApp struct {
	*App
	stack   *rig.Stack
	dataDir string
	stop    func()
}

// runEVSEApp runs the appliance on the stack s with extra configuration appended.
func runEVSEApp(t *testing.T, s *rig.Stack, extra string) *evseApp {
	t.Helper()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	// The simulated vehicles are served on loopback, as the demo drives them.
	text := strings.Replace(testConfig(s, dataDir, extra), "  sim:\n", "  sim:\n    vehicle_listen: 127.0.0.1:0\n", 1)
	cfg, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := openApp(ctx, cfg, "test", logger)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app.Run: %v", err)
		}
	}
	t.Cleanup(stop)
	for _, p := range app.points {
		rig.WaitFor(t, 10*time.Second, "meter readable", func() bool { return p.gw.Status().Meter.Readable })
	}
	return &evseApp{App: app, stack: s, dataDir: dataDir, stop: stop}
}

// command runs an operator command as the MQTT link would and fails the test on refusal.
func (a *evseApp) command(t *testing.T, name, payload string) gateway.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, code, err := a.operator.Execute(ctx, name, []byte(payload))
	if err != nil {
		t.Fatalf("%s %s: %s %v", name, payload, code, err)
	}
	r, _ := res.(gateway.Result)
	return r
}

// simUnit is metersim's state of one unit.
func simUnit(t *testing.T, s *rig.Stack, unit int) map[string]any {
	t.Helper()
	resp, err := http.Get(s.Metersim["control"] + "/v1/meters/" + strconv.Itoa(unit))
	if err != nil {
		t.Fatalf("metersim state: %v", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return m
}

// Two EVSEs on one box: concurrent sessions, each billed from its own meter with entries that
// name it; one e-stop opens both contactors and ends both sessions, once each; the chain
// verifies.
func TestTwoEVSEsEStopEndsBothSessions(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{NoNode: true, MeterArgs: []string{"--meters", "2"}})
	a := runEVSEApp(t, s, twoEVSEs)

	id1 := a.command(t, "start", `{"request_id":"s1"}`)["session_id"]
	id2 := a.command(t, "start", `{"request_id":"s2","evse":2}`)["session_id"]
	if id1 == nil || id2 == nil || id1 == id2 {
		t.Fatalf("session ids %v and %v", id1, id2)
	}
	for _, unit := range []int{1, 2} {
		rig.WaitFor(t, 10*time.Second, "load connected", func() bool { return simUnit(t, s, unit)["connected"] == true })
	}
	// Energy flows in both sessions, each measured at its own meter.
	for _, p := range a.points {
		rig.WaitFor(t, 20*time.Second, "energy in the session", func() bool {
			st := p.gw.Status()
			return st.Session != nil && st.Session.EnergyMWh > 0
		})
	}
	snap := a.Snapshot()
	if len(snap.EVSEs) != 2 || snap.EVSE != 1 || snap.EVSEs[1].EVSE != 2 || snap.EVSEs[1].EVSEID != "DE*CGT*E0001*2" {
		t.Fatalf("status: top-level EVSE %d, evses %+v", snap.EVSE, snap.EVSEs)
	}
	if snap.EVSEs[0].Meter.Serial == snap.EVSEs[1].Meter.Serial {
		t.Fatalf("both EVSEs read meter %s", snap.EVSEs[0].Meter.Serial)
	}

	a.points[0].sim.PressEStop(true)
	for i, p := range a.points {
		rig.WaitFor(t, 5*time.Second, "coil off", func() bool { return !p.sim.Coil() })
		rig.WaitFor(t, 5*time.Second, "session ended", func() bool {
			st := p.gw.Status()
			return st.Session == nil && st.LastSession != nil && st.LastSession.Reason == ledger.EndEmergencyStop
		})
		if _, err := p.gw.Do(context.Background(), gateway.Command{Name: gateway.CmdStart, RequestID: "x"}); err == nil {
			t.Errorf("EVSE %d started a session while the e-stop is latched", i+1)
		}
	}
	// Released, one clear_fault without an evse resets the box.
	a.points[0].sim.PressEStop(false)
	rig.WaitFor(t, 5*time.Second, "fault cleared on both", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _, err := a.operator.Execute(ctx, "clear_fault", []byte(`{"request_id":"c`+strconv.FormatInt(time.Now().UnixNano(), 36)+`"}`))
		return err == nil && a.points[0].board.Fault() == nil && a.points[1].board.Fault() == nil
	})
	a.stop()

	// The chain: each session's entries name its EVSE and its meter; each ended once, by the e-stop.
	serial := map[uint8]string{}
	ends := map[uint8]int{}
	for _, e := range rig.Entries(t, a.dataDir, 0) {
		if e.EVSE != 1 && e.EVSE != 2 {
			t.Fatalf("entry %d names EVSE %d", e.Seq, e.EVSE)
		}
		if e.MeterSerial != "" {
			if serial[e.EVSE] == "" {
				serial[e.EVSE] = e.MeterSerial
			} else if serial[e.EVSE] != e.MeterSerial {
				t.Fatalf("EVSE %d's entries name meters %s and %s", e.EVSE, serial[e.EVSE], e.MeterSerial)
			}
		}
		if e.Kind == ledger.KindSessionEnd {
			ends[e.EVSE]++
			want := id1
			if e.EVSE == 2 {
				want = id2
			}
			if e.SessionID != want || e.Event != ledger.EndEmergencyStop {
				t.Errorf("end entry %d of EVSE %d: session %s, event %q detail %q", e.Seq, e.EVSE, e.SessionID, e.Event, e.Detail)
			}
		}
	}
	if serial[1] != "71000042" || serial[2] != "71000043" {
		t.Errorf("meters by EVSE: %v, want 1: 71000042, 2: 71000043", serial)
	}
	if ends[1] != 1 || ends[2] != 1 {
		t.Errorf("session ends by EVSE: %v, want one each", ends)
	}
	out := rig.MustVerify(t, a.dataDir)
	t.Logf("chargegate verify: %s", strings.TrimSpace(rig.Tail(out, 300)))
}
