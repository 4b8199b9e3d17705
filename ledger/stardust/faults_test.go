package stardust_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/node"
	"github.com/chargegate/chargegate/ledger/sqlite"
	"github.com/chargegate/chargegate/ledger/stardust"
)

// fastPublisher is a publisher configuration for tests against a fast node.
func fastPublisher(url string, batch int) stardust.Config {
	return stardust.Config{
		NodeURL: url, BatchSize: batch, BatchAge: time.Millisecond,
		PollInterval: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, CallTimeout: 2 * time.Second,
	}
}

func TestPublisherThroughFaults(t *testing.T) {
	key := deviceKey("faults")
	st := openStore(t, t.TempDir(), key, 400)
	tn := startNode(t, node.Config{NoPoW: true, MilestoneInterval: 20 * time.Millisecond, Faults: node.Faults{
		ErrorRate: 0.25, LostResponseRate: 0.3, OrphanRate: 0.3, Latency: 2 * time.Millisecond, Seed: 7,
	}})
	p, _ := startPublisher(t, st, key, fastPublisher(tn.srv.URL, 25))
	waitAnchored(t, st, 60*time.Second)
	tn.n.SetFaults(node.Faults{}) // verifiers use a healthy node
	as := checkAnchors(t, st)
	if len(as) != 16 {
		t.Errorf("%d anchors, want 16 of 25 entries", len(as))
	}
	verifyAllProofs(t, st, tn.srv.URL)
	checkLedgerChain(t, st, tn.srv.URL, key)
	s := p.Status()
	if s.Failures == 0 {
		t.Error("no failure counted although the node failed a quarter of the calls")
	}
	if s.Promoted+s.Reattached == 0 {
		t.Errorf("status %+v: orphaned blocks should have needed a promotion or reattachment", s)
	}
	t.Logf("status: %+v", s)
}

func TestPublisherSurvivesOutageAndNewEntries(t *testing.T) {
	key := deviceKey("outage")
	st := openStore(t, t.TempDir(), key, 60)
	tn := startNode(t, node.Config{NoPoW: true, MilestoneInterval: 20 * time.Millisecond})
	tn.n.SetDown(true)
	p, _ := startPublisher(t, st, key, fastPublisher(tn.srv.URL, 20))
	deadline := time.Now().Add(10 * time.Second)
	for p.Status().LastError == "" {
		if time.Now().After(deadline) {
			t.Fatal("no error seen during the outage")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The first anchor may be cut and stored during the outage, but nothing is confirmed.
	if _, ok, _ := st.LastAnchor(context.Background()); ok {
		if last, _, _ := st.LastAnchor(context.Background()); last.State == ledger.AnchorConfirmed {
			t.Fatal("anchor confirmed during an outage")
		}
	}
	appendReadings(t, st, 30) // entries keep coming while the node is away
	tn.n.SetDown(false)
	waitAnchored(t, st, 30*time.Second)
	checkAnchors(t, st)
	verifyProofs(t, st, tn.srv.URL, 1, 60, 61, 90)
}

// restartableNode serves a node on a fixed loopback address across restarts of the node.
type restartableNode struct {
	t    *testing.T
	dir  string
	addr string
	cfg  node.Config
	n    *node.Node
	srv  *http.Server
	stop context.CancelFunc
	done chan struct{}
}

func (r *restartableNode) start() {
	r.t.Helper()
	cfg := r.cfg
	cfg.Dir = r.dir
	cfg.Logger = testLogger(r.t)
	n, err := node.New(cfg)
	if err != nil {
		r.t.Fatalf("node: %v", err)
	}
	addr := r.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the port is released asynchronously
	}
	if err != nil {
		r.t.Fatalf("listen %s: %v", addr, err)
	}
	r.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	r.n, r.srv, r.stop, r.done = n, &http.Server{Handler: n.Handler()}, cancel, make(chan struct{})
	go r.srv.Serve(ln) //nolint:errcheck // ends with Close
	go func() { n.Run(ctx); close(r.done) }()
}

func (r *restartableNode) halt() {
	r.stop()
	<-r.done
	r.srv.Close()
	r.n.Close()
}

func TestPublisherAcrossNodeRestarts(t *testing.T) {
	key := deviceKey("restart")
	st := openStore(t, t.TempDir(), key, 300)
	rn := &restartableNode{t: t, dir: t.TempDir(), cfg: node.Config{NoPoW: true, MilestoneInterval: 20 * time.Millisecond}}
	rn.start()
	defer func() { rn.halt() }()
	_, _ = startPublisher(t, st, key, fastPublisher("http://"+rn.addr, 10))
	for i := 0; i < 3; i++ {
		// Restart once some progress is made, mid-batch.
		deadline := time.Now().Add(20 * time.Second)
		for {
			last, ok, _ := st.LastAnchor(context.Background())
			if ok && last.Last >= uint64(60*(i+1)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no progress before restart %d", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		rn.halt()
		rn.start()
	}
	waitAnchored(t, st, 30*time.Second)
	checkAnchors(t, st)
	verifyProofs(t, st, "http://"+rn.addr, 1, 59, 60, 61, 150, 300)
	checkLedgerChain(t, st, "http://"+rn.addr, key)
}

// flakyStore is the real store with failures injected into the calls the publisher makes, as a
// busy or briefly unwritable disk would cause.
type flakyStore struct {
	*sqlite.Store
	mu    sync.Mutex
	rng   *rand.Rand
	rate  float64
	fails int
}

func (f *flakyStore) fail(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng.Float64() < f.rate {
		f.fails++
		return fmt.Errorf("%s: injected: %w", op, sqlite3.ErrBusy)
	}
	return nil
}

func (f *flakyStore) PutAnchor(ctx context.Context, a ledger.AnchorRecord) error {
	if err := f.fail("put anchor"); err != nil {
		return err
	}
	return f.Store.PutAnchor(ctx, a)
}

func (f *flakyStore) Entries(ctx context.Context, from uint64, max int) ([]ledger.Entry, error) {
	if err := f.fail("entries"); err != nil {
		return nil, err
	}
	return f.Store.Entries(ctx, from, max)
}

func (f *flakyStore) Anchors(ctx context.Context, s ledger.AnchorState) ([]ledger.AnchorRecord, error) {
	if err := f.fail("anchors"); err != nil {
		return nil, err
	}
	return f.Store.Anchors(ctx, s)
}

func TestPublisherThroughStoreErrors(t *testing.T) {
	key := deviceKey("flaky")
	st := openStore(t, t.TempDir(), key, 200)
	tn := startNode(t, node.Config{NoPoW: true, MilestoneInterval: 20 * time.Millisecond})
	fs := &flakyStore{Store: st, rng: rand.New(rand.NewPCG(5, 6)), rate: 0.3}
	p, _ := startPublisher(t, fs, key, fastPublisher(tn.srv.URL, 20))
	waitAnchored(t, st, 30*time.Second)
	checkAnchors(t, st)
	verifyProofs(t, st, tn.srv.URL, 1, 20, 21, 100, 200)
	fs.mu.Lock()
	fails := fs.fails
	fs.mu.Unlock()
	if fails == 0 || p.Status().Failures == 0 {
		t.Errorf("%d injected store failures, %d failed steps: the test exercised nothing", fails, p.Status().Failures)
	}
}
