package main

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

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
	a     *App
	queue chan gateway.SessionRecord
}

func newReceipts(a *App) *receipts {
	return &receipts{a: a, queue: make(chan gateway.SessionRecord, 64)}
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

func (r *receipts) run(ctx context.Context) error {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-r.queue:
			if err := r.build(ctx, s); err != nil {
				r.a.log.Error("build the session receipt", "session", s.ID, "err", err)
			}
		case <-tick.C:
			if r.a.publisher != nil {
				r.anchorPending(ctx)
			}
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

// build signs the receipt of s from its begin and end entries and its OCMF record.
func (r *receipts) build(ctx context.Context, s gateway.SessionRecord) error {
	if s.BeginSeq == 0 || s.EndSeq == 0 {
		return nil // never charged, or its end is not recorded yet: nothing to settle
	}
	a := r.a
	begin, err := a.store.Entry(ctx, s.BeginSeq)
	if err != nil {
		return fmt.Errorf("read begin entry %d: %w", s.BeginSeq, err)
	}
	end, err := a.store.Entry(ctx, s.EndSeq)
	if err != nil {
		return fmt.Errorf("read end entry %d: %w", s.EndSeq, err)
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
		return err
	}
	if err := a.store.PutState(ctx, receiptStateKey(s.ID), doc); err != nil {
		return fmt.Errorf("keep the receipt: %w", err)
	}
	if a.link != nil {
		a.link.Publish("receipts", json.RawMessage(doc), 1, false)
	}
	a.sendReceiptOCPP(ctx, s.ID, doc)
	a.log.Info("session receipt signed", "session", s.ID, "bytes", len(doc))
	if a.publisher != nil {
		// Signed again with both proofs once the anchor covering the end confirms.
		if err := r.setPending(ctx, s.ID, true); err != nil {
			return fmt.Errorf("remember the receipt to anchor: %w", err)
		}
	}
	return nil
}

// receiptsPendingKey is where the IDs of the sessions whose receipt awaits its anchor are kept
// (a JSON array), so a restart does not forget them.
const receiptsPendingKey = "receipts/unanchored"

// unanchoredKey keeps a session's first receipt, signed before its anchor, once the anchored
// one replaces it at receiptStateKey: both were published, both stay explainable.
func unanchoredKey(sessionID string) string { return receiptStateKey(sessionID) + "/unanchored" }

func (r *receipts) pending(ctx context.Context) []string {
	b, err := r.a.store.GetState(ctx, receiptsPendingKey)
	if err != nil {
		return nil
	}
	var ids []string
	if err := json.Unmarshal(b, &ids); err != nil {
		r.a.log.Error("decode the receipts awaiting their anchor", "err", err)
	}
	return ids
}

func (r *receipts) setPending(ctx context.Context, id string, on bool) error {
	ids := slices.DeleteFunc(r.pending(ctx), func(x string) bool { return x == id })
	if on {
		ids = append(ids, id)
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	return r.a.store.PutState(ctx, receiptsPendingKey, b)
}

// anchorPending re-signs each receipt awaiting its anchor whose entries' anchors confirmed.
func (r *receipts) anchorPending(ctx context.Context) {
	for _, id := range r.pending(ctx) {
		done, err := r.anchor(ctx, id)
		if err != nil {
			r.a.log.Error("sign the anchored receipt", "session", id, "err", err)
		}
		if done {
			if err := r.setPending(ctx, id, false); err != nil {
				r.a.log.Error("forget the anchored receipt", "session", id, "err", err)
			}
		}
	}
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
