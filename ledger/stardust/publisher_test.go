package stardust_test

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/ledgertest"
	"github.com/chargegate/chargegate/ledger/node"
	"github.com/chargegate/chargegate/ledger/sqlite"
	"github.com/chargegate/chargegate/ledger/stardust"
)

// deviceKey is a fixed test device key of its own for each name.
func deviceKey(name string) ed25519.PrivateKey { return ledgertest.NamedKey(nil, "stardust "+name) }

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("CHARGEGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// openStore opens a real store in a temp dir and appends n readings.
func openStore(t testing.TB, dir string, key ed25519.PrivateKey, n int) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{Key: key, Logger: testLogger(t), Ballast: -1})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	appendReadings(t, st, n)
	return st
}

func appendReadings(t testing.TB, st *sqlite.Store, n int) {
	t.Helper()
	ctx := context.Background()
	head, _ := st.Head()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const chunk = 5000
	for done := 0; done < n; {
		k := min(chunk, n-done)
		recs := make([]ledger.Record, k)
		for i := range recs {
			s := int64(head) + int64(done+i)
			recs[i] = ledger.Record{
				Time: t0.Add(time.Duration(s) * time.Second), TimeStatus: ledger.TimeSynchronised,
				Kind: ledger.KindReading, MeterSerial: "EM-1", ImportMWh: 1000 * s,
			}
		}
		if _, err := st.Append(ctx, recs...); err != nil {
			t.Fatalf("append: %v", err)
		}
		done += k
	}
}

// testNode is a ledger node served over real HTTP on a loopback port, issuing milestones.
type testNode struct {
	n      *node.Node
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan error
}

func startNode(t testing.TB, cfg node.Config) *testNode {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("new node: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{n: n, srv: httptest.NewServer(n.Handler()), cancel: cancel, done: make(chan error, 1)}
	go func() { tn.done <- n.Run(ctx) }()
	t.Cleanup(tn.stop)
	return tn
}

func (tn *testNode) stop() {
	if tn.cancel == nil {
		return
	}
	tn.cancel()
	<-tn.done
	tn.srv.Close()
	tn.n.Close()
	tn.cancel = nil
}

// startPublisher runs a publisher until the test ends.
func startPublisher(t testing.TB, st stardust.Store, key ed25519.PrivateKey, cfg stardust.Config) (*stardust.Publisher, func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	p, err := stardust.NewPublisher(st, key, cfg)
	if err != nil {
		t.Fatalf("new publisher: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("publisher run: %v", err)
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			stop()
		}
	})
	return p, stop
}

// waitAnchored polls the store until every entry through head is covered by a confirmed anchor.
func waitAnchored(t testing.TB, st *sqlite.Store, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	head, _ := st.Head()
	for {
		last, ok, err := st.LastAnchor(context.Background())
		if err != nil {
			t.Fatalf("last anchor: %v", err)
		}
		if ok && last.Last >= head && last.State == ledger.AnchorConfirmed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("entries through %d not anchored after %v (last anchor %+v, ok %v)", head, timeout, last.Last, ok)
		}
		time.Sleep(20 * time.Millisecond) // polling interval of the wait loop, not a wait for an event
	}
}

// checkAnchors asserts that the confirmed anchors cover 1..head exactly once, in order, each
// chained to the previous one's block.
func checkAnchors(t testing.TB, st *sqlite.Store) []ledger.AnchorRecord {
	t.Helper()
	head, _ := st.Head()
	as, err := st.Anchors(context.Background(), ledger.AnchorConfirmed)
	if err != nil {
		t.Fatalf("anchors: %v", err)
	}
	next := uint64(1)
	var prev [32]byte
	for _, a := range as {
		if a.First != next {
			t.Fatalf("anchor starts at %d, want %d (gap or overlap)", a.First, next)
		}
		dec, err := anchor.Decode(a.Payload)
		if err != nil {
			t.Fatalf("decode anchor %d: %v", a.First, err)
		}
		if dec.Prev != prev {
			t.Errorf("anchor %d: prev %x, want previous block %x", a.First, dec.Prev, prev)
		}
		prev = a.BlockID
		next = a.Last + 1
	}
	if next != head+1 {
		t.Fatalf("anchors end at %d, head is %d", next-1, head)
	}
	return as
}

// checkLedgerChain walks the anchors back on the node itself, as an auditor would.
func checkLedgerChain(t testing.TB, st *sqlite.Store, url string, key ed25519.PrivateKey) {
	t.Helper()
	last, ok, err := st.LastAnchor(context.Background())
	if err != nil || !ok {
		t.Fatalf("last anchor: %v %v", ok, err)
	}
	res, err := anchor.VerifyChain(context.Background(), nodeclient.New(url), key.Public().(ed25519.PublicKey), last.BlockID)
	if err != nil {
		t.Fatalf("anchor chain on the ledger: %v", err)
	}
	head, _ := st.Head()
	as, _ := st.Anchors(context.Background(), ledger.AnchorConfirmed)
	if res.Through != head || res.Anchors != len(as) {
		t.Errorf("ledger chain: %+v, want %d anchors through %d", res, len(as), head)
	}
}

