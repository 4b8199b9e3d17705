// Package child starts chargegate's service programs (metersim, ledgernode) as child processes
// and reads the one JSON line each prints on stdout once it listens, naming its addresses.
package child

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// Process is a started service program.
type Process struct {
	Cmd   *exec.Cmd
	Addrs map[string]string // the string fields of its address line, e.g. "modbus", "control", "api"
	done  chan struct{}
	err   error
}

// Start runs path with args, sends its stderr to stderr, and waits up to limit for its address
// line. On failure the process is killed.
func Start(path string, args []string, stderr io.Writer, limit time.Duration) (*Process, error) {
	cmd := exec.Command(path, args...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	line := make(chan []byte, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- append([]byte(nil), s.Bytes()...)
		}
		close(line)
		io.Copy(io.Discard, out) // keep draining so the child never blocks on stdout
		p.err = cmd.Wait()
		close(p.done)
	}()
	select {
	case l, ok := <-line:
		var raw map[string]any
		if !ok || json.Unmarshal(l, &raw) != nil {
			p.Stop(syscall.SIGKILL, 0)
			return nil, fmt.Errorf("%s printed %q instead of its address line", path, l)
		}
		p.Addrs = map[string]string{}
		for k, v := range raw {
			if s, ok := v.(string); ok {
				p.Addrs[k] = s
			}
		}
		return p, nil
	case <-time.After(limit):
		p.Stop(syscall.SIGKILL, 0)
		return nil, fmt.Errorf("%s did not report its addresses within %v", path, limit)
	}
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, valid after Done is closed.
func (p *Process) Err() error { return p.err }

// Stop sends sig and waits up to grace for the exit, then kills. It returns the exit error
// (nil after a clean exit).
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	if err := p.Cmd.Process.Signal(sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Cmd.Process.Kill()
		<-p.done
	}
	return p.err
}
