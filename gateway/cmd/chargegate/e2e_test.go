package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

type reading struct {
	Seq       uint64 `json:"seq"`
	Kind      string `json:"kind"`
	Event     string `json:"event"`
	SessionID string `json:"session_id"`
	ImportMWh int64  `json:"energy_import_mwh"`
	Entry     string `json:"entry"`
}

func readings(t testing.TB, o *rig.Operator) []reading {
	var out []reading
	for _, m := range o.Messages("readings") {
		var r reading
		if err := json.Unmarshal(m, &r); err != nil {
			t.Fatalf("reading %s: %v", m, err)
		}
		out = append(out, r)
	}
	return out
}

// assertNoGaps waits until every sequence number from 1 to at least through has arrived.
func assertNoGaps(t *testing.T, o *rig.Operator, through uint64) {
	t.Helper()
	var problem string
	deadline := time.Now().Add(15 * time.Second)
	for {
		problem = gapIn(readings(t, o), through)
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(problem)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func gapIn(rs []reading, through uint64) string {
	seen := map[uint64]bool{}
	var max uint64
	for _, r := range rs {
		seen[r.Seq] = true
		max = maxU(max, r.Seq)
	}
	if max < through {
		return fmt.Sprintf("readings reached seq %d, want at least %d", max, through)
	}
	for s := uint64(1); s <= max; s++ {
		if !seen[s] {
			return fmt.Sprintf("reading %d never arrived (received up to %d, %d messages)", s, max, len(rs))
		}
	}
	return ""
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

type sessionMsg struct {
	ID        string `json:"id"`
	EnergyMWh int64  `json:"energy_mwh"`
	Reason    string `json:"reason"`
	OCMF      string `json:"ocmf"`
	EndSeq    uint64 `json:"end_seq"`
}

func sessions(o *rig.Operator) []sessionMsg {
	var out []sessionMsg
	for _, m := range o.Messages("sessions") {
		var s sessionMsg
		json.Unmarshal(m, &s)
		out = append(out, s)
	}
	return out
}

func ocmfKeyHex(t *testing.T, dataDir string) string {
	t.Helper()
	keys, err := ledger.LoadKeys(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&keys.OCMF.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(der)
}

func entries(t *testing.T, g *rig.Gateway) uint64 {
	t.Helper()
	return uint64(g.StatusMap(t)["entries"].(float64))
}

func TestEndToEndSessionOverMQTT(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{Broker: true})
	dir := t.TempDir()
	op := rig.ConnectOperator(t, s.Broker)
	g := startGateway(t, dir, testConfig(s, filepath.Join(dir, "data"), ""))

	rig.WaitFor(t, 10*time.Second, "retained online status", func() bool {
		for _, m := range op.Messages("status") {
			if strings.Contains(string(m), `"online"`) {
				return true
			}
		}
		return false
	})
	op.WaitOnline(g.Device)
	rep := op.Command(g.Device, "start", `{"request_id":"r1","id_token":"04A1B2C3D4E5F6"}`)
	if rep["ok"] != true {
		t.Fatalf("start: %v", rep)
	}
	rig.WaitFor(t, 20*time.Second, "energy flowing and readings arriving", func() bool {
		st := g.StatusMap(t)
		sess, _ := st["session"].(map[string]any)
		return len(readings(t, op)) >= 10 && sess != nil && sess["energy_mwh"].(float64) > 0
	})
	if m := s.SimMeter(t); m["connected"] != true {
		t.Fatalf("metersim load not connected while the relay is closed: %v", m)
	}
	rep = op.Command(g.Device, "stop", `{"request_id":"r2"}`)
	if rep["ok"] != true {
		t.Fatalf("stop: %v", rep)
	}
	rig.WaitFor(t, 10*time.Second, "session record", func() bool { return len(sessions(op)) == 1 })
	sess := sessions(op)[0]
	if sess.EnergyMWh <= 0 || sess.Reason != "remote" || !strings.HasPrefix(sess.OCMF, "OCMF|") {
		t.Fatalf("session record = %+v", sess)
	}
	rig.WaitFor(t, 5*time.Second, "load disconnected after stop", func() bool { return s.SimMeter(t)["connected"] == false })

	code, out := rig.CLI(t, sess.OCMF, "ocmf", "verify", "--key", ocmfKeyHex(t, g.DataDir), "-")
	if code != 0 {
		t.Fatalf("ocmf verify = %d: %s", code, out)
	}
	tampered := strings.Replace(sess.OCMF, `"RV":`, `"RV":1`, 1)
	if code, out := rig.CLI(t, tampered, "ocmf", "verify", "--key", ocmfKeyHex(t, g.DataDir), "-"); code != 1 {
		t.Fatalf("tampered record: ocmf verify = %d, want 1: %s", code, out)
	}

	var anchored uint64
	rig.WaitFor(t, 20*time.Second, "the session anchored", func() bool {
		a, _ := g.StatusMap(t)["anchor"].(map[string]any)
		anchored = uint64(a["confirmed_through"].(float64))
		return anchored >= sess.EndSeq
	})
	head := entries(t, g)
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("gateway exit after SIGTERM: %v", err)
	}
	assertNoGaps(t, op, head)
	if code, out := rig.CLI(t, "", "verify", "--data", g.DataDir); code != 0 {
		t.Fatalf("chargegate verify = %d: %s", code, out)
	}

	// Any single reading verifies against the ledger node, without the gateway's database.
	proof := filepath.Join(dir, "proof.json")
	if code, out := rig.CLI(t, "", "proof", "--data", g.DataDir, "--seq", strconv.FormatUint(sess.EndSeq, 10), "--out", proof); code != 0 {
		t.Fatalf("chargegate proof = %d: %s", code, out)
	}
	if code, out := rig.CLI(t, "", "verify-proof", "--node", s.Node["api"], proof); code != 0 {
		t.Fatalf("chargegate verify-proof = %d: %s", code, out)
	}
	b, err := os.ReadFile(proof)
	if err != nil {
		t.Fatal(err)
	}
	var pj map[string]any
	if err := json.Unmarshal(b, &pj); err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(b), `"seq": `+strconv.FormatUint(sess.EndSeq, 10), `"seq": `+strconv.FormatUint(sess.EndSeq+1, 10), 1)
	if forged == string(b) {
		forged = strings.Replace(string(b), `"seq":`+strconv.FormatUint(sess.EndSeq, 10), `"seq":`+strconv.FormatUint(sess.EndSeq+1, 10), 1)
	}
	if forged == string(b) {
		t.Fatalf("cannot find the seq field to forge in the proof:\n%s", b)
	}
	os.WriteFile(proof, []byte(forged), 0o600)
	if code, out := rig.CLI(t, "", "verify-proof", "--node", s.Node["api"], proof); code != 1 {
		t.Fatalf("forged proof: verify-proof = %d, want 1: %s", code, out)
	}
}

func TestEndToEndBrokerRestartLosesNothing(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{Broker: true})
	dir := t.TempDir()
	op := rig.ConnectOperator(t, s.Broker)
	g := startGateway(t, dir, testConfig(s, filepath.Join(dir, "data"), "sessions:\n  mode: free\n  autostart: true\n"))
	rig.WaitFor(t, 20*time.Second, "readings flowing", func() bool { return len(readings(t, op)) >= 5 })

	s.Broker.Stop()
	atStop := entries(t, g)
	rig.WaitFor(t, 10*time.Second, "entries recorded while the broker is down", func() bool { return entries(t, g) >= atStop+10 })
	s.Broker.Restart()
	during := entries(t, g)
	rig.WaitFor(t, 30*time.Second, "backlog delivered after the broker returned", func() bool {
		var max uint64
		for _, r := range readings(t, op) {
			max = maxU(max, r.Seq)
		}
		return max >= during
	})
	head := entries(t, g)
	g.Stop(syscall.SIGTERM)
	assertNoGaps(t, op, head)
}

