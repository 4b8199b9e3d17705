package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/config"
	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

// runApp runs the whole appliance in this process against metersim and ledgernode processes, so
// a test can reach the simulated board and inject hardware faults.
func runApp(t *testing.T, extra string) (*App, *rig.Stack) {
	t.Helper()
	s := rig.StartStack(t, rig.StackOptions{})
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(testConfig(s, filepath.Join(dir, "data"), extra)))
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
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app.Run: %v", err)
		}
	})
	rig.WaitFor(t, 10*time.Second, "meter readable", func() bool { return app.gw.Status().Meter.Readable })
	return app, s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func do(t *testing.T, app *App, name string) (gateway.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return app.gw.Do(ctx, gateway.Command{Name: name, RequestID: "t"})
}

func TestWeldedContactorRaisesAlarmAndRefusesSessions(t *testing.T) {
	app, _ := runApp(t, "sessions:\n  mode: free\n")
	if _, err := do(t, app, gateway.CmdStart); err != nil {
		t.Fatalf("start: %v", err)
	}
	app.simBoard.Weld(true)
	if _, err := do(t, app, gateway.CmdStop); err != nil {
		t.Fatalf("stop: %v", err)
	}
	rig.WaitFor(t, 5*time.Second, "relay fault alarm", func() bool {
		_, ok := app.gw.Status().Alarms[gateway.AlarmRelay]
		return ok
	})
	if !app.simBoard.Contacts() {
		t.Fatal("the simulated contactor was meant to stay welded")
	}
	if _, err := do(t, app, gateway.CmdStart); !errors.Is(err, gateway.ErrHardwareFault) {
		t.Fatalf("start with a welded contactor: err = %v, want ErrHardwareFault", err)
	}
	if app.simBoard.Coil() {
		t.Fatal("coil energised after a refused start")
	}
}

func TestEmergencyStopEndsSessionAndLatches(t *testing.T) {
	app, s := runApp(t, "sessions:\n  mode: free\n")
	if _, err := do(t, app, gateway.CmdStart); err != nil {
		t.Fatalf("start: %v", err)
	}
	rig.WaitFor(t, 5*time.Second, "load connected", func() bool { return s.SimMeter(t)["connected"] == true })
	pressed := time.Now()
	app.simBoard.PressEStop(true)
	rig.WaitFor(t, 5*time.Second, "coil off", func() bool { return !app.simBoard.Coil() })
	t.Logf("e-stop to coil off: %v", time.Since(pressed))
	rig.WaitFor(t, 5*time.Second, "session ended", func() bool {
		st := app.gw.Status()
		return st.Session == nil && st.LastSession != nil && st.LastSession.Reason == ledger.EndEmergencyStop
	})
	if _, err := do(t, app, gateway.CmdStart); !errors.Is(err, gateway.ErrHardwareFault) {
		t.Fatalf("start while the e-stop is latched: err = %v, want ErrHardwareFault", err)
	}
	app.simBoard.PressEStop(false)
	// The operator resets once the button is released and stable; then charging may resume.
	rig.WaitFor(t, 5*time.Second, "reset and restart", func() bool {
		if _, err := do(t, app, gateway.CmdClearFault); err != nil {
			return false
		}
		_, err := do(t, app, gateway.CmdStart)
		return err == nil
	})
}

func TestLidOpeningIsRecorded(t *testing.T) {
	app, _ := runApp(t, "")
	before := app.gw.Status().Entries
	app.simBoard.OpenLid(true)
	rig.WaitFor(t, 5*time.Second, "tamper entry", func() bool {
		head, _ := app.store.Head()
		for seq := before + 1; seq <= head; seq++ {
			if e, err := app.store.Entry(context.Background(), seq); err == nil && e.Event == "tamper" {
				return true
			}
		}
		return false
	})
}

func TestMeterSignedSessionRecordPassesThroughUnchanged(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{})
	s.Metersim = rig.StartService(t, rig.Bin(t, "metersim"), "--model", "wm3m4", "--unit", "33", "--listen", "tcp://127.0.0.1:0", "--control", "127.0.0.1:0").Addrs
	dir := t.TempDir()
	yaml := strings.Replace(testConfig(s, filepath.Join(dir, "data"), "sessions:\n  mode: free\n"), "model: sdm630", "model: wm3m4\n  unit: 33", 1)
	yaml = strings.Replace(yaml, "load_control_url", "load_unit: 33\n    load_control_url", 1)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := openApp(ctx, cfg, "test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() { cancel(); <-done }()
	rig.WaitFor(t, 10*time.Second, "meter readable", func() bool { return app.gw.Status().Meter.Readable })

	if _, err := do(t, app, gateway.CmdStart); err != nil {
		t.Fatalf("start: %v", err)
	}
	rig.WaitFor(t, 10*time.Second, "energy", func() bool {
		st := app.gw.Status()
		return st.Session != nil && st.Session.EnergyMWh > 0
	})
	if _, err := do(t, app, gateway.CmdStop); err != nil {
		t.Fatalf("stop: %v", err)
	}
	last := app.gw.Status().LastSession
	if last == nil || last.OCMFSigner != "meter" || !strings.HasPrefix(last.OCMF, "OCMF|") {
		t.Fatalf("last session = %+v, want a meter-signed OCMF record", last)
	}
	// The meter's record verifies with the meter's own key, not the gateway's.
	key, err := app.MeterPublicKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if code, out := rig.CLI(t, last.OCMF, "ocmf", "verify", "--key", hex.EncodeToString(key), "-"); code != 0 {
		t.Fatalf("ocmf verify with the meter key = %d: %s", code, out)
	}
	// And the end entry commits to exactly those bytes.
	e, err := app.store.Entry(context.Background(), last.EndSeq)
	if err != nil {
		t.Fatal(err)
	}
	if e.Attachment != sha256.Sum256([]byte(last.OCMF)) {
		t.Fatal("session end entry does not carry the digest of the meter's record")
	}
}
