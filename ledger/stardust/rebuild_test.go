package stardust_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/node"
	"github.com/chargegate/chargegate/ledger/stardust"
)

// stopAfterBlock is a store that calls stop once a block has been stored for an anchor, before
// the publisher sends it: a crash between building and submitting.
type stopAfterBlock struct {
	stardust.Store
	once sync.Once
	stop func()
}

func (s *stopAfterBlock) PutAnchor(ctx context.Context, a ledger.AnchorRecord) error {
	if err := s.Store.PutAnchor(ctx, a); err != nil {
		return err
	}
	if a.State == ledger.AnchorBuilt && len(a.Block) > 0 {
		s.once.Do(s.stop)
		return context.Canceled
	}
	return nil
}

// TestPublisherRebuildsRejectedBlockAtOnce stores a block, lets 20 milestones pass so that its
// parents fall below max depth, and restarts the publisher with a poll interval and backoff of an
// hour: the node's 400 must lead to a new block at once, not after a backoff, and the error must
// be recorded with its time and then cleared by the next success.
func TestPublisherRebuildsRejectedBlockAtOnce(t *testing.T) {
	key := deviceKey("rebuild")
	st := openStore(t, t.TempDir(), key, 10)
	tn := startNode(t, node.Config{NoPoW: true, MilestoneInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	p, err := stardust.NewPublisher(&stopAfterBlock{Store: st, stop: cancel}, key, fastPublisher(tn.srv.URL, 10))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	stale, ok, err := st.LastAnchor(context.Background())
	if err != nil || !ok || stale.State != ledger.AnchorBuilt || len(stale.Block) == 0 {
		t.Fatalf("after the crash: anchor %+v ok %v err %v, want Built with a block", stale.State, ok, err)
	}
	for range 20 {
		if _, err := tn.n.IssueMilestone(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fastPublisher(tn.srv.URL, 10)
	cfg.PollInterval, cfg.MaxBackoff = time.Hour, time.Hour
	p2, _ := startPublisher(t, st, key, cfg)
	deadline := time.Now().Add(20 * time.Second)
	for {
		a, _, err := st.LastAnchor(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if a.State == ledger.AnchorSubmitted {
			if a.BlockID == stale.BlockID {
				t.Fatal("the stale block was accepted: the test exercised nothing")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rebuilt block within 20 s (state %s, status %+v): the rejection waited for a backoff", a.State, p2.Status())
		}
		time.Sleep(10 * time.Millisecond) // polling interval of the wait loop
	}
	s := p2.Status()
	if s.Failures != 1 || s.LastError != "" || !s.LastErrorAt.IsZero() {
		t.Errorf("status %+v: want one failure (the 400), cleared by the rebuild's success", s)
	}
}

func TestAuthTokenFile(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	if err := os.WriteFile(open, []byte("tok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := stardust.ReadTokenFile(open); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Errorf("a world-readable token file: err %v, want refusal naming the mode", err)
	}
	good := filepath.Join(dir, "jwt")
	if err := os.WriteFile(good, []byte("  eyJhbGciOi.x.y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := stardust.ReadTokenFile(good)
	if err != nil || tok != "eyJhbGciOi.x.y" {
		t.Errorf("ReadTokenFile = %q, %v", tok, err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := stardust.ReadTokenFile(empty); err == nil {
		t.Error("an empty token file was accepted")
	}
}

// TestAuthTokenReachesNode puts the node behind a check of Hornet's JWT header: the publisher
// with AuthTokenFile anchors, every request carrying the token.
func TestAuthTokenReachesNode(t *testing.T) {
	key := deviceKey("jwt")
	st := openStore(t, t.TempDir(), key, 20)
	tn := startNode(t, node.Config{NoPoW: true, MilestoneInterval: 20 * time.Millisecond})
	var mu sync.Mutex
	refused := 0
	guard := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret.jwt.token" {
			mu.Lock()
			refused++
			mu.Unlock()
			http.Error(w, `{"error":{"code":"401","message":"missing or invalid jwt"}}`, http.StatusUnauthorized)
			return
		}
		tn.n.Handler().ServeHTTP(w, r)
	}))
	defer guard.Close()
	tok := filepath.Join(t.TempDir(), "jwt")
	if err := os.WriteFile(tok, []byte("secret.jwt.token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fastPublisher(guard.URL, 10)
	cfg.AuthTokenFile = tok
	startPublisher(t, st, key, cfg)
	waitAnchored(t, st, 20*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if refused != 0 {
		t.Errorf("%d requests without the token", refused)
	}
}
