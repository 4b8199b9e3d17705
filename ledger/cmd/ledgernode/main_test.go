package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger/anchor"
)

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},                               // no --data
		{"--data", t.TempDir(), "extra"}, // positional argument
		{"--data", t.TempDir(), "--outage", "5s"}, // malformed outage
		{"--data", t.TempDir(), "--log-level", "loud"},
		{"--data", t.TempDir(), "--seed", "x"},
	} {
		if code := run(context.Background(), args, io.Discard, io.Discard); code != 2 {
			t.Errorf("run %q = %d, want 2", args, code)
		}
	}
}

// TestPrintsOneLineAndStops runs the program in-process: exactly one JSON line on stdout once it
// listens, a working API behind it, and a clean stop when the context (the signal) ends.
func TestPrintsOneLineAndStops(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	dir := t.TempDir()
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--data", dir, "--min-pow-score", "0", "--log-level", "error"}, pw, io.Discard)
		pw.Close()
	}()
	r := bufio.NewReader(pr)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read line: %v", err)
	}
	var v struct{ API string }
	if err := json.Unmarshal([]byte(line), &v); err != nil || !strings.HasPrefix(v.API, "http://127.0.0.1:") {
		t.Fatalf("line %q: %v", line, err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	res, err := client.Get(v.API + "/api/core/v2/info")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("info: %v", err)
	}
	res.Body.Close()
	// The milestone keys are published for offline verifiers, and the PoI route answers (404 for
	// a block it does not know, in the node's error envelope).
	kb, err := os.ReadFile(filepath.Join(dir, "coordinator-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anchor.ParseCoordinatorKeys(kb); err != nil {
		t.Errorf("keys file: %v\n%s", err, kb)
	}
	res, err = client.Get(v.API + "/api/poi/v1/create/0x" + strings.Repeat("00", 32))
	if err != nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("poi of an unknown block: %v %v", res.StatusCode, err)
	}
	res.Body.Close()
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d after the signal", code)
	}
	rest, _ := io.ReadAll(r)
	if len(rest) != 0 {
		t.Errorf("more output after the first line: %q", rest)
	}
}

// TestConvention checks the command-line convention: GNU-style help without the hidden -v, -v
// meaning --log-level debug, and --seed 0 drawing a seed it reports.
func TestConvention(t *testing.T) {
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, io.Discard, &errb); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"\n  --data DIR\n", "\n  --log-level LEVEL\n", "\n  --seed N\n", "(default 1)"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String(), "\n  -v") {
		t.Errorf("help shows the hidden -v:\n%s", errb.String())
	}
	stopped, cancel := context.WithCancel(context.Background())
	cancel() // start, print the line, stop at once
	for _, c := range []struct {
		args       []string
		stopped    bool // the info line "stopped" is logged
		randomSeed bool
	}{
		{[]string{"--log-level", "error"}, false, false},
		{[]string{"--log-level", "error", "-v"}, true, false},
		{[]string{"--seed", "0"}, true, true},
		{[]string{"-seed=7", "--log-level=warn"}, false, false},
	} {
		errb.Reset()
		args := append(c.args, "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--min-pow-score", "0")
		if code := run(stopped, args, io.Discard, &errb); code != 0 {
			t.Fatalf("run %v: exit %d: %s", c.args, code, errb.String())
		}
		logs := errb.String()
		if got := strings.Contains(logs, "msg=stopped"); got != c.stopped {
			t.Errorf("run %v: stop logged = %v, want %v:\n%s", c.args, got, c.stopped, logs)
		}
		if got := strings.Contains(logs, "random seed") && strings.Contains(logs, "seed="); got != c.randomSeed {
			t.Errorf("run %v: random seed logged = %v, want %v:\n%s", c.args, got, c.randomSeed, logs)
		}
	}
}