func TestEndToEndKillMidSessionClosesAsPowerFailure(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{Broker: true})
	dir := t.TempDir()
	cfg := testConfig(s, filepath.Join(dir, "data"), "")
	op := rig.ConnectOperator(t, s.Broker)
	g := startGateway(t, dir, cfg)
	op.WaitOnline(g.Device)
	if rep := op.Command(g.Device, "start", `{"request_id":"k1","id_token":"TOKEN1"}`); rep["ok"] != true {
		t.Fatalf("start: %v", rep)
	}
	rig.WaitFor(t, 20*time.Second, "charging", func() bool { return s.SimMeter(t)["connected"] == true && len(readings(t, op)) > 5 })

	g.Stop(syscall.SIGKILL)
	// No process is left to open the relay: the coil's lease on the load must run out by itself.
	rig.WaitFor(t, 5*time.Second, "load dropped after the gateway died", func() bool { return s.SimMeter(t)["connected"] == false })

	g = startGateway(t, dir, cfg)
	// The readings topic is the reliable one (the SQLite outbox); the sessions topic is best
	// effort, and a session closed at start may be published before the link is up.
	rig.WaitFor(t, 20*time.Second, "session closed as power failure", func() bool {
		for _, r := range readings(t, op) {
			if r.Kind == "session_end" && r.Event == "power_failure" {
				return true
			}
		}
		return false
	})
	st := g.StatusMap(t)
	if st["session"] != nil || st["relay_closed"] != false {
		t.Fatalf("after recovery: session=%v relay_closed=%v", st["session"], st["relay_closed"])
	}
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("gateway exit: %v", err)
	}
	if code, out := rig.CLI(t, "", "verify", "--data", g.DataDir); code != 0 {
		t.Fatalf("chargegate verify = %d: %s", code, out)
	}
}

