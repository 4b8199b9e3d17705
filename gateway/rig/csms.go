package rig

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// CSMS runs csms.js from dir (gateway/ocpp/testdata/csms), the strict OCPP 1.6J peer (ocpp-rpc with strictMode), on a
// loopback port, and keeps every line it prints across its restarts. A schema violation in
// either direction fails the test.
type CSMS struct {
	t    *testing.T
	port int
	args []string
	dir  string

	mu     sync.Mutex
	lines  []CSMSLine
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr Buffer
	done   chan struct{}
	ref    int
}

// CSMSLine is one JSON line of the CSMS's stdout (see csms.js).
type CSMSLine struct {
	Type   string          `json:"type"`
	Action string          `json:"action"`
	ID     string          `json:"id"`
	Ref    string          `json:"ref"`
	Error  string          `json:"error"`
	Port   int             `json:"port"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Detail json.RawMessage `json:"detail"`
	Life   int             `json:"-"` // which run of the CSMS printed it
}

func StartCSMS(t *testing.T, dir string, args ...string) *CSMS {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ocpp-rpc")); err != nil {
		t.Fatalf("the test CSMS is not installed: run .ci/deps (npm ci in gateway/ocpp/testdata/csms): %v", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node (Node.js 20) is needed for the test CSMS: %v", err)
	}
	c := &CSMS{t: t, port: FreePort(t), args: args, dir: dir}
	c.Start(1)
	t.Cleanup(func() {
		c.Kill()
		for _, l := range c.All() {
			if l.Type == "violation" {
				t.Errorf("OCPP schema violation seen by the strict CSMS: %s", l.Detail)
			}
		}
		if t.Failed() {
			t.Logf("CSMS stderr:\n%s", Tail(c.stderr.String(), 4000))
		}
	})
	return c
}

// URL is the endpoint a charge point connects to: wss:// when the CSMS was started with
// --tls-cert (security profiles 2 and 3), else ws://.
func (c *CSMS) URL() string {
	if slices.Contains(c.args, "--tls-cert") {
		return fmt.Sprintf("wss://127.0.0.1:%d/ocpp", c.port)
	}
	return fmt.Sprintf("ws://127.0.0.1:%d/ocpp", c.port)
}

func (c *CSMS) Start(life int, extra ...string) {
	c.t.Helper()
	args := append([]string{filepath.Join(c.dir, "csms.js"), "--port", strconv.Itoa(c.port)}, c.args...)
	args = append(args, extra...)
	cmd := exec.Command("node", args...)
	cmd.Stderr = &c.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start the test CSMS: %v", err)
	}
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l CSMSLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				l = CSMSLine{Type: "violation", Detail: json.RawMessage(strconv.Quote("unparsable line: " + sc.Text()))}
			}
			l.Life = life
			c.mu.Lock()
			c.lines = append(c.lines, l)
			c.mu.Unlock()
		}
		cmd.Wait()
		close(done)
	}()
	c.mu.Lock()
	c.cmd, c.stdin, c.done = cmd, stdin, done
	c.mu.Unlock()
	c.WaitFor("the CSMS to listen", func() bool {
		return c.Count(func(l CSMSLine) bool { return l.Type == "listening" && l.Life == life }) > 0
	})
}

// Kill SIGKILLs the CSMS: no close frame, as when its host dies.
func (c *CSMS) Kill() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Restart starts a new CSMS process on the same port.
func (c *CSMS) Restart(life int, extra ...string) {
	c.Kill()
	c.Start(life, extra...)
}

func (c *CSMS) All() []CSMSLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]CSMSLine(nil), c.lines...)
}

func (c *CSMS) Count(f func(CSMSLine) bool) int {
	n := 0
	for _, l := range c.All() {
		if f(l) {
			n++
		}
	}
	return n
}

// Calls returns the calls of action that the charge point made, in order.
func (c *CSMS) Calls(action string) []CSMSLine {
	var out []CSMSLine
	for _, l := range c.All() {
		if l.Type == "call" && l.Action == action {
			out = append(out, l)
		}
	}
	return out
}

func (c *CSMS) WaitFor(what string, cond func() bool) {
	c.t.Helper()
	WaitFor(c.t, 20*time.Second, what, cond)
}

func (c *CSMS) WaitCalls(action string, n int) []CSMSLine {
	c.t.Helper()
	c.WaitFor(fmt.Sprintf("%d %s", n, action), func() bool { return len(c.Calls(action)) >= n })
	return c.Calls(action)
}

// Call has the CSMS call the charge point and returns the answer (the result, or an error).
func (c *CSMS) Call(action string, params any) (json.RawMessage, error) {
	c.t.Helper()
	c.mu.Lock()
	c.ref++
	ref := "r" + strconv.Itoa(c.ref)
	stdin := c.stdin
	c.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"ref": ref, "action": action, "params": params})
	if _, err := stdin.Write(append(b, '\n')); err != nil {
		c.t.Fatalf("control the CSMS: %v", err)
	}
	var got CSMSLine
	c.WaitFor("the answer to "+action, func() bool {
		for _, l := range c.All() {
			if l.Ref == ref && (l.Type == "result" || l.Type == "error") {
				got = l
				return true
			}
		}
		return false
	})
	if got.Type == "error" {
		return nil, fmt.Errorf("%s", got.Error)
	}
	return got.Result, nil
}

// Status calls action and returns the "status" field of the answer.
func (c *CSMS) Status(action string, params any) string {
	c.t.Helper()
	res, err := c.Call(action, params)
	if err != nil {
		c.t.Fatalf("%s: %v", action, err)
	}
	var s struct{ Status string }
	json.Unmarshal(res, &s)
	return s.Status
}
