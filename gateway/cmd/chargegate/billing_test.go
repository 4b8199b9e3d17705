package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// The black-box regression tests of issue 12 (billing integrity under faults): each runs the
// real `chargegate run` against metersim over Modbus TCP with a real SQLite file, attacks it from
// outside and then reads the chain the way an auditor would.

// chain reads every entry of a stopped gateway's store.
func chain(t *testing.T, dataDir string) []ledger.Entry {
	t.Helper()
	r, err := sqlite.OpenReader(context.Background(), dataDir)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer r.Close()
	var es []ledger.Entry
	for e, err := range r.All(context.Background()) {
		if err != nil {
			t.Fatalf("read chain: %v", err)
		}
		es = append(es, e)
	}
	return es
}

// endsBySession counts session end entries per session ID.
func endsBySession(es []ledger.Entry) map[string][]ledger.Entry {
	m := map[string][]ledger.Entry{}
	for _, e := range es {
		if e.Kind == ledger.KindSessionEnd {
			m[e.SessionID] = append(m[e.SessionID], e)
		}
	}
	return m
}

// Case 3: a SIGKILL at any step of the session end sequence leaves the session ended exactly
// once: by its own end entry when the kill came after the commit, else as power_failure.
func TestKillAtEveryStepOfTheEndSequenceEndsTheSessionOnce(t *testing.T) {
	steps := []struct {
		step, reason string
	}{
		{gateway.StepEndRelayOpen, ledger.EndPowerFailure},
		{gateway.StepEndSigned, ledger.EndPowerFailure},
		{gateway.StepEndCommitted, ledger.EndRemote},
		{gateway.StepEndPublished, ledger.EndRemote},
	}
	s := rig.StartStack(t, rig.StackOptions{Broker: true})
	op := rig.ConnectOperator(t, s.Broker)
	for i, tc := range steps {
		t.Run(tc.step, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(s, filepath.Join(dir, "data"), "")
			t.Setenv("CHARGEGATE_CRASH_AT", tc.step)
			g := startGateway(t, dir, cfg)
			op.WaitOnline(g.Device)
			if rep := op.Command(g.Device, "start", fmt.Sprintf(`{"request_id":"k%d-1","id_token":"TOKEN1"}`, i)); rep["ok"] != true {
				t.Fatalf("start: %v", rep)
			}
			time.Sleep(time.Second)
			op.Publish(g.Device, "stop", fmt.Sprintf(`{"request_id":"k%d-2"}`, i)) // no reply: it dies
			select {
			case <-g.Done():
			case <-time.After(20 * time.Second):
				t.Fatalf("gateway did not die at %s", tc.step)
			}
			t.Setenv("CHARGEGATE_CRASH_AT", "")
			g = startGateway(t, dir, cfg)
			rig.WaitFor(t, 20*time.Second, "no session", func() bool { return g.StatusMap(t)["session"] == nil })
			if err := g.Stop(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code, out := rig.CLI(t, "", "verify", "--data", g.DataDir); code != 0 {
				t.Fatalf("verify = %d: %s", code, out)
			}
			ends := endsBySession(chain(t, g.DataDir))
			if len(ends) != 1 {
				t.Fatalf("%d sessions ended, want 1: %v", len(ends), ends)
			}
			for id, es := range ends {
				if len(es) != 1 {
					t.Fatalf("session %s ended %d times: %+v", id, len(es), es)
				}
				if es[0].Event != tc.reason {
					t.Errorf("session ended as %q, want %q", es[0].Event, tc.reason)
				}
			}
		})
	}
}

// Case 6: under a flood of local HTTP clients the API sheds load instead of starving the control
// loop, and every reading further apart than its interval is declared by a gap entry, so verify
// with the interval's tolerance passes.
func TestHTTPFloodLeavesNoSilentHoles(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{})
	dir := t.TempDir()
	cfg := strings.Replace(testConfig(s, filepath.Join(dir, "data"), ""), "  listen: 127.0.0.1:0\n", "  listen: 127.0.0.1:0\n  max_concurrent: 4\n", 1)
	g := startGateway(t, dir, cfg)
	var ok, shed atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 500}}
	var wg sync.WaitGroup
	for range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+g.API+"/api/v1/status", nil)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				switch resp.StatusCode {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusServiceUnavailable:
					if resp.Header.Get("Retry-After") == "" {
						t.Error("503 without Retry-After")
					}
					shed.Add(1)
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	t.Logf("500 clients for 8 s: %d served, %d shed", ok.Load(), shed.Load())
	if shed.Load() == 0 {
		t.Error("no request was shed: the API has no concurrency limit")
	}
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Idle, the harness config records every 1 s and polls every 200 ms: on-time readings are at
	// most 1.1 s apart (interval + half a poll); later ones must be declared by a gap.
	if code, out := rig.CLI(t, "", "verify", "--data", g.DataDir, "--max-interval", "1100ms"); code != 0 {
		t.Fatalf("verify --max-interval 1100ms = %d: %s", code, out)
	}
}

// Case 8: an id token that is not OCPP printable ASCII of at most 36 characters is refused and
// never reaches a signed entry.
func TestBadIDTokensNeverReachTheChain(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{Broker: true})
	dir := t.TempDir()
	g := startGateway(t, dir, testConfig(s, filepath.Join(dir, "data"), ""))
	op := rig.ConnectOperator(t, s.Broker)
	op.WaitOnline(g.Device)
	for i, tok := range []string{`"tag\u0000"`, `"\u00e9t\u00e9"`, `"` + strings.Repeat("A", 37) + `"`, `"tab\there"`} {
		rep := op.Command(g.Device, "start", fmt.Sprintf(`{"request_id":"b%d","id_token":%s}`, i, tok))
		if e, _ := rep["error"].(map[string]any); rep["ok"] != false || e["code"] != "bad_request" {
			t.Errorf("start with id_token %s: %v", tok, rep)
		}
	}
	// Invalid UTF-8 cannot even be written as JSON text; raw bytes are refused by the decoder.
	rep := op.Command(g.Device, "start", "{\"request_id\":\"b9\",\"id_token\":\"\xff\xfe\"}")
	if rep["ok"] != false {
		t.Errorf("start with invalid UTF-8 id_token: %v", rep)
	}
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, e := range chain(t, g.DataDir) {
		if e.Kind == ledger.KindSessionBegin {
			t.Errorf("a session began: %+v", e)
		}
	}
}
