package sqlite

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

// crashChildEnv, when set to a directory, turns the test binary into the appender child of
// TestCrashKill9. crashCyclesEnv sets the number of SIGKILL cycles (CI 50; make bench 1000).
const (
	crashChildEnv  = "CHARGEGATE_CRASH_CHILD"
	crashCyclesEnv = "CHARGEGATE_CRASH_CYCLES"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	if dir := os.Getenv(stateChildEnv); dir != "" {
		os.Exit(stateChild(dir))
	}
	os.Exit(m.Run())
}

// crashChild appends forever, in groups of 1–8 records, and prints "seq hash" for the last
// entry of each group only after Append returned (the commit). It also moves sink cursors,
// writes state and prunes, so that kills land in every kind of write, checkpoints included.
func crashChild(dir string) int {
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{Key: ledgertest.Key(nil), Reserve: 16, Ballast: -1, TailCheck: 64})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 3
	}
	var anchored uint64
	if a, ok, err := s.LastAnchor(ctx); err == nil && ok {
		anchored = a.Last
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		n := 1 + rand.IntN(8)
		es, err := s.Append(ctx, readings(i*8, n)...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child append:", err)
			return 4
		}
		last := es[len(es)-1]
		h := last.Hash()
		fmt.Fprintf(out, "%d %s\n", last.Seq, hex.EncodeToString(h[:]))
		out.Flush()
		switch i % 7 {
		case 3:
			_ = s.Ack(ctx, ledger.SinkMQTT, last.Seq-uint64(rand.IntN(int(last.Seq))))
		case 5:
			_ = s.PutState(ctx, "ocmf/pagination/T", []byte(strconv.Itoa(i)))
		}
		if i%5 == 4 {
			_, _ = s.w.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
		}
		if i%13 == 12 && last.Seq > anchored {
			// Confirmed anchor, delivered to MQTT: the range becomes prunable.
			if err := s.PutAnchor(ctx, ledger.AnchorRecord{First: anchored + 1, Last: last.Seq, Root: h, State: ledger.AnchorConfirmed}); err != nil {
				fmt.Fprintln(os.Stderr, "child anchor:", err)
				return 5
			}
			anchored = last.Seq
			_ = s.Ack(ctx, ledger.SinkMQTT, last.Seq)
			if _, err := s.Prune(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "child prune:", err)
				return 6
			}
		}
	}
}

// TestCrashKill9 runs the appender in a child process, SIGKILLs it at random moments, and
// checks after every restart: no acknowledged entry lost, the chain verifies, integrity_check
// is ok, and a crash never causes a store replacement.
func TestCrashKill9(t *testing.T) {
	cycles := 50
	if v := os.Getenv(crashCyclesEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q", crashCyclesEnv, v)
		}
		cycles = n
	}
	dir := t.TempDir()
	ctx := context.Background()
	acked := map[uint64]string{}
	total, pruned := 0, 0
	var maxAcked, verified uint64
	var verifiedHash [32]byte
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for cycle := range cycles {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of acknowledgements (0–40), plus a random delay,
		// so the kill lands anywhere inside the next transaction.
		killAfter := rng.IntN(40)
		sc := bufio.NewScanner(stdout)
		n := 0
		killed := false
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue
			}
			seq, _ := strconv.ParseUint(f[0], 10, 64)
			acked[seq] = f[1]
			maxAcked = max(maxAcked, seq)
			n++
			if n >= killAfter && !killed {
				spin := time.Duration(rng.IntN(2000)) * time.Microsecond
				time.AfterFunc(spin, func() { cmd.Process.Signal(syscall.SIGKILL) })
				killed = true
			}
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("cycle %d: child ended by itself: %v\n%s", cycle, err, stderr.String())
		}

		s, err := Open(ctx, dir, Options{Key: ledgertest.Key(t), Reserve: 16, Ballast: -1, TailCheck: 64})
		if err != nil {
			t.Fatalf("cycle %d: reopen: %v", cycle, err)
		}
		mqtt, err := s.cursor(ctx, s.r, ledger.SinkMQTT)
		if err != nil {
			t.Fatal(err)
		}
		for seq, want := range acked {
			e, err := s.Entry(ctx, seq)
			if errors.Is(err, ErrNotFound) {
				// Only pruned: covered by a confirmed anchor and delivered to every sink.
				a, aerr := s.AnchorFor(ctx, seq)
				if aerr != nil || a.State != ledger.AnchorConfirmed || mqtt < seq {
					t.Fatalf("cycle %d: acknowledged entry %d lost (anchor %+v %v, mqtt cursor %d)", cycle, seq, a, aerr, mqtt)
				}
				pruned++
				continue
			}
			if err != nil {
				t.Fatalf("cycle %d: acknowledged entry %d lost: %v", cycle, seq, err)
			}
			if h := e.Hash(); hex.EncodeToString(h[:]) != want {
				t.Fatalf("cycle %d: entry %d changed", cycle, seq)
			}
		}
		// Verify the chain from the last verified entry on (its link included).
		opts := ledger.ChainOptions{Key: s.DeviceKey()}
		if next, err := s.Entries(ctx, verified+1, 1); err == nil && len(next) == 1 && next[0].Seq == verified+1 && verified > 0 {
			opts.Prev = &verifiedHash // not pruned: check the link to what was verified before
		}
		st, err := ledger.VerifyChain(all(ctx, s.r, verified+1), opts)
		if err != nil && !(errors.Is(err, ledger.ErrEmptyChain) && maxAcked == verified) {
			t.Fatalf("cycle %d: chain does not verify: %v", cycle, err)
		}
		if len(st.Replacements) != 0 {
			t.Fatalf("cycle %d: a crash caused a store replacement at %v", cycle, st.Replacements)
		}
		if err == nil {
			if st.Last < maxAcked {
				t.Fatalf("cycle %d: chain ends at %d, acknowledged up to %d", cycle, st.Last, maxAcked)
			}
			verified, verifiedHash = st.Last, st.Head
		}
		integrityOK(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		total += len(acked)
		clear(acked) // checked; the chain check above covers them from now on
	}
	t.Logf("%d SIGKILL cycles, %d acknowledged appends (highest seq %d, %d pruned after anchoring), none lost", cycles, total, maxAcked, pruned)
}
