package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// countingStore counts the writes to the real store beneath.
type countingStore struct {
	*sqlite.Store
	puts int
}

func (s *countingStore) PutState(ctx context.Context, key string, value []byte) error {
	s.puts++
	return s.Store.PutState(ctx, key, value)
}

// The receipts awaiting their anchor are a bounded list in the store: beyond the bound the
// oldest are dropped and counted, a session added again moves to the end instead of being
// listed twice, the list survives a reopen of the store, and a retry that anchored nothing
// does not rewrite it.
func TestPendingReceiptsAreBounded(t *testing.T) {
	ctx := context.Background()
	seed := sha256.Sum256([]byte("chargegate pending receipts test"))
	dir := t.TempDir()
	open := func() *countingStore {
		st, err := sqlite.Open(ctx, dir, sqlite.Options{Key: ed25519.NewKeyFromSeed(seed[:]), Ballast: -1})
		if err != nil {
			t.Fatal(err)
		}
		return &countingStore{Store: st}
	}
	st := open()
	p := &pendingReceipts{store: st, max: 3, log: slog.New(slog.DiscardHandler)}
	for _, id := range []string{"s1", "s2", "s3", "s2", "s4", "s5"} {
		if err := p.add(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := p.list(ctx), []string{"s2", "s4", "s5"}; !slices.Equal(got, want) {
		t.Errorf("pending %v, want %v", got, want)
	}
	if got := p.dropped.Load(); got != 2 {
		t.Errorf("dropped %d, want 2 (s1 and s3)", got)
	}
	if got := p.waiting.Load(); got != 3 {
		t.Errorf("waiting %d, want 3", got)
	}

	st.puts = 0
	if err := p.remove(ctx, nil); err != nil || st.puts != 0 {
		t.Errorf("a pass that anchored nothing: %v, %d writes, want none", err, st.puts)
	}
	if err := p.remove(ctx, []string{"s2", "s5"}); err != nil || st.puts != 1 {
		t.Errorf("a pass that anchored two: %v, %d writes, want one", err, st.puts)
	}
	st.Close()

	st = open()
	defer st.Close()
	p = &pendingReceipts{store: st, max: 3, log: slog.New(slog.DiscardHandler)}
	if got, want := p.list(ctx), []string{"s4"}; !slices.Equal(got, want) {
		t.Errorf("after reopening: pending %v, want %v", got, want)
	}
}

// The retries back off from anchorRetryMin to anchorRetryMax while nothing is anchored, never
// give up, and start again at anchorRetryMin after a reset.
func TestAnchorRetryBacksOff(t *testing.T) {
	b := newAnchorRetry()
	rf := b.RandomizationFactor
	if d := b.NextBackOff(); d > time.Duration(float64(anchorRetryMin)*(1+rf)) {
		t.Fatalf("first retry after %v, want about %v", d, anchorRetryMin)
	}
	var d time.Duration
	for range 100 { // a ledger down for a long time
		d = b.NextBackOff()
	}
	if lo, hi := time.Duration(float64(anchorRetryMax)*(1-rf)), time.Duration(float64(anchorRetryMax)*(1+rf)); d < lo || d > hi {
		t.Errorf("after 100 retries: %v, want within %v..%v", d, lo, hi)
	}
	b.Reset()
	if d := b.NextBackOff(); d > time.Duration(float64(anchorRetryMin)*(1+rf)) {
		t.Errorf("after a reset: %v, want about %v", d, anchorRetryMin)
	}
}

// keptOCMF hands reconcileOCPP a kept OCMF record only when it is the one the end entry names:
// a record kept for a signing whose end entry never committed (the session was closed again,
// with another record) is not sent as the session's SignedData.
func TestKeptOCMFMustMatchTheEndEntry(t *testing.T) {
	ctx := context.Background()
	seed := sha256.Sum256([]byte("chargegate kept ocmf test"))
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{Key: ed25519.NewKeyFromSeed(seed[:]), Ballast: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const record = "OCMF|{}|{}"
	doc, _ := json.Marshal(gateway.SessionRecord{ID: "s1", OCMF: record, OCMFSigner: "gateway"})
	if err := st.PutState(ctx, sessionRecordKey("s1"), doc); err != nil {
		t.Fatal(err)
	}
	if got, signer := keptOCMF(ctx, st, "s1", sha256.Sum256([]byte(record))); got != record || signer != "gateway" {
		t.Errorf("the named record: %q by %q, want it by gateway", got, signer)
	}
	if got, _ := keptOCMF(ctx, st, "s1", sha256.Sum256([]byte("OCMF|other|{}"))); got != "" {
		t.Errorf("another digest: %q, want none", got)
	}
	if got, _ := keptOCMF(ctx, st, "s2", sha256.Sum256([]byte(record))); got != "" {
		t.Errorf("another session: %q, want none", got)
	}
}
