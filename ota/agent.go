package ota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
)

// Agent runs the update state machine. Create it with New and run it with Run.
type Agent struct {
	cfg     Config
	inhibit Inhibitor
	fs      durable.FS
	log     *slog.Logger
	wake    chan struct{}
	http    *http.Client

	updateMu sync.Mutex    // one Update, Repair or Cancel decision at a time
	stepSem  chan struct{} // held by whoever advances the state: a step of Run, or Cancel

	mu         sync.Mutex
	rec        record
	floor      uint64 // floor from outside state.json: the floor file and Config.SecurityFloor
	broken     error  // non-nil: state unusable until Repair
	resumed    bool   // resume ran for this process
	slot       string // booted slot, once known
	activating bool   // holding the inhibitor: sessions are refused
	waitingFor string
	lastErr    string
	attempts   int
	cancelReq  bool               // Cancel asked; served under stepSem
	stepCancel context.CancelFunc // ends the running step early (downloads, waits)
}

// New checks cfg, fills in defaults and reads the persisted state. A state file that cannot
// be read or parsed does not fail New: the agent starts broken (Status().State is
// "broken", Update answers ErrBroken) until Repair, so that the charger keeps charging.
// New fails only for a bad configuration. It does no I/O besides reading its files.
func New(cfg Config, inh Inhibitor) (*Agent, error) {
	if inh == nil {
		return nil, errors.New("ota: inhibitor is nil")
	}
	a, err := newAgent(cfg)
	if err != nil {
		return nil, err
	}
	a.inhibit = inh
	return a, nil
}

func newAgent(cfg Config) (*Agent, error) {
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
	if cfg.HealthCheck == nil {
		return nil, errors.New("ota: config: HealthCheck is nil")
	}
	if cfg.BandwidthLimit < 0 || cfg.MinRate < 0 || cfg.MaxAttempts < 0 {
		return nil, errors.New("ota: config: BandwidthLimit, MinRate and MaxAttempts must not be negative")
	}
	if cfg.BandwidthLimit > 0 && cfg.MinRate > cfg.BandwidthLimit {
		return nil, fmt.Errorf("ota: config: MinRate %d B/s is above BandwidthLimit %d B/s", cfg.MinRate, cfg.BandwidthLimit)
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
	if cfg.HealthDeadline <= 0 {
		cfg.HealthDeadline = 5 * time.Minute
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = time.Minute
	}
	if cfg.MinRate == 0 {
		cfg.MinRate = 1024
		if cfg.BandwidthLimit > 0 {
			cfg.MinRate = min(cfg.MinRate, max(cfg.BandwidthLimit/2, 1))
		}
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 2 * time.Second
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 10 * time.Second
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = time.Hour
	}
	if cfg.FloorPath == "" {
		cfg.FloorPath = filepath.Join(cfg.StateDir, floorFile)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			TLSHandshakeTimeout:   30 * time.Second,
			ResponseHeaderTimeout: time.Minute,
			IdleConnTimeout:       90 * time.Second,
		}}
	}
	a := &Agent{
		cfg: cfg, fs: cfg.FS, log: cfg.Logger.With("part", "ota"),
		wake: make(chan struct{}, 1), stepSem: make(chan struct{}, 1), http: safeClient(cfg.HTTPClient),
	}
	a.floor = max(cfg.SecurityFloor, a.readFloor())
	if err := a.fs.MkdirAll(cfg.StateDir, 0o700); err != nil {
		a.markBroken(fmt.Errorf("create state dir: %w", err))
		return a, nil
	}
	r, err := a.load()
	if err != nil {
		a.markBroken(err)
		return a, nil
	}
	a.rec = r
	return a, nil
}

// markBroken stops the agent from acting on its state until Repair.
func (a *Agent) markBroken(err error) {
	a.log.Error("updater broken; charging continues, updates are refused until repaired", "err", err)
	a.mu.Lock()
	a.broken = fmt.Errorf("%w: %w", ErrBroken, err)
	a.lastErr = err.Error()
	a.mu.Unlock()
}

// Status returns the current progress.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.rec
	s := Status{
		State: r.State, Version: a.cfg.Version, SecurityFloor: max(r.Floor, a.floor), Slot: a.slot,
		Activating: a.activatingLocked(), WaitingFor: a.waitingFor, Error: r.Error, UpdatedAt: r.Updated,
		LastError: a.lastErr, Attempts: a.attempts,
	}
	if a.broken != nil {
		s.State = StateBroken
		return s
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

// Activating reports whether an update is being activated (the inhibitor is held, or the
// state is installing, installed or trial).
func (a *Agent) Activating() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.activatingLocked()
}

func (a *Agent) activatingLocked() bool {
	return a.rec.State.activation() || a.activating
}

