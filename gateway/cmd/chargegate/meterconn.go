package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chargegate/chargegate/meter"
)

// ReconnectingMeter opens the meter lazily and opens it again after a transport failure, so a
// meter that is unreachable at boot or drops its TCP connection only produces gap entries, never
// a dead gateway. Modbus exceptions, implausible values and replacements keep the connection.
type ReconnectingMeter struct {
	cfg  meter.Config
	mu   sync.Mutex
	m    *meter.Meter
	next time.Time // no reopen attempt before this
	wait time.Duration
	log  *slog.Logger
}

// NewReconnectingMeter returns a meter that connects on its first Read.
func NewReconnectingMeter(cfg meter.Config, logger *slog.Logger) *ReconnectingMeter {
	return &ReconnectingMeter{cfg: cfg, log: logger, wait: time.Second}
}

// Read polls the meter, (re)connecting first when needed.
func (r *ReconnectingMeter) Read(ctx context.Context) (meter.Reading, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		if time.Now().Before(r.next) {
			return meter.Reading{Time: time.Now(), Status: meter.StatusTimeout}, fmt.Errorf("meter not connected: %w", meter.ErrTimeout)
		}
		m, err := meter.Open(ctx, r.cfg)
		if err != nil {
			r.next = time.Now().Add(r.wait)
			r.wait = min(r.wait*2, 30*time.Second)
			return meter.Reading{Time: time.Now(), Status: meter.StatusTimeout}, fmt.Errorf("connect meter: %w", err)
		}
		r.log.Info("meter connected", "model", m.Model(), "url", r.cfg.URL)
		r.m, r.wait = m, time.Second
		r.cfg.Model = m.Model() // detect once
	}
	rd, err := r.m.Read(ctx)
	if err != nil && transportFailure(err) {
		r.m.Close()
		r.m = nil
	}
	return rd, err
}

// Meter returns the open meter, or nil; for optional capabilities such as meter-side signing.
func (r *ReconnectingMeter) Meter() *meter.Meter {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m
}

// Close closes the connection.
func (r *ReconnectingMeter) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		return nil
	}
	err := r.m.Close()
	r.m = nil
	return err
}

func transportFailure(err error) bool {
	var exc *meter.ExceptionError
	var repl *meter.ReplacementError
	return !errors.As(err, &exc) && !errors.As(err, &repl) && !errors.Is(err, meter.ErrImplausible)
}

// Signs reports whether the connected meter signs its own session records.
func (r *ReconnectingMeter) Signs() bool {
	m := r.Meter()
	return m != nil && m.Signs()
}

// BeginTransaction starts a meter-signed transaction.
func (r *ReconnectingMeter) BeginTransaction(ctx context.Context, id string) error {
	m := r.Meter()
	if m == nil {
		return fmt.Errorf("begin meter transaction: %w", meter.ErrTimeout)
	}
	return m.BeginTransaction(ctx, id)
}

// EndTransaction ends the meter-signed transaction and returns the meter's OCMF record.
func (r *ReconnectingMeter) EndTransaction(ctx context.Context) ([]byte, error) {
	m := r.Meter()
	if m == nil {
		return nil, fmt.Errorf("end meter transaction: %w", meter.ErrTimeout)
	}
	return m.EndTransaction(ctx)
}

// PublicKey returns the meter's signing key as DER SubjectPublicKeyInfo.
func (r *ReconnectingMeter) PublicKey(ctx context.Context) ([]byte, error) {
	m := r.Meter()
	if m == nil {
		return nil, fmt.Errorf("read meter key: %w", meter.ErrTimeout)
	}
	return m.PublicKey(ctx)
}
