// Package rig runs chargegate's programs and a Mosquitto broker for integration tests, on free
// loopback ports, and stops them when the test ends — what net/http/httptest does for servers.
//
// It is the one harness of the process-level tests (gateway/cmd/chargegate, gateway/chaos):
//
//	Bin            the programs, built once per test binary with -tags faultinject
//	Stack          metersim, a ledger node and optionally a Broker; meter faults and load profile
//	Stack.Config   a gateway configuration using the stack (Config chooses cadence, limits, ...)
//	Gateway        a running `chargegate run`: its API address, device ID, Status, clean stop
//	Operator       an MQTT client in the operator's place: commands, replies, every message
//	CLI, MustVerify the chargegate command line; `chargegate verify`
//	Entries        a gateway's chain, read-only, while it runs or after
package rig

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/child"
)

// Build compiles the given main packages into a new temporary directory and returns it.
// Test packages call it once (sync.OnceValues) and share the binaries among their tests.
func Build(tags string, pkgs ...string) (string, error) {
	dir, err := os.MkdirTemp("", "chargegate-bin-")
	if err != nil {
		return "", err
	}
	args := []string{"build"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(append(args, "-o", dir+string(os.PathSeparator)), pkgs...)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build programs: %v\n%s", err, out)
	}
	return dir, nil
}

// Buffer collects a process's output; safe for concurrent writes and reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail returns the last n bytes of s, marked when cut.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// WaitFor polls cond until it holds, failing the test after limit.
func WaitFor(tb testing.TB, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Proc is one running program. Its stderr is kept for assertions and, when the test fails,
// printed.
type Proc struct {
	Name   string
	Cmd    *exec.Cmd
	Stderr *Buffer
	done   chan struct{}
	err    error
}

// Start runs path with args until the test ends and returns it with its stdout.
func Start(tb testing.TB, path string, args ...string) (*Proc, io.Reader) {
	tb.Helper()
	p := &Proc{Name: filepath.Base(path), Stderr: &Buffer{}, done: make(chan struct{})}
	p.Cmd = exec.Command(path, args...)
	p.Cmd.Stderr = p.Stderr
	out, err := p.Cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", p.Name, err)
	}
	go func() { p.err = p.Cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		p.Stop(syscall.SIGKILL)
		if tb.Failed() {
			tb.Logf("%s stderr (tail):\n%s", p.Name, Tail(p.Stderr.String(), 6000))
		}
	})
	return p, out
}

// PID is the process ID.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the exit error; valid once Done is closed.
func (p *Proc) Err() error { return p.err }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop signals the process and waits for it. One that ignores the signal for 20 s is killed
// and reported as hung.
func (p *Proc) Stop(sig syscall.Signal) error {
	if p.Exited() {
		return p.err
	}
	p.Cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.Cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s hung: still running 20 s after signal %v", p.Name, sig)
	}
	return p.err
}

// Broker is a Mosquitto (Debian package) started for one test, restartable on the same port,
// with persistence so queued messages survive its restarts as they would in production.
type Broker struct {
	tb   testing.TB
	path string
	conf string
	port int
	cmd  *exec.Cmd
	Log  *Buffer
}

// StartBroker starts Mosquitto on a free port; listenerConf is added to its one listener
// (TLS files, for example).
func StartBroker(tb testing.TB, listenerConf string) *Broker {
	tb.Helper()
	path, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, err = os.Stat("/usr/sbin/mosquitto"); err != nil {
			tb.Fatal("mosquitto not installed: run `make deps` (Debian package mosquitto)")
		}
		path = "/usr/sbin/mosquitto"
	}
	// Started as root, Mosquitto drops to its own user: it must reach its files.
	dir := tb.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o777)
	b := &Broker{tb: tb, path: path, port: FreePort(tb), conf: filepath.Join(dir, "mosquitto.conf"), Log: &Buffer{}}
	conf := fmt.Sprintf("persistence true\npersistence_location %s/\nmax_inflight_messages 0\nmax_queued_messages 0\n"+
		"listener %d 127.0.0.1\nallow_anonymous true\n%s", dir, b.port, listenerConf)
	if err := os.WriteFile(b.conf, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	b.Restart()
	tb.Cleanup(b.Stop)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("mosquitto log:\n%s", Tail(b.Log.String(), 3000))
		}
	})
	return b
}

// Restart starts the broker (again) and waits until it accepts connections.
func (b *Broker) Restart() {
	b.cmd = exec.Command(b.path, "-c", b.conf)
	b.cmd.Stderr, b.cmd.Stdout = b.Log, b.Log
	if err := b.cmd.Start(); err != nil {
		b.tb.Fatalf("start mosquitto: %v", err)
	}
	WaitFor(b.tb, 10*time.Second, "mosquitto listening", func() bool {
		c, err := net.Dial("tcp", b.Addr())
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// Stop stops the broker cleanly (it saves its persistence file).
func (b *Broker) Stop() {
	if b.cmd != nil && b.cmd.ProcessState == nil {
		b.cmd.Process.Signal(syscall.SIGTERM)
		b.cmd.Wait()
	}
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

// URL is the broker's tcp:// URL.
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// StartService starts a service program (metersim, ledgernode) that prints its address line
// once it listens (package child), and stops it when the test ends.
func StartService(tb testing.TB, path string, args ...string) *child.Process {
	tb.Helper()
	stderr := &Buffer{}
	p, err := child.Start(path, args, stderr, 30*time.Second)
	if err != nil {
		tb.Fatalf("%v; stderr:\n%s", err, stderr.String())
	}
	tb.Cleanup(func() {
		p.Stop(syscall.SIGKILL, 0)
		if tb.Failed() {
			tb.Logf("%s stderr (tail):\n%s", filepath.Base(path), Tail(stderr.String(), 3000))
		}
	})
	return p
}