// Update starts an update from a bundle URL (http or https). It returns once the request
// is persisted; Run does the work. It fails with ErrBusy while another update runs (also
// wrapping ErrActivating once that update is being activated) and with ErrBroken while
// the agent is broken.
func (a *Agent) Update(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("ota: update: bad bundle URL %q", redactURL(rawURL))
	}
	a.updateMu.Lock()
	defer a.updateMu.Unlock()
	a.mu.Lock()
	old, broken := a.rec, a.broken
	a.mu.Unlock()
	if broken != nil {
		return fmt.Errorf("ota: update: %w", broken)
	}
	if old.State.activation() {
		return fmt.Errorf("ota: update: %w: %w (%s)", ErrBusy, ErrActivating, old.State)
	}
	if old.State.busy() {
		return fmt.Errorf("ota: update: %w (%s)", ErrBusy, old.State)
	}
	// Wait for Run's resume, if it is under way, so that only one of them writes the state.
	select {
	case a.stepSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("ota: update: %w", ctx.Err())
	}
	defer func() { <-a.stepSem }()
	a.mu.Lock()
	old, broken = a.rec, a.broken
	a.mu.Unlock()
	if broken != nil {
		return fmt.Errorf("ota: update: %w", broken)
	}
	if old.State.busy() {
		return fmt.Errorf("ota: update: %w (%s)", ErrBusy, old.State)
	}
	cur, other, trial, err := a.cfg.Slots.Booted(ctx)
	if err != nil {
		return fmt.Errorf("ota: update: %w", err)
	}
	// A trial start that committed is the default now, whatever the boot flag still says.
	if trial && !(old.State == StateCommitted && old.To == cur) {
		return fmt.Errorf("ota: update: %w: %w: running an uncommitted trial boot", ErrBusy, ErrActivating)
	}
	r := record{State: StateDownloading, Floor: max(old.Floor, a.floorMin()), URL: rawURL, From: cur, To: other}
	if err := a.save(r); err != nil {
		return fmt.Errorf("ota: update: %w", err)
	}
	a.setLastError(nil, 0)
	a.log.Info("update requested", "from", cur, "to", other)
	a.poke()
	return nil
}

// Cancel ends an update that is downloading or waiting to activate; it ends failed with
// ErrCancelled and the booted slot stays the default. It returns once the download has
// stopped, with ErrActivating if the update is already being activated, ErrBroken if the
// agent is broken, ctx's error if ctx ends first, and nil if no update runs.
func (a *Agent) Cancel(ctx context.Context) error {
	a.updateMu.Lock()
	defer a.updateMu.Unlock()
	a.mu.Lock()
	switch st := a.rec.State; {
	case a.broken != nil:
		err := a.broken
		a.mu.Unlock()
		return fmt.Errorf("ota: cancel: %w", err)
	case st.activation():
		a.mu.Unlock()
		return fmt.Errorf("ota: cancel: %w (%s)", ErrActivating, st)
	case !st.busy():
		a.mu.Unlock()
		return nil
	}
	a.cancelReq = true
	if a.stepCancel != nil {
		a.stepCancel()
	}
	a.mu.Unlock()
	select {
	case a.stepSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("ota: cancel: %w", ctx.Err())
	}
	defer func() { <-a.stepSem }()
	if err := a.serveCancel(); err != nil {
		return fmt.Errorf("ota: cancel: %w", err)
	}
	if st := a.current().State; st.activation() {
		return fmt.Errorf("ota: cancel: %w (%s)", ErrActivating, st)
	}
	return nil
}

// serveCancel ends the update if Cancel asked for it. The caller holds stepSem.
func (a *Agent) serveCancel() error {
	a.mu.Lock()
	req := a.cancelReq
	a.cancelReq = false
	r := a.rec
	a.mu.Unlock()
	if !req || !r.State.busy() || r.State.activation() {
		return nil
	}
	a.log.Info("update cancelled", "state", r.State)
	r.State, r.Error = StateFailed, ErrCancelled.Error()
	return a.save(r)
}

// Repair makes a broken agent usable again: the unreadable state file is kept beside as
// state.json.broken and replaced by an idle state whose floor is the highest known (floor
// file, Config.SecurityFloor). An update that was under way is forgotten; an uncommitted
// trial still falls back at the next restart. Repair of an agent that is not broken does
// nothing.
func (a *Agent) Repair(ctx context.Context) error {
	a.updateMu.Lock()
	defer a.updateMu.Unlock()
	a.mu.Lock()
	broken := a.broken
	a.mu.Unlock()
	if broken == nil {
		return nil
	}
	select {
	case a.stepSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("ota: repair: %w", ctx.Err())
	}
	defer func() { <-a.stepSem }()
	if err := a.fs.MkdirAll(a.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("ota: repair: create state dir: %w", err)
	}
	if _, err := a.load(); err != nil {
		if err := a.fs.Rename(a.statePath(), a.statePath()+".broken"); err != nil {
			a.log.Warn("keep the broken state file", "err", err)
		}
		a.mu.Lock()
		a.floor = max(a.floor, a.readFloor())
		a.mu.Unlock()
		r := record{State: StateIdle, Floor: a.floorMin(), Error: "state repaired: " + broken.Error()}
		if err := a.save(r); err != nil {
			return fmt.Errorf("ota: repair: %w", err)
		}
	} else if err := a.reload(); err != nil {
		return fmt.Errorf("ota: repair: %w", err)
	}
	a.mu.Lock()
	a.broken, a.resumed, a.lastErr = nil, false, ""
	a.mu.Unlock()
	a.log.Info("updater repaired", "security_floor", a.Status().SecurityFloor)
	a.poke()
	return nil
}

