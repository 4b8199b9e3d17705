package stardust_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildLedgernode builds the ledgernode program into a temp dir.
func buildLedgernode(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ledgernode")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/chargegate/chargegate/ledger/cmd/ledgernode").CombinedOutput()
	if err != nil {
		t.Fatalf("build ledgernode: %v\n%s", err, out)
	}
	return bin
}

// nodeProcess is a running ledgernode.
type nodeProcess struct {
	cmd    *exec.Cmd
	api    string
	stdout *bytes.Buffer
	stderr *bytes.Buffer
	drain  chan string // closed once stdout is read to its end
}

// startLedgernode runs the program and reads the one JSON line it prints once it listens.
func startLedgernode(t *testing.T, bin string, args ...string) *nodeProcess {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	np := &nodeProcess{cmd: cmd, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	cmd.Stderr = np.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ledgernode: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait() //nolint:errcheck // killed
		}
	})
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		l, _ := r.ReadString('\n')
		line <- l
		rest := new(bytes.Buffer)
		rest.ReadFrom(r) //nolint:errcheck // until the process exits
		np.stdout.Write(rest.Bytes())
		close(line)
	}()
	select {
	case l := <-line:
		var v struct {
			API string `json:"api"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil || !strings.HasPrefix(v.API, "http://127.0.0.1:") {
			t.Fatalf("first stdout line %q: %v\nstderr: %s", l, err, np.stderr)
		}
		np.api = v.API
	case <-time.After(20 * time.Second):
		t.Fatalf("ledgernode printed no address; stderr: %s", np.stderr)
	}
	np.drain = line
	return np
}

// stop sends SIGTERM and expects a clean exit with nothing more on stdout.
func (np *nodeProcess) stop(t *testing.T) {
	t.Helper()
	if err := np.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := np.cmd.Wait(); err != nil {
		t.Fatalf("ledgernode exit after SIGTERM: %v\nstderr: %s", err, np.stderr)
	}
	<-np.drain
	if np.stdout.Len() != 0 {
		t.Errorf("ledgernode printed more than one line: %q", np.stdout)
	}
}

func TestPublisherAgainstLedgernodeProcess(t *testing.T) {
	bin := buildLedgernode(t)
	data := t.TempDir()
	args := []string{"--data", data, "--min-pow-score", "0", "--milestone-interval", "20ms", "--log-level", "warn"}
	np := startLedgernode(t, bin, append(args, "--listen", "127.0.0.1:0")...)
	addr := strings.TrimPrefix(np.api, "http://")

	key := deviceKey("process")
	st := openStore(t, t.TempDir(), key, 120)
	_, _ = startPublisher(t, st, key, fastPublisher(np.api, 10))
	deadline := time.Now().Add(20 * time.Second)
	for {
		last, ok, _ := st.LastAnchor(context.Background())
		if ok && last.Last >= 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no progress against the ledgernode process")
		}
		time.Sleep(5 * time.Millisecond)
	}
	np.stop(t)
	// Restart on the same address and data: the publisher carries on.
	np2 := startLedgernode(t, bin, append(args, "--listen", addr)...)
	waitAnchored(t, st, 30*time.Second)
	checkAnchors(t, st)
	verifyProofs(t, st, np2.api, 1, 10, 11, 60, 120)
	np2.stop(t)
}
