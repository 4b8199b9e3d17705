package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
)

// demoCSMS is the strict OCPP 1.6J or 2.0.1 peer of the tests (gateway/ocpp/testdata/csms: npm
// ocpp-rpc with strictMode, every message checked against the official JSON schemas) run for
// `chargegate demo --ocpp DIR`. Its message log, one JSON object per line, is DATA/csms.log.
type demoCSMS struct {
	cmd     *exec.Cmd
	log     string
	port    int
	version string // ocpp.Version16 or ocpp.Version201
}

// protocol names the version as the demo prints it.
func (c *demoCSMS) protocol() string {
	if c.version == ocpp.Version201 {
		return "2.0.1"
	}
	return "1.6J"
}

// startDemoCSMS starts csms.js from dir (npm ci first when node_modules is missing). It
// returns nil and says why when Node.js is not installed: the demo then runs without OCPP.
func startDemoCSMS(ctx context.Context, dir, version, dataDir string, out io.Writer) (*demoCSMS, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		fmt.Fprintln(out, "chargegate demo: node is not installed; running without OCPP")
		return nil, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ocpp-rpc")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			fmt.Fprintln(out, "chargegate demo: npm is not installed and the CSMS's node_modules are missing; running without OCPP")
			return nil, nil
		}
		fmt.Fprintf(out, "chargegate demo: npm ci in %s\n", dir)
		c := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		c.Dir = dir
		if b, err := c.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("npm ci in %s: %w\n%s", dir, err, b)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("find a port for the CSMS: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	logPath := filepath.Join(dataDir, "csms.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(node, filepath.Join(dir, "csms.js"), "--port", strconv.Itoa(port), "--interval", "60", "--ocpp", version)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the CSMS: %w", err)
	}
	c := &demoCSMS{cmd: cmd, log: logPath, port: port, version: version}
	for deadline := time.Now().Add(20 * time.Second); ; {
		if b, _ := os.ReadFile(logPath); bytes.Contains(b, []byte(`"type":"listening"`)) {
			return c, nil
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("the CSMS did not start; see %s", logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// config is the ocpp section that connects the demo's gateway to it.
func (c *demoCSMS) config() string {
	return fmt.Sprintf("ocpp:\n  url: ws://127.0.0.1:%d/ocpp\n  version: %q\n  identity: CG-DEMO-1\n  heartbeat_interval: 30s\n  meter_value_sample_interval: 10s\n", c.port, c.version)
}

func (c *demoCSMS) stop() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// summary counts the charge point's calls by action and the schema violations in the log.
func (c *demoCSMS) summary() (string, error) {
	f, err := os.Open(c.log)
	if err != nil {
		return "", err
	}
	defer f.Close()
	calls, violations := map[string]int{}, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<22)
	for sc.Scan() {
		var l struct{ Type, Action string }
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch l.Type {
		case "call":
			calls[l.Action]++
		case "violation":
			violations++
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	var names []string
	for k := range calls {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %d", k, calls[k]))
	}
	return fmt.Sprintf("%s; schema violations %d", strings.Join(parts, ", "), violations), nil
}