// reload makes the state file's content current.
func (a *Agent) reload() error {
	r, err := a.load()
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.rec = r
	a.mu.Unlock()
	return nil
}

func (a *Agent) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Run resumes the persisted state, then runs updates until ctx ends, and returns ctx's
// error. Nothing else ends it: a state that cannot be resolved makes the agent broken (it
// waits for Repair), a failing step is retried.
func (a *Agent) Run(ctx context.Context) error {
	var poll <-chan time.Time
	if a.cfg.PollURL != "" {
		t := time.NewTicker(a.cfg.PollEvery)
		defer t.Stop()
		poll = t.C
	}
	retry := newBackoff(a.cfg.RetryDelay, 5*time.Minute)
	for {
		if ok, err := a.runStep(ctx); err != nil {
			return err
		} else if !ok {
			d := retry.NextBackOff()
			a.log.Warn("update step failed; retrying", "retry_in", d)
			if err := sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		retry.Reset()
		if st := a.current().State; st.busy() && !a.isBroken() {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.wake:
		case <-poll:
			if !a.isBroken() {
				a.poll(ctx)
			}
		}
	}
}

func (a *Agent) isBroken() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.broken != nil
}

// runStep resumes (once) or runs one step of a busy state, under stepSem. It returns
// ctx's error when ctx ends, and ok false when the step failed and should be retried.
func (a *Agent) runStep(ctx context.Context) (ok bool, err error) {
	select {
	case a.stepSem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-a.stepSem }()
	if err := a.serveCancel(); err != nil {
		a.log.Error("cancel update", "err", err)
		return false, nil
	}
	a.mu.Lock()
	if a.broken != nil {
		a.mu.Unlock()
		return true, nil
	}
	resumed := a.resumed
	sctx, cancel := context.WithCancel(ctx)
	a.stepCancel = cancel
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.stepCancel = nil
		a.mu.Unlock()
		cancel()
	}()
	if !resumed {
		err := a.resume(ctx)
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if err != nil {
			a.markBroken(fmt.Errorf("resume: %w", err))
			return true, nil
		}
		a.mu.Lock()
		a.resumed = true
		a.mu.Unlock()
		return true, nil
	}
	err = a.step(ctx, sctx)
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		// The state could not be saved: the filesystem fails. Retry later rather than spin.
		a.log.Error("update step", "state", a.current().State, "err", err)
		a.setLastError(err, 0)
		return false, nil
	}
	return true, nil
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

// step runs one step of a busy state. sctx is ctx or ends earlier when Cancel asks; it
// bounds only what Cancel may stop (downloading, waiting). It returns an error only when
// the state could not be saved.
func (a *Agent) step(ctx, sctx context.Context) error {
	r := a.current()
	switch r.State {
	case StateDownloading:
		return a.download(sctx)
	case StateDownloaded:
		r.State = StateWaiting
		return a.save(r)
	case StateWaiting:
		return a.waitActivate(ctx, sctx, r)
	case StateInstalling:
		// Resumed after a restart or an interrupted activation: take the hold again.
		release, err := a.hold(sctx, false)
		if err != nil {
			if errors.Is(err, ErrCharging) {
				r.State = StateWaiting
				return a.save(r)
			}
			return nil // cancelled or shutting down
		}
		return a.install(ctx, r, release)
	case StateInstalled, StateTrial:
		// Reached only if TryBoot returned without the system going down.
		<-sctx.Done()
	}
	return nil
}

func (a *Agent) setActivating(on bool) {
	a.mu.Lock()
	a.activating = on
	a.mu.Unlock()
}

func (a *Agent) setWaiting(why string) {
	a.mu.Lock()
	a.waitingFor = why
	a.mu.Unlock()
}

// setLastError records a problem the agent carries on after; attempts < 0 keeps the count.
func (a *Agent) setLastError(err error, attempts int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastErr = ""
	if err != nil {
		a.lastErr = err.Error()
	}
	if attempts >= 0 {
		a.attempts = attempts
	}
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
