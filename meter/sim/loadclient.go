package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// LoadClient connects the meter simulator's load while the simulated contactor is closed, so
// energy flows only then. The connection is a lease that metersim drops unless renewed: like a
// real coil that falls off when its driver dies, a SIGKILLed gateway stops the energy flow.
type LoadClient struct {
	url    string
	unit   uint8
	lease  time.Duration
	client *http.Client
	log    *slog.Logger
	want   chan bool
}

// NewLoadClient returns a controller for the metersim control endpoint at baseURL.
func NewLoadClient(baseURL string, unit uint8, lease time.Duration, logger *slog.Logger) *LoadClient {
	if lease <= 0 {
		lease = 3 * time.Second
	}
	return &LoadClient{
		url: baseURL + "/v1/load", unit: unit, lease: lease, log: logger,
		client: &http.Client{Timeout: lease / 3},
		want:   make(chan bool, 1),
	}
}

// Setpoint tells metersim the current the EVSE now allows (the simulated pilot's offer or
// EVSE controller's limit), so the load's power follows it; a negative value removes the
// setpoint. It posts at once, bounded by a third of the lease, and logs a failure.
func (l *LoadClient) Setpoint(ctx context.Context, amps float64) {
	var a *float64
	if amps >= 0 {
		a = &amps
	}
	body, _ := json.Marshal(SetpointRequest{Unit: l.unit, Amps: a})
	l.send(ctx, strings.TrimSuffix(l.url, "/load")+"/setpoint", body)
}

// Contacts is the simulated board's hook: it records the new contact state without blocking.
func (l *LoadClient) Contacts(closed bool) {
	select {
	case <-l.want:
	default:
	}
	l.want <- closed
}

// Run tells metersim the contact state at once on every change and renews the lease while closed.
func (l *LoadClient) Run(ctx context.Context) error {
	closed := false
	renew := time.NewTicker(l.lease / 3)
	defer renew.Stop()
	for {
		select {
		case <-ctx.Done():
			l.post(context.Background(), false)
			return nil
		case closed = <-l.want:
			l.post(ctx, closed)
		case <-renew.C:
			if closed {
				l.post(ctx, true)
			}
		}
	}
}

func (l *LoadClient) post(ctx context.Context, connected bool) {
	body, _ := json.Marshal(map[string]any{"unit": l.unit, "connected": connected, "lease_ms": l.lease.Milliseconds()})
	l.send(ctx, l.url, body)
}

// send posts body to url, logging a failure.
func (l *LoadClient) send(ctx context.Context, url string, body []byte) {
	ctx, cancel := context.WithTimeout(ctx, l.lease/3)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		l.log.Error("load control request", "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			err = fmt.Errorf("status %s", resp.Status)
		}
	}
	if err != nil {
		l.log.Warn("control simulated load", "url", url, "body", string(body), "err", err)
	}
}
