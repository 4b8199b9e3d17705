package sqlite

import (
	"bufio"
	"context"
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

// TestAppendStateRollsBackTogether: a failure inside the transaction, after the entries and the
// state were written but before COMMIT, leaves neither, in memory and in the file.
func TestAppendStateRollsBackTogether(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	if _, err := s.AppendState(ctx, readings(0, 3), "session", []byte("running")); err != nil {
		t.Fatal(err)
	}
	injected := errors.New("injected crash before commit")
	s.beforeCommit = func() error { return injected }
	end := ledger.Record{Time: reading(4).Time, TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindSessionEnd, Event: ledger.EndRemote}
	if _, err := s.AppendState(ctx, []ledger.Record{end}, "session", nil); !errors.Is(err, injected) {
		t.Fatalf("AppendState = %v, want the injected failure", err)
	}
	s.beforeCommit = nil
	check := func(s *Store, when string) {
		t.Helper()
		if seq, _ := s.Head(); seq != 3 {
			t.Fatalf("%s: head %d, want 3 (the end entry must not be there)", when, seq)
		}
		if v, err := s.GetState(ctx, "session"); err != nil || string(v) != "running" {
			t.Fatalf("%s: state %q, %v; want the session still persisted", when, v, err)
		}
	}
	check(s, "after rollback")
	must(t, s.Close())
	s = openTest(t, dir, nil)
	defer s.Close()
	check(s, "after reopen")
	// Now both together.
	es, err := s.AppendState(ctx, []ledger.Record{end}, "session", nil)
	if err != nil || len(es) != 1 || es[0].Seq != 4 {
		t.Fatalf("AppendState = %v, %v", es, err)
	}
	if _, err := s.GetState(ctx, "session"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("state after end: %v, want ErrNotFound", err)
	}
	verifyAll(t, s)
}

const stateChildEnv = "CHARGEGATE_STATE_CHILD"

// stateChild alternates, one AppendState each, between writing "session" = the entry's own
// sequence number and deleting it; the entry's Detail says which. It prints each seq after
// the commit.
func stateChild(dir string) int {
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{Key: ledgertest.Key(nil), Reserve: 16, Ballast: -1, TailCheck: 64})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 3
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		head, _ := s.Head()
		rec := reading(i)
		var value []byte
		if i%2 == 0 {
			rec.Detail = "put"
			value = []byte(strconv.FormatUint(head+1, 10))
		} else {
			rec.Detail = "del"
		}
		es, err := s.AppendState(ctx, []ledger.Record{rec}, "session", value)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child append:", err)
			return 4
		}
		fmt.Fprintf(out, "%d\n", es[0].Seq)
		out.Flush()
	}
}

// TestAppendStateSurvivesKill9 SIGKILLs a child doing AppendState at random moments; after
// every reopen the persisted state agrees with the newest entry of the chain.
func TestAppendStateSurvivesKill9(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	var acked uint64
	for cycle := range 15 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), stateChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		must(t, err)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		must(t, cmd.Start())
		killAfter, n, killed := rng.IntN(30), 0, false
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			seq, _ := strconv.ParseUint(sc.Text(), 10, 64)
			acked = max(acked, seq)
			if n++; n >= killAfter && !killed {
				time.AfterFunc(time.Duration(rng.IntN(1500))*time.Microsecond, func() { cmd.Process.Signal(syscall.SIGKILL) })
				killed = true
			}
		}
		_ = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("cycle %d: child ended by itself\n%s", cycle, stderr.String())
		}
		s := openTest(t, dir, func(o *Options) { o.Reserve = 16; o.TailCheck = 64 })
		// The newest reading decides what the state must be.
		var last ledger.Entry
		for e, err := range s.All(ctx) {
			must(t, err)
			if e.Kind == ledger.KindReading {
				last = e
			}
		}
		if last.Seq < acked {
			t.Fatalf("cycle %d: newest reading %d, acknowledged %d", cycle, last.Seq, acked)
		}
		v, err := s.GetState(ctx, "session")
		switch last.Detail {
		case "put":
			if err != nil || string(v) != strconv.FormatUint(last.Seq, 10) {
				t.Fatalf("cycle %d: entry %d put the state, found %q, %v", cycle, last.Seq, v, err)
			}
		case "del":
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("cycle %d: entry %d deleted the state, found %q, %v", cycle, last.Seq, v, err)
			}
		default:
			if cycle > 0 || last.Seq != 0 {
				t.Fatalf("cycle %d: newest reading %d has detail %q", cycle, last.Seq, last.Detail)
			}
		}
		verifyAll(t, s)
		must(t, s.Close())
	}
	t.Logf("15 SIGKILL cycles, highest acknowledged seq %d; state always matched the chain", acked)
}

func TestRememberCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := newClock()
	s := openTest(t, dir, func(o *Options) { o.Now = clk.Now })
	exp := clk.Now().Add(5 * time.Minute)
	for i, want := range []bool{true, false, false} {
		fresh, err := s.RememberCommand(ctx, "req-1", exp)
		if err != nil || fresh != want {
			t.Fatalf("call %d: fresh = %v, %v; want %v", i, fresh, err, want)
		}
	}
	if fresh, err := s.RememberCommand(ctx, "req-expired", clk.Now()); err != nil || fresh {
		t.Fatalf("expired command: fresh = %v, %v", fresh, err)
	}
	if _, err := s.RememberCommand(ctx, strings.Repeat("x", MaxRequestID+1), exp); err == nil {
		t.Fatal("over-long request ID accepted")
	}
	must(t, s.Close())
	// A restart does not forget.
	s = openTest(t, dir, func(o *Options) { o.Now = clk.Now })
	defer s.Close()
	if fresh, err := s.RememberCommand(ctx, "req-1", exp); err != nil || fresh {
		t.Fatalf("after restart: fresh = %v, %v; want a replay", fresh, err)
	}
	// After the expiry the row is pruned (and the command itself would be refused as expired).
	clk.Add(6 * time.Minute)
	if fresh, err := s.RememberCommand(ctx, "req-2", clk.Now().Add(time.Minute)); err != nil || !fresh {
		t.Fatalf("req-2: %v, %v", fresh, err)
	}
	var n int
	must(t, s.r.QueryRow("SELECT count(*) FROM commands WHERE request_id = 'req-1'").Scan(&n))
	if n != 0 {
		t.Fatal("expired request ID not pruned")
	}
}

// TestSkipToDeclaresTheRolledBackNumbers: when a witness has seen the chain reach a higher size
// than the restored head, the numbers in between are declared and never issued again, and the
// chain still verifies.
func TestSkipToDeclaresTheRolledBackNumbers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	if _, err := s.Append(ctx, readings(0, 5)...); err != nil {
		t.Fatal(err)
	}
	if h, err := s.SkipTo(ctx, 3, "not above the head"); err != nil || h != (ledger.Hole{}) {
		t.Fatalf("SkipTo below the head = %+v, %v; want nothing", h, err)
	}
	h, err := s.SkipTo(ctx, 10, "witness holds size 10")
	if err != nil {
		t.Fatal(err)
	}
	if h.From != 6 || h.To != 10 || h.DeclaredBy != 11 {
		t.Fatalf("hole %+v, want 6-10 declared by 11", h)
	}
	es, err := s.Append(ctx, readings(5, 1)...)
	if err != nil || es[0].Seq != 12 {
		t.Fatalf("next entry %+v, %v; want seq 12", es, err)
	}
	st := verifyAll(t, s)
	if len(st.Holes) != 1 || st.Holes[0].From != 6 || st.Holes[0].To != 10 {
		t.Errorf("verified holes %+v, want 6-10", st.Holes)
	}
}
