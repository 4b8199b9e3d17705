package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
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
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-r.queue:
			if err := r.build(ctx, s); err != nil {
				r.a.log.Error("build the session receipt", "session", s.ID, "err", err)
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
	rs := receipt.Session{EVSEID: a.cfg.Device.EVSEID, Begin: begin, End: end}
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
	return nil
}
