package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/meter"
)

// TestProgram builds and runs the real metersim on free loopback ports, reads its JSON
// line, drives the load through the control interface, reads energy with the meter client,
// and stops it with SIGTERM.
func TestProgram(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "metersim")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--model", "sdm630", "--listen", "tcp://127.0.0.1:0",
		"--control", "127.0.0.1:0", "--speed", "100", "--serial", "777", "--fault", "exception,code=6,unit=9")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(stdout)
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v\n%s", err, stderr.String())
	}
	var ready struct{ Modbus, Control string }
	if err := json.Unmarshal([]byte(line), &ready); err != nil || !strings.HasPrefix(ready.Modbus, "tcp://127.0.0.1:") || !strings.HasPrefix(ready.Control, "http://127.0.0.1:") {
		t.Fatalf("ready line %q: %v", line, err)
	}
	resp, err := http.Post(ready.Control+"/v1/load", "application/json", strings.NewReader(`{"unit":1,"connected":true,"lease_ms":3000}`))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /v1/load: %v %v", err, resp)
	}
	resp.Body.Close()
	// At speed 100 the simulated 11 kW draw 1.1 MW-seconds per wall second: the rise bound,
	// measured on the wall clock, must allow that.
	m, err := meter.Open(ctx, meter.Config{URL: ready.Modbus, MaxPowerW: 2e6})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Energy flows: at speed 100 every wall second is 100 s of charging.
	deadline := time.Now().Add(10 * time.Second)
	var r meter.Reading
	for {
		r, err = m.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.ImportMWh > 100_000 || time.Now().After(deadline) {
			break
		}
		<-time.After(50 * time.Millisecond)
	}
	if r.ImportMWh <= 100_000 || r.Serial != "777" {
		t.Fatalf("reading %+v", r)
	}
	st := getState(t, ready.Control+"/v1/meters/1")
	if !st.Connected || st.Serial != "777" {
		t.Fatalf("state %+v", st)
	}
	// Lie modes switched at runtime through the control interface reach the client as the
	// plausibility rule they break, and clearing them heals the readings.
	for _, lie := range []struct {
		body string
		rule meter.Rule
	}{
		{`{"kind":"zeros"}`, meter.RuleAllZero},
		{`{"kind":"absent"}`, meter.RuleAllOnes},
		{`{"kind":"jump","amount_wh":1000000}`, meter.RuleRise},
	} {
		resp, err := http.Post(ready.Control+"/v1/fault", "application/json", strings.NewReader(lie.body))
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /v1/fault %s: %v %v", lie.body, err, resp)
		}
		var created struct{ ID int }
		_ = json.NewDecoder(resp.Body).Decode(&created)
		resp.Body.Close()
		_, err = m.Read(ctx)
		var ie *meter.ImplausibleError
		if !errors.As(err, &ie) || ie.Rule != lie.rule {
			t.Fatalf("lie %s: %v, want rule %s", lie.body, err, lie.rule)
		}
		req, _ := http.NewRequest(http.MethodDelete, ready.Control+"/v1/fault/"+strconv.Itoa(created.ID), nil)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE fault %d: %v %v", created.ID, err, resp)
		}
		if lie.rule == meter.RuleRise {
			break // the counter stays 1,000 kWh up: a real meter would not heal either
		}
		if _, err := m.Read(ctx); err != nil {
			t.Fatalf("after clearing %s: %v", lie.body, err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, rd)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "metersim stopped") {
		t.Errorf("no clean stop logged:\n%s", stderr.String())
	}
}

func TestBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{
		{"--model", "nope"},
		{"--fault", "melt"},
		{"--listen", "udp://127.0.0.1:0"},
		{"--control", "0.0.0.0:0"},
		{"--log-level", "loud"},
		{"--seed", "-1"},
		{"extra"},
	} {
		out.Reset()
		errb.Reset()
		if code := run(context.Background(), args, &out, &errb); code == 0 || out.Len() != 0 || errb.Len() == 0 {
			t.Errorf("run %v = %d, stdout %q, stderr %q", args, code, out.String(), errb.String())
		}
	}
}

// TestConvention checks the command-line convention: GNU-style help without the hidden -v,
// --log-level filtering, -v still meaning debug, and --seed 0 drawing a seed it reports.
func TestConvention(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"\n  --log-level LEVEL\n", "\n  --seed N\n", "(default 1)"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String(), "\n  -v") {
		t.Errorf("help shows the hidden -v:\n%s", errb.String())
	}
	stopped, cancel := context.WithCancel(context.Background())
	cancel() // serve once, then stop at once
	for _, c := range []struct {
		args       []string
		ready      bool // the info line "metersim ready" is logged
		randomSeed bool
	}{
		{[]string{"--log-level", "error"}, false, false},
		{[]string{"--log-level", "error", "-v"}, true, false},
		{[]string{"--seed", "0"}, true, true},
		{[]string{"-seed=7", "--log-level=warn"}, false, false},
	} {
		out.Reset()
		errb.Reset()
		if code := run(stopped, append(c.args, "--listen", "tcp://127.0.0.1:0"), &out, &errb); code != 0 {
			t.Fatalf("run %v: exit %d: %s", c.args, code, errb.String())
		}
		logs := errb.String()
		if got := strings.Contains(logs, "metersim ready"); got != c.ready {
			t.Errorf("run %v: ready logged = %v, want %v:\n%s", c.args, got, c.ready, logs)
		}
		if got := strings.Contains(logs, "random seed") && strings.Contains(logs, "seed="); got != c.randomSeed {
			t.Errorf("run %v: random seed logged = %v, want %v:\n%s", c.args, got, c.randomSeed, logs)
		}
	}
}

type state struct {
	Connected bool
	Serial    string
}

func getState(t *testing.T, url string) state {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st state
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}