func TestEndToEndMalformedCommandsChangeNothing(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{Broker: true})
	dir := t.TempDir()
	g := startGateway(t, dir, testConfig(s, filepath.Join(dir, "data"), ""))
	op := rig.ConnectOperator(t, s.Broker)
	rig.WaitFor(t, 10*time.Second, "meter readable", func() bool { return g.StatusMap(t)["meter"].(map[string]any)["readable"] == true })
	op.WaitOnline(g.Device)

	tests := []struct {
		name, cmd, payload, code string
	}{
		{"not json", "start", `{"request_id":"m1",`, "bad_request"},
		{"no request id", "start", `{"id_token":"X"}`, "bad_request"},
		{"unknown field", "start", `{"request_id":"m3","id_token":"X","power":22}`, "bad_request"},
		{"unknown command", "explode", `{"request_id":"m4"}`, "bad_request"},
		{"update without url", "update", `{"request_id":"m5","url":"ftp://x"}`, "bad_request"},
		{"start without token", "start", `{"request_id":"m6"}`, "unauthorized"},
		{"stop without session", "stop", `{"request_id":"m7"}`, "no_session"},
		{"oversized", "start", `{"request_id":"m8","id_token":"` + strings.Repeat("A", 5000) + `"}`, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := op.Command(g.Device, tt.cmd, tt.payload)
			errObj, _ := rep["error"].(map[string]any)
			if rep["ok"] != false || errObj == nil || errObj["code"] != tt.code {
				t.Fatalf("reply = %v, want ok=false code=%s", rep, tt.code)
			}
		})
	}
	st := g.StatusMap(t)
	if st["session"] != nil || st["relay_closed"] != false {
		t.Fatalf("state changed: session=%v relay_closed=%v", st["session"], st["relay_closed"])
	}
	if m := s.SimMeter(t); m["connected"] != false {
		t.Fatalf("load connected after refused commands: %v", m)
	}
}

func TestSIGTERMEndsSessionAndOpensRelay(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{})
	dir := t.TempDir()
	g := startGateway(t, dir, testConfig(s, filepath.Join(dir, "data"), "sessions:\n  mode: free\n  autostart: true\n"))
	rig.WaitFor(t, 20*time.Second, "charging", func() bool {
		sess, _ := g.StatusMap(t)["session"].(map[string]any)
		return sess != nil && sess["state"] == "charging" && s.SimMeter(t)["connected"] == true
	})
	start := time.Now()
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	t.Logf("SIGTERM to exit: %v", time.Since(start))
	if m := s.SimMeter(t); m["connected"] != false {
		t.Fatalf("load still connected after a clean stop: %v", m)
	}
	if !strings.Contains(g.Stderr.String(), `"reason":"shutdown"`) {
		t.Fatal("the session was not ended with reason shutdown")
	}
}

func TestPanicInWorkerOpensRelay(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{})
	dir := t.TempDir()
	g := startGateway(t, dir, testConfig(s, filepath.Join(dir, "data"), "sessions:\n  mode: free\n  autostart: true\n"))
	rig.WaitFor(t, 20*time.Second, "charging", func() bool { return s.SimMeter(t)["connected"] == true })
	// The faultinject build panics in a worker goroutine on SIGUSR1.
	err := g.Stop(syscall.SIGUSR1)
	if err == nil {
		t.Fatal("gateway exited cleanly after a panic; want a crash")
	}
	if !strings.Contains(g.Stderr.String(), `"relay_closed":false`) {
		t.Fatalf("panic log does not show the relay opened:\n%s", rig.Tail(g.Stderr.String(), 2000))
	}
	rig.WaitFor(t, 5*time.Second, "load dropped", func() bool { return s.SimMeter(t)["connected"] == false })
}

func TestMeterLostEndsSession(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{Broker: true})
	dir := t.TempDir()
	sim := rig.StartService(t, rig.Bin(t, "metersim"), "--model", "sdm630", "--listen", "tcp://127.0.0.1:0", "--control", "127.0.0.1:0")
	s.Metersim = sim.Addrs
	g := startGateway(t, dir, testConfig(s, filepath.Join(dir, "data"), "sessions:\n  mode: free\n  meter_loss_limit: 1s\n"))
	op := rig.ConnectOperator(t, s.Broker)
	op.WaitOnline(g.Device)
	if rep := op.Command(g.Device, "start", `{"request_id":"l1"}`); rep["ok"] != true {
		t.Fatalf("start: %v", rep)
	}
	sim.Stop(syscall.SIGKILL, 5*time.Second)
	lost := time.Now()
	rig.WaitFor(t, 15*time.Second, "session ended for meter loss", func() bool {
		for _, ss := range sessions(op) {
			if ss.Reason == "meter_lost" {
				return true
			}
		}
		return false
	})
	t.Logf("meter killed to session end: %v (limit 1s)", time.Since(lost))
	st := g.StatusMap(t)
	if st["relay_closed"] != false {
		t.Fatal("relay still closed after the meter was lost")
	}
	if _, ok := st["alarms"].(map[string]any)["meter_lost"]; !ok {
		t.Fatalf("no meter_lost alarm: %v", st["alarms"])
	}
	var gaps int
	for _, r := range readings(t, op) {
		if r.Kind == "gap" {
			gaps++
		}
	}
	if gaps == 0 {
		t.Fatal("missed polls produced no gap entries")
	}
}

