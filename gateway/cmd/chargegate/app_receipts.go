package main

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/ledger/receipt"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// receiptStateKey is where a session's signed receipt (W3C VC rendering) is kept in the store.
func receiptStateKey(sessionID string) string { return "receipt/" + sessionID }

// receipts builds each finished session's signed receipt (package ledger/receipt), keeps it in
// the store and publishes it on the receipts topic. It is a Notifier: Session only queues, the
// work is done by run, so the control loop never waits for it.
type receipts struct {
	a       *App
	queue   chan gateway.SessionRecord
	pending *pendingReceipts
}

func newReceipts(a *App) *receipts {
	return &receipts{a: a, queue: make(chan gateway.SessionRecord, 64),
		pending: &pendingReceipts{store: a.store, max: maxPendingReceipts, log: a.log}}
}

// Telemetry implements gateway.Notifier; receipts have nothing to do with telemetry.
func (r *receipts) Telemetry(gateway.Telemetry) {}

// Session implements gateway.Notifier.
func (r *receipts) Session(s gateway.SessionRecord) {
	select {
	case r.queue <- s:
	default:
		r.a.log.Error("receipt queue full; the receipt can be built later with chargegate receipt build", "session", s.ID)
	}
}

// Retrying the receipts that await their anchor: every 2 s at first, backing off to once every
// 5 min while nothing gets anchored (a ledger down for weeks costs a pass every 5 min, not every
// 2 s); back to 2 s as soon as a receipt is anchored or a new one waits.
const (
	anchorRetryMin = 2 * time.Second
	anchorRetryMax = 5 * time.Minute
)

func newAnchorRetry() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = anchorRetryMin, anchorRetryMax
	return b
}

func (r *receipts) run(ctx context.Context) error {
	retry := newAnchorRetry()
	timer := time.NewTimer(retry.NextBackOff())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-r.queue:
			waits, err := r.build(ctx, s)
			if err != nil {
				r.a.log.Error("build the session receipt", "session", s.ID, "err", err)
			}
			if waits {
				retry.Reset()
				timer.Reset(retry.NextBackOff())
			}
		case <-timer.C:
			if r.a.publisher != nil && r.anchorPending(ctx) {
				retry.Reset()
			}
			timer.Reset(retry.NextBackOff())
		}
	}
}

// receipt returns the kept receipt of a session, nil when there is none.
func (a *App) receipt(ctx context.Context, sessionID string) ([]byte, error) {
	doc, err := a.store.GetState(ctx, receiptStateKey(sessionID))
	if errors.Is(err, sqlite.ErrNotFound) {
		return nil, nil
	}
	return doc, err
}

// build signs the receipt of s from its begin and end entries and its OCMF record. It reports
// whether the receipt now awaits its anchor.
func (r *receipts) build(ctx context.Context, s gateway.SessionRecord) (waits bool, err error) {
	if s.BeginSeq == 0 || s.EndSeq == 0 {
		return false, nil // never charged, or its end is not recorded yet: nothing to settle
	}
	a := r.a
	begin, err := a.store.Entry(ctx, s.BeginSeq)
	if err != nil {
		return false, fmt.Errorf("read begin entry %d: %w", s.BeginSeq, err)
	}
	end, err := a.store.Entry(ctx, s.EndSeq)
	if err != nil {
		return false, fmt.Errorf("read end entry %d: %w", s.EndSeq, err)
	}
	rs := receipt.Session{EVSEID: a.cfg.Device.EVSEID, Begin: begin, End: end, IDToken: s.IDToken}
	if s.OCMF != "" {
		var key []byte
		switch s.OCMFSigner {
		case "meter":
			key, err = a.meter.PublicKey(ctx)
		default:
			key, err = x509.MarshalPKIXPublicKey(&a.keys.OCMF.PublicKey)
		}
		if err == nil {
			rs.OCMF, rs.OCMFKey = s.OCMF, key
		} else {
			a.log.Warn("the receipt goes without the OCMF record: its key is unknown", "session", s.ID, "err", err)
		}
	}
	doc, err := receipt.Build(rs, receipt.RenderVC, a.keys.Entry, receipt.CPO{}, time.Now())
	if err != nil {
		return false, err
	}
	if err := a.store.PutState(ctx, receiptStateKey(s.ID), doc); err != nil {
		return false, fmt.Errorf("keep the receipt: %w", err)
	}
	if a.link != nil {
		a.link.Publish("receipts", json.RawMessage(doc), 1, false)
	}
	a.sendReceiptOCPP(ctx, s.ID, doc)
	a.log.Info("session receipt signed", "session", s.ID, "bytes", len(doc))
	if a.publisher != nil {
		// Signed again with both proofs once the anchor covering the end confirms.
		if err := r.pending.add(ctx, s.ID); err != nil {
			return false, fmt.Errorf("remember the receipt to anchor: %w", err)
		}
		return true, nil
	}
	return false, nil
}

// receiptsPendingKey is where the IDs of the sessions whose receipt awaits its anchor are kept
// (a JSON array, oldest first), so a restart does not forget them.
const receiptsPendingKey = "receipts/unanchored"

// maxPendingReceipts bounds the receipts awaiting their anchor. Beyond it the oldest is
// dropped from the list: its receipt stays kept and served as first signed, only it is not
// signed again with the anchor's proofs (chargegate receipt build --proofs can still do it by
// hand). 1000 sessions is weeks of a busy public charger without a ledger, and keeps the list,
// rewritten as a whole, around 40 KB.
const maxPendingReceipts = 1000

// unanchoredKey keeps a session's first receipt, signed before its anchor, once the anchored
// one replaces it at receiptStateKey: both were published, both stay explainable.
func unanchoredKey(sessionID string) string { return receiptStateKey(sessionID) + "/unanchored" }

