package stardust_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger/node"
	"github.com/chargegate/chargegate/ledger/sqlite"
	"github.com/chargegate/chargegate/ledger/stardust"
)

// Environment of the crash child: the test binary re-executed to run a publisher until killed.
const (
	envChildDir = "CHARGEGATE_PUBLISHER_CHILD_DIR"
	envChildURL = "CHARGEGATE_PUBLISHER_CHILD_URL"
	envCycles   = "CHARGEGATE_CRASH_CYCLES"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envChildDir); dir != "" {
		os.Exit(crashChild(dir, os.Getenv(envChildURL)))
	}
	os.Exit(m.Run())
}

// crashChild runs a publisher on the store in dir until the parent kills it.
func crashChild(dir, url string) int {
	key := deviceKey("crash")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{Key: key, Ballast: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open store:", err)
		return 1
	}
	p, err := stardust.NewPublisher(st, key, fastPublisher(url, 15))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: publisher:", err)
		return 1
	}
	fmt.Println("ready") // the parent's kill schedule starts now
	p.Run(ctx)           //nolint:errcheck // runs until SIGKILL
	return 0
}

// TestPublisherCrashResume kills a publisher process with SIGKILL at random moments, over and
// over, and restarts it on the same store: in the end every entry is anchored exactly once and
// every proof verifies. CHARGEGATE_CRASH_CYCLES sets the number of kills (default 12).
func TestPublisherCrashResume(t *testing.T) {
	cycles := 12
	if s := os.Getenv(envCycles); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s: %v", envCycles, err)
		}
		cycles = n
	}
	key := deviceKey("crash")
	dir := t.TempDir()
	st := openStore(t, dir, key, 900)
	st.Close()
	tn := startNode(t, node.Config{NoPoW: true, MilestoneInterval: 15 * time.Millisecond,
		Faults: node.Faults{LostResponseRate: 0.2, Latency: 3 * time.Millisecond, Seed: 3}})
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < cycles; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envChildDir+"="+dir, envChildURL+"="+tn.srv.URL)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start child: %v", err)
		}
		if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
			t.Fatalf("child did not start: %v", err)
		}
		// The kill schedule: a random moment after the child is running.
		<-time.After(time.Duration(rng.IntN(150)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("kill child: %v", err)
		}
		cmd.Wait() //nolint:errcheck // killed
	}
	tn.n.SetFaults(node.Faults{})
	st2, err := sqlite.Open(context.Background(), dir, sqlite.Options{Key: key, Ballast: -1})
	if err != nil {
		t.Fatalf("reopen store: %v", err)
	}
	t.Cleanup(func() { st2.Close() })
	before, ok, err := st2.LastAnchor(context.Background())
	if err != nil || !ok {
		t.Fatalf("the killed publishers stored no anchor at all (%v): the test exercised nothing", err)
	}
	t.Logf("after %d kills: last anchor %d..%d %s", cycles, before.First, before.Last, before.State)
	_, stop := startPublisher(t, st2, key, fastPublisher(tn.srv.URL, 15))
	waitAnchored(t, st2, 30*time.Second)
	stop()
	as := checkAnchors(t, st2)
	if len(as) != 60 {
		t.Errorf("%d anchors, want 60 of 15 entries", len(as))
	}
	verifyAllProofs(t, st2, tn.srv.URL)
	checkLedgerChain(t, st2, tn.srv.URL, key)
}
