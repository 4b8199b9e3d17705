package ota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
)

// Agent runs the update state machine. Create it with NewAgent and run it with Run.
type Agent struct {
	cfg     Config
	inhibit Inhibitor
	fs      durable.FS
	log     *slog.Logger
	wake    chan struct{}

	updateMu   sync.Mutex // one Update at a time
	mu         sync.Mutex
	rec        record
	slot       string // booted slot, once known
	activating bool   // between the charging check and the trial's end
	waitingFor string
}

// NewAgent checks cfg, fills in defaults and loads the persisted state. It does no other
// I/O; Run resumes what the state says.
func NewAgent(cfg Config, inhibit Inhibitor) (*Agent, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("ota: config: StateDir is empty")
	}
	if cfg.Slots == nil {
		return nil, errors.New("ota: config: Slots is nil")
	}
	if len(cfg.TrustedKeys) == 0 {
		return nil, errors.New("ota: config: no TrustedKeys")
	}
	for id, k := range cfg.TrustedKeys {
		if len(k) != 32 || bundle.KeyID(k) != id {
			return nil, fmt.Errorf("ota: config: trusted key %q: ID does not match the key", id)
		}
	}
	if cfg.Hardware == "" {
		return nil, errors.New("ota: config: Hardware is empty")
	}
	if inhibit == nil {
		return nil, errors.New("ota: inhibitor is nil")
	}
	if cfg.FS == nil {
		cfg.FS = durable.OS{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HealthCheck == nil {
		return nil, errors.New("ota: config: HealthCheck is nil")
	}
	if cfg.HealthDeadline <= 0 {
		cfg.HealthDeadline = 5 * time.Minute
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = time.Minute
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 2 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 10 * time.Second
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = time.Hour
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			TLSHandshakeTimeout:   30 * time.Second,
			ResponseHeaderTimeout: time.Minute,
			IdleConnTimeout:       90 * time.Second,
		}}
	}
	a := &Agent{cfg: cfg, inhibit: inhibit, fs: cfg.FS, log: cfg.Logger.With("part", "ota"), wake: make(chan struct{}, 1)}
	if err := a.fs.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("ota: create state dir: %w", err)
	}
	r, err := a.load()
	if err != nil {
		return nil, fmt.Errorf("ota: %w", err)
	}
	a.rec = r
	return a, nil
}

// Status returns the current progress.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.rec
	s := Status{
		State: r.State, Version: a.cfg.Version, SecurityFloor: r.Floor, Slot: a.slot,
		Activating: a.activatingLocked(), WaitingFor: a.waitingFor, Error: r.Error, UpdatedAt: r.Updated,
	}
	if m, err := bundle.ParseManifest(r.Manifest); err == nil {
		s.TargetVersion = m.Version
		var total int64
		for _, p := range m.Payloads {
			total += p.Size
		}
		if total > 0 {
			s.Percent = int(r.Written * 100 / total)
		}
	}
	switch r.State {
	case StateDownloaded, StateWaiting, StateInstalling, StateInstalled, StateTrial, StateCommitted:
		s.Percent = 100
	case StateIdle:
		s.Percent = 0
	}
	return s
}

// Activating reports whether an update is being activated (installing, rebooting, on
// trial): the gateway must not start a charging session then.
func (a *Agent) Activating() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.activatingLocked()
}

func (a *Agent) activatingLocked() bool {
	switch a.rec.State {
	case StateInstalling, StateInstalled, StateTrial:
		return true
	}
	return a.activating
}

// Update starts an update from a bundle URL (http or https). It returns once the request
// is persisted; Run does the work. It fails with ErrBusy while another update runs.
func (a *Agent) Update(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("ota: update: bad bundle URL %q", rawURL)
	}
	cur, other, trial, err := a.cfg.Slots.Booted(ctx)
	if err != nil {
		return fmt.Errorf("ota: update: %w", err)
	}
	if trial {
		return fmt.Errorf("ota: update: %w: running a trial boot", ErrBusy)
	}
	a.updateMu.Lock()
	defer a.updateMu.Unlock()
	a.mu.Lock()
	old := a.rec
	a.mu.Unlock()
	if old.State.busy() {
		return fmt.Errorf("ota: update: %w (%s)", ErrBusy, old.State)
	}
	r := record{State: StateDownloading, Floor: old.Floor, URL: rawURL, From: cur, To: other}
	if err := a.save(r); err != nil {
		return fmt.Errorf("ota: update: %w", err)
	}
	a.log.Info("update requested", "from", cur, "to", other)
	select {
	case a.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run resumes the persisted state, then runs updates until ctx ends. It returns ctx's
// error, or an error if the state cannot be resolved.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.resume(ctx); err != nil {
		return err
	}
	var poll <-chan time.Time
	if a.cfg.PollURL != "" {
		t := time.NewTicker(a.cfg.PollEvery)
		defer t.Stop()
		poll = t.C
	}
	for {
		if err := a.step(ctx); err != nil {
			return err
		}
		if a.current().State.busy() {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.wake:
		case <-poll:
			a.poll(ctx)
		}
	}
}