// verifyAllProofs verifies the proof of every stored entry.
func verifyAllProofs(t testing.TB, st *sqlite.Store, url string) {
	t.Helper()
	head, _ := st.Head()
	seqs := make([]uint64, head)
	for i := range seqs {
		seqs[i] = uint64(i + 1)
	}
	verifyProofs(t, st, url, seqs...)
}

// verifyProofs builds and verifies the proofs of the given sequence numbers against the node.
func verifyProofs(t testing.TB, st *sqlite.Store, url string, seqs ...uint64) {
	t.Helper()
	client := nodeclient.New(url)
	for _, seq := range seqs {
		p, err := anchor.ProofFor(context.Background(), st, seq, nil)
		if err != nil {
			t.Fatalf("proof for %d: %v", seq, err)
		}
		if _, err := anchor.Verify(context.Background(), client, p); err != nil {
			t.Fatalf("verify proof of %d: %v", seq, err)
		}
	}
}

func TestPublisherAnchorsAndProofsVerify(t *testing.T) {
	key := deviceKey("simple")
	st := openStore(t, t.TempDir(), key, 250)
	// /health answers 503 like a real node without peers: the publisher must not gate on it.
	tn := startNode(t, node.Config{NoPoW: true, MilestoneInterval: 20 * time.Millisecond, PeerlessHealth: true})
	p, _ := startPublisher(t, st, key, stardust.Config{
		NodeURL: tn.srv.URL, BatchSize: 100, BatchAge: time.Millisecond, PollInterval: 10 * time.Millisecond,
	})
	waitAnchored(t, st, 20*time.Second)
	as := checkAnchors(t, st)
	if len(as) != 3 {
		t.Errorf("%d anchors for 250 entries in batches of 100, want 3", len(as))
	}
	verifyProofs(t, st, tn.srv.URL, 1, 100, 101, 199, 250)
	checkLedgerChain(t, st, tn.srv.URL, key)
	s := p.Status()
	if s.Last.Last != 250 || s.Last.State != ledger.AnchorConfirmed || s.Last.Milestone == 0 || s.Confirmed != 3 || s.Pending != 0 {
		t.Errorf("status %+v", s)
	}
	backlog, err := st.Backlog(context.Background(), ledger.SinkLedger)
	if err != nil || backlog != 0 {
		t.Errorf("ledger backlog %d, %v; want 0 after confirmation", backlog, err)
	}
}

func TestPublisherRealPoW(t *testing.T) {
	key := deviceKey("pow")
	st := openStore(t, t.TempDir(), key, 20)
	// Milestones far enough apart that tips cannot go below max depth (15 milestones) during the PoW.
	tn := startNode(t, node.Config{MinPoWScore: node.DefaultMinPoWScore, MilestoneInterval: 500 * time.Millisecond})
	p, _ := startPublisher(t, st, key, stardust.Config{
		NodeURL: tn.srv.URL, BatchSize: 20, BatchAge: time.Millisecond, PollInterval: 20 * time.Millisecond,
	})
	waitAnchored(t, st, 3*time.Minute) // real PoW on a loaded 2-core machine
	checkAnchors(t, st)
	verifyProofs(t, st, tn.srv.URL, 1, 7, 20)
	s := p.Status()
	t.Logf("status %+v", s)
	if s.PoW <= 0 || s.Blocks < 1 {
		t.Errorf("status %+v: want PoW time and a block", s)
	}
}

func TestPublisherWaitsForBatchAge(t *testing.T) {
	key := deviceKey("age")
	st := openStore(t, t.TempDir(), key, 5)
	tn := startNode(t, node.Config{NoPoW: true, MilestoneInterval: 20 * time.Millisecond})
	now := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC) // 10 s after the first entry
	clock := make(chan time.Time, 1)
	clock <- now
	nowFn := func() time.Time { t := <-clock; clock <- t; return t }
	_, stop := startPublisher(t, st, key, stardust.Config{
		NodeURL: tn.srv.URL, BatchSize: 100, BatchAge: time.Minute, PollInterval: 5 * time.Millisecond, Now: nowFn,
	})
	// Let the publisher poll a number of times: with 5 young entries nothing may be cut.
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		if _, ok, _ := st.LastAnchor(context.Background()); ok {
			t.Fatal("anchor cut before the batch was due")
		}
		time.Sleep(10 * time.Millisecond)
	}
	<-clock
	clock <- now.Add(2 * time.Minute)
	waitAnchored(t, st, 10*time.Second)
	stop()
	if as := checkAnchors(t, st); len(as) != 1 || as[0].Last != 5 {
		t.Errorf("anchors %+v, want one covering 1..5", as)
	}
}

func TestNewPublisherRejectsBadConfig(t *testing.T) {
	key := deviceKey("cfg")
	st := openStore(t, t.TempDir(), key, 0)
	if _, err := stardust.NewPublisher(st, key, stardust.Config{}); err == nil {
		t.Error("no NodeURL accepted")
	}
	if _, err := stardust.NewPublisher(st, nil, stardust.Config{NodeURL: "http://x"}); err == nil {
		t.Error("nil key accepted")
	}
	if _, err := stardust.NewPublisher(nil, key, stardust.Config{NodeURL: "http://x"}); err == nil {
		t.Error("nil store accepted")
	}
}