// stateStore is the part of the store the pending list uses (ledger/sqlite.Store).
type stateStore interface {
	GetState(ctx context.Context, key string) ([]byte, error)
	PutState(ctx context.Context, key string, value []byte) error
}

// pendingReceipts is the bounded list of the sessions whose receipt awaits its anchor, kept
// in the store under receiptsPendingKey. Only the receipts goroutine changes it.
type pendingReceipts struct {
	store   stateStore
	max     int
	log     *slog.Logger
	waiting atomic.Int64  // the list's length, for the status
	dropped atomic.Uint64 // dropped for the bound since start, for the metrics
}

// list returns the waiting session IDs, oldest first.
func (p *pendingReceipts) list(ctx context.Context) []string {
	b, err := p.store.GetState(ctx, receiptsPendingKey)
	if err != nil {
		return nil
	}
	var ids []string
	if err := json.Unmarshal(b, &ids); err != nil {
		p.log.Error("decode the receipts awaiting their anchor", "err", err)
	}
	p.waiting.Store(int64(len(ids)))
	return ids
}

// add appends id (once), dropping the oldest beyond the bound.
func (p *pendingReceipts) add(ctx context.Context, id string) error {
	ids := slices.DeleteFunc(p.list(ctx), func(x string) bool { return x == id })
	ids = append(ids, id)
	if n := len(ids) - p.max; n > 0 {
		p.log.Warn("too many receipts await their anchor: the oldest stay signed without it",
			"dropped", ids[:n], "bound", p.max)
		p.dropped.Add(uint64(n))
		ids = ids[n:]
	}
	return p.put(ctx, ids)
}

// remove takes the done IDs off the list in one write; nothing done, nothing written.
func (p *pendingReceipts) remove(ctx context.Context, done []string) error {
	if len(done) == 0 {
		return nil
	}
	ids := slices.DeleteFunc(p.list(ctx), func(x string) bool { return slices.Contains(done, x) })
	return p.put(ctx, ids)
}

func (p *pendingReceipts) put(ctx context.Context, ids []string) error {
	b, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	if err := p.store.PutState(ctx, receiptsPendingKey, b); err != nil {
		return err
	}
	p.waiting.Store(int64(len(ids)))
	return nil
}

// anchorPending re-signs each receipt awaiting its anchor whose entries' anchors confirmed,
// and reports whether any was.
func (r *receipts) anchorPending(ctx context.Context) (progress bool) {
	var done []string
	for _, id := range r.pending.list(ctx) {
		ok, err := r.anchor(ctx, id)
		if err != nil {
			r.a.log.Error("sign the anchored receipt", "session", id, "err", err)
		}
		if ok {
			done = append(done, id)
		}
	}
	if err := r.pending.remove(ctx, done); err != nil {
		r.a.log.Error("forget the anchored receipts", "sessions", done, "err", err)
	}
	return len(done) > 0
}

// anchor rebuilds the receipt of session id with the anchor block ID and the Merkle proofs of
// its begin and end entries, keeps it in place of the unanchored one (which is kept beside it)
// and publishes it. It reports done when nothing is left to do for the session; false with no
// error while the anchor is not confirmed yet.
func (r *receipts) anchor(ctx context.Context, id string) (done bool, err error) {
	a := r.a
	doc, err := a.receipt(ctx, id)
	if err != nil || doc == nil {
		return doc == nil && err == nil, err
	}
	_, ev, err := receipt.Parse(doc)
	if err != nil {
		return true, fmt.Errorf("the kept receipt: %w", err)
	}
	if ev.Anchor != nil {
		return true, nil
	}
	proofDir, node := filepath.Join(a.cfg.Device.DataDir, "proofs"), a.cfg.Ledger.NodeURL
	bp, berr := entryProof(ctx, a.store, ev.Start.Seq, proofDir, node, 10*time.Second)
	ep, eerr := entryProof(ctx, a.store, ev.End.Seq, proofDir, node, 10*time.Second)
	if err := errors.Join(berr, eerr); err != nil {
		a.log.Debug("receipt not anchored yet", "session", id, "err", err)
		return false, nil
	}
	begin, err := a.store.Entry(ctx, ev.Start.Seq)
	if err != nil {
		return false, fmt.Errorf("read begin entry %d: %w", ev.Start.Seq, err)
	}
	end, err := a.store.Entry(ctx, ev.End.Seq)
	if err != nil {
		return false, fmt.Errorf("read end entry %d: %w", ev.End.Seq, err)
	}
	rs := receipt.Session{EVSEID: ev.EVSEID, Begin: begin, End: end, OCMF: ev.OCMF, BeginProof: bp, EndProof: ep}
	if ev.OCMFPublicKey != "" {
		if rs.OCMFKey, err = hex.DecodeString(strings.TrimPrefix(ev.OCMFPublicKey, "0x")); err != nil {
			return true, fmt.Errorf("the kept receipt's OCMF key: %w", err)
		}
	}
	signed, err := receipt.Build(rs, receipt.RenderVC, a.keys.Entry, receipt.CPO{}, time.Now())
	if err != nil {
		return true, err
	}
	if err := a.store.PutState(ctx, unanchoredKey(id), doc); err != nil {
		return false, fmt.Errorf("keep the unanchored receipt: %w", err)
	}
	if err := a.store.PutState(ctx, receiptStateKey(id), signed); err != nil {
		return false, fmt.Errorf("keep the anchored receipt: %w", err)
	}
	if a.link != nil {
		a.link.Publish("receipts", json.RawMessage(signed), 1, false)
	}
	a.log.Info("session receipt signed with its anchor", "session", id, "block", ep.BlockID, "bytes", len(signed))
	return true, nil
}