func TestSignedCommandsOnly(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "operator.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)

	s := rig.StartStack(t, rig.StackOptions{Broker: true})
	op := rig.ConnectOperator(t, s.Broker)
	cfg := strings.Replace(testConfig(s, filepath.Join(dir, "data"), "sessions:\n  mode: free\n"),
		"  in_flight: 16\n", fmt.Sprintf("  in_flight: 16\n  command_keys: [%q]\n", keyFile), 1)
	g := startGateway(t, dir, cfg)
	op.WaitOnline(g.Device)

	window := func(id string, issued time.Time, valid time.Duration) string {
		return fmt.Sprintf(`{"request_id":%q,"issued_at":%q,"expires_at":%q}`, id,
			issued.UTC().Format(time.RFC3339), issued.Add(valid).UTC().Format(time.RFC3339))
	}
	now := time.Now()
	sign := func(device, name, payload string) string {
		sig := ed25519.Sign(priv, gateway.CommandSigningInput(device, name, []byte(payload)))
		b, _ := json.Marshal(gateway.SignedCommand{Payload: base64.StdEncoding.EncodeToString([]byte(payload)), Sig: base64.StdEncoding.EncodeToString(sig)})
		return string(b)
	}
	code := func(rep map[string]any) any {
		e, _ := rep["error"].(map[string]any)
		return e["code"]
	}
	if rep := op.Command(g.Device, "start", `{"request_id":"u1"}`); rep["ok"] != false || code(rep) != "unauthorized" {
		t.Fatalf("unsigned start: %v", rep)
	}
	if rep := op.Command(g.Device, "start", sign("someotherdevice", "start", `{"request_id":"u2"}`)); rep["ok"] != false || code(rep) != "unauthorized" {
		t.Fatalf("start signed for another device: %v", rep)
	}
	if rep := op.Command(g.Device, "start", sign(g.Device, "stop", `{"request_id":"u3"}`)); rep["ok"] != false || code(rep) != "unauthorized" {
		t.Fatalf("stop's signature used for start: %v", rep)
	}
	if g.StatusMap(t)["session"] != nil {
		t.Fatal("a refused command started a session")
	}
	if rep := op.Command(g.Device, "start", sign(g.Device, "start", `{"request_id":"u4"}`)); code(rep) != "bad_request" {
		t.Fatalf("signed start without a validity window: %v", rep)
	}
	if rep := op.Command(g.Device, "start", sign(g.Device, "start", window("u5", now.Add(-2*time.Hour), time.Hour))); code(rep) != "expired" {
		t.Fatalf("expired start: %v", rep)
	}
	if rep := op.Command(g.Device, "start", sign(g.Device, "start", window("u6", now.Add(time.Hour), time.Hour))); code(rep) != "expired" {
		t.Fatalf("start issued an hour ahead: %v", rep)
	}
	signed := sign(g.Device, "start", window("s1", now, time.Hour))
	if rep := op.Command(g.Device, "start", signed); rep["ok"] != true || rep["request_id"] != "s1" {
		t.Fatalf("signed start: %v", rep)
	}
	if rep := op.Command(g.Device, "stop", sign(g.Device, "stop", window("s2", now, time.Hour))); rep["ok"] != true {
		t.Fatalf("signed stop: %v", rep)
	}
	if rep := op.Command(g.Device, "start", signed); rep["ok"] != false || code(rep) != "replayed" {
		t.Fatalf("replayed start: %v", rep)
	}
	if g.StatusMap(t)["session"] != nil {
		t.Fatal("a replayed command started a session")
	}
	// Issue 12 case 7: the executed request IDs survive a restart.
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	g = startGateway(t, dir, cfg)
	op.WaitOnline(g.Device)
	if rep := op.Command(g.Device, "start", signed); rep["ok"] != false || code(rep) != "replayed" {
		t.Fatalf("start replayed after a restart: %v", rep)
	}
	if g.StatusMap(t)["session"] != nil {
		t.Fatal("a command replayed after a restart started a session")
	}
}
