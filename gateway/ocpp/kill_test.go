package ocpp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/ocpp"
)

// TestMain lets the test binary play a gateway process that the kill test can SIGKILL.
func TestMain(m *testing.M) {
	if dir := os.Getenv("OCPP_TEST_CHILD"); dir != "" {
		if err := runChild(dir, os.Getenv("OCPP_TEST_URL")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type noSessions struct{}

func (noSessions) Start(context.Context, string) (string, error) {
	return "", gateway.ErrSessionRunning
}
func (noSessions) Hold(context.Context) (func(), error) { return func() {}, nil }

func (noSessions) Stop(context.Context, string) error { return gateway.ErrNoSession }

// runChild runs a charge point on dir/ocpp.db and reads stdin lines "start ID", "tick ID MWH",
// "end ID MWH", answering "ok" once the notification has returned.
func runChild(dir, url string) error {
	q, err := ocpp.OpenQueue(context.Background(), filepath.Join(dir, "ocpp.db"))
	if err != nil {
		return err
	}
	cp, err := ocpp.New(ocpp.Config{URL: url, Identity: "CG-KILL", Vendor: "chargegate", Model: "kill-test",
		MeterValueSampleInterval: time.Second, RetryInterval: time.Second, CallTimeout: 5 * time.Second,
		ReconnectMin: 100 * time.Millisecond, ReconnectMax: 300 * time.Millisecond}, q, noSessions{})
	if err != nil {
		return err
	}
	go cp.Run(context.Background())
	base := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	sc := bufio.NewScanner(os.Stdin)
	n := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		n++
		at := base.Add(time.Duration(n) * time.Second)
		mwh := int64(0)
		if len(f) > 2 {
			mwh, _ = strconv.ParseInt(f[2], 10, 64)
		}
		switch f[0] {
		case "start":
			cp.SessionStarted(ocpp.SessionStart{ID: f[1], IDTag: "KILL", Time: at, MeterMWh: mwh})
		case "tick":
			cp.Telemetry(gateway.Telemetry{Time: at, SessionID: f[1], ImportMWh: mwh})
		case "end":
			cp.Session(gateway.SessionRecord{ID: f[1], IDToken: "KILL", Start: base, End: at, BeginMWh: 0, EndMWh: mwh, Reason: "local"})
		}
		fmt.Println("ok")
	}
	select {} // until killed
}

type child struct {
	cmd   *exec.Cmd
	stdin io.Writer
	out   *bufio.Scanner
}

func startChild(t *testing.T, dir, url string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "OCPP_TEST_CHILD="+dir, "OCPP_TEST_URL="+url)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &child{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
}

func (c *child) do(t *testing.T, line string) {
	t.Helper()
	fmt.Fprintln(c.stdin, line)
	if !c.out.Scan() || c.out.Text() != "ok" {
		t.Fatalf("child did not acknowledge %q", line)
	}
}

func (c *child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

// txIDs returns the outbox row numbers of the transaction messages the CSMS received, in order.
func txIDs(c *csms) []int {
	var out []int
	for _, l := range c.All() {
		if l.Type == "call" && strings.HasPrefix(l.ID, "tx") {
			n, _ := strconv.Atoi(l.ID[2:])
			out = append(out, n)
		}
	}
	return out
}

// The gateway process is SIGKILLed (1) right after it queued a whole session while the CSMS was
// down, and (2) right after it queued a second session while the CSMS was up and delivering.
// After each restart every transaction message reaches the CSMS: none lost, in order; a repeat
// is allowed only of the one message whose answer the kill may have cut off (at-least-once).
func TestGatewayKilled(t *testing.T) {
	c := startCSMS(t, "--interval", "30", "--txid-start", "500")
	c.Kill()
	dir := t.TempDir()

	ch := startChild(t, dir, c.URL())
	ch.do(t, "start A 1000000")
	ch.do(t, "tick A 2000000")
	ch.do(t, "tick A 3000000")
	ch.do(t, "end A 4000000")
	ch.kill()

	c.Start(2)
	ch = startChild(t, dir, c.URL())
	c.WaitFor("session A delivered", func() bool { return len(c.Calls("StopTransaction")) == 1 })
	if got := txIDs(c); fmt.Sprint(got) != "[1 2 3 4]" {
		t.Fatalf("after the offline kill the CSMS got messages %v, want [1 2 3 4] once each", got)
	}
	ch.do(t, "start B 5000000")
	ch.do(t, "tick B 6000000")
	ch.do(t, "end B 7000000")
	ch.kill()
	startChild(t, dir, c.URL())
	// Wait for message 7 itself: the stop of session A may arrive a second time first (its answer
	// cut off by the first kill), which a count of StopTransactions would take for B's.
	c.WaitFor("session B delivered", func() bool { return slices.Contains(txIDs(c), 7) })

	got := txIDs(c)
	want := 1
	for i, id := range got {
		switch {
		case id == want:
			want++
		case i > 0 && id == got[i-1]:
			// the message in flight at the kill, sent again under the same id
		default:
			t.Fatalf("messages %v: %d arrived where %d was due", got, id, want)
		}
	}
	if want != 8 {
		t.Fatalf("messages %v: want 1..7", got)
	}
	stops := c.Calls("StopTransaction")
	// If the kill cut off the answer to StartTransaction B, it was sent again and the CSMS gave
	// a second id (OCPP 1.6 has no idempotent start); the stop must name the one stored.
	txs := transactionIDs(t, c)
	if st := params[stopTx](t, stops[len(stops)-1]); st.TransactionID != txs[len(txs)-1] || st.MeterStop != 7000 {
		t.Errorf("StopTransaction B = %+v, want transaction %d (the last given), meterStop 7000", st, txs[len(txs)-1])
	}
}