func (a *Agent) current() record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rec
}

// fail ends the update with err. Nothing was activated: the booted slot stays default.
func (a *Agent) fail(r record, err error) error {
	a.log.Error("update failed", "err", err)
	r.State, r.Error = StateFailed, err.Error()
	return a.save(r)
}

// step runs one step of a busy state. It returns an error only when the agent must stop.
func (a *Agent) step(ctx context.Context) error {
	r := a.current()
	var err error
	switch r.State {
	case StateDownloading:
		err = a.download(ctx)
	case StateDownloaded:
		r.State = StateWaiting
		err = a.save(r)
	case StateWaiting:
		err = a.waitActivate(ctx, r)
	case StateInstalling:
		err = a.install(ctx, r)
	case StateInstalled, StateTrial:
		// Reached only if TryBoot returned without the system going down.
		<-ctx.Done()
		return ctx.Err()
	default:
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		// The state could not be saved: the filesystem fails. Retry later rather than spin.
		a.log.Error("update step", "state", r.State, "err", err)
		return sleep(ctx, a.backoff(1))
	}
	return nil
}

// waitActivate waits until no charging session runs and the maintenance window is open,
// then moves to installing. Activating is set before the charging check so that a session
// cannot start between the check and the installation: the gateway refuses new sessions
// while Activating is true.
func (a *Agent) waitActivate(ctx context.Context, r record) error {
	for {
		why := ""
		if w := a.cfg.Window; w != nil && !w.Open(a.cfg.Now()) {
			why = "maintenance window"
		} else {
			a.setActivating(true, "")
			if a.inhibit.ChargingActive() {
				why = "charging session"
			}
		}
		if why == "" {
			r.State = StateInstalling
			err := a.save(r)
			a.setActivating(false, "")
			return err
		}
		a.setActivating(false, why)
		if err := sleep(ctx, a.cfg.PollInterval); err != nil {
			return err
		}
	}
}

func (a *Agent) setActivating(on bool, waitingFor string) {
	a.mu.Lock()
	a.activating, a.waitingFor = on, waitingFor
	a.mu.Unlock()
}

// install re-verifies the whole written slot against the manifest, then requests the
// one-shot trial boot. A slot that does not verify fails the update.
func (a *Agent) install(ctx context.Context, r record) error {
	m, err := a.manifest(r)
	if err != nil {
		return a.fail(r, err)
	}
	for _, p := range m.Payloads {
		if err := a.verifySlot(ctx, r.To, p); err != nil {
			return a.fail(r, fmt.Errorf("verify slot %s: %w", r.To, err))
		}
	}
	r.State, r.Trials = StateInstalled, r.Trials+1
	if err := a.save(r); err != nil {
		return err
	}
	a.log.Info("starting trial boot", "slot", r.To, "version", m.Version)
	if err := a.cfg.Slots.TryBoot(ctx, r.To); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return a.fail(r, fmt.Errorf("start trial boot: %w", err))
	}
	return nil
}

// verifySlot reads payload p back from slot and checks every chunk and the whole hash.
func (a *Agent) verifySlot(ctx context.Context, slot string, p bundle.Payload) error {
	f, err := a.cfg.Slots.OpenTarget(ctx, slot, p.Type)
	if err != nil {
		return err
	}
	defer f.Close()
	return bundle.CheckPayload(&sectionReader{f: f}, p)
}

type sectionReader struct {
	f   durable.File
	off int64
}

func (s *sectionReader) Read(p []byte) (int, error) {
	n, err := s.f.ReadAt(p, s.off)
	s.off += int64(n)
	if n > 0 && err != nil {
		err = nil
	}
	return n, err
}

// backoff returns the delay before attempt n (1, 2, ...): RetryDelay doubling to 5 min,
// with ±50 % jitter so that a fleet does not retry in step (the project's one policy,
// cenkalti/backoff/v5).
func (a *Agent) backoff(n int) time.Duration {
	b := &backoff.ExponentialBackOff{
		InitialInterval: a.cfg.RetryDelay, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: 5 * time.Minute,
	}
	b.Reset()
	d := b.NextBackOff()
	for i := 1; i < n; i++ {
		d = b.NextBackOff()
	}
	return d
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
