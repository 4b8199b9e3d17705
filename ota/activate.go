package ota

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
)

// holdOnce asks the inhibitor once. On success sessions are refused (Activating is true)
// until release.
func (a *Agent) holdOnce(ctx context.Context) (release func(), err error) {
	rel, err := a.inhibit.Hold(ctx)
	if err != nil {
		return nil, err
	}
	a.setActivating(true)
	var once sync.Once
	return func() {
		once.Do(func() {
			rel()
			a.setActivating(false)
		})
	}, nil
}

// hold takes the inhibitor. With wait it retries every PollInterval while a session runs
// (or the control loop does not answer) until ctx ends; without, it fails at once.
func (a *Agent) hold(ctx context.Context, wait bool) (release func(), err error) {
	for {
		release, err := a.holdOnce(ctx)
		if err == nil {
			a.setWaiting("")
			return release, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !wait {
			return nil, err
		}
		a.noteHoldErr(err, "inhibitor")
		if err := sleep(ctx, a.cfg.PollInterval); err != nil {
			return nil, err
		}
	}
}

// noteHoldErr shows why the hold was refused.
func (a *Agent) noteHoldErr(err error, why string) {
	if errors.Is(err, ErrCharging) {
		a.setWaiting("charging session")
		return
	}
	a.setWaiting(why)
	a.setLastError(fmt.Errorf("hold charging sessions: %w", err), -1)
}

// waitActivate waits until the maintenance window is open and the inhibitor can be held
// (no charging session runs; none can start from then on), then activates.
func (a *Agent) waitActivate(ctx, sctx context.Context, r record) error {
	for {
		if w := a.cfg.Window; w != nil && !w.Open(a.cfg.Now()) {
			a.setWaiting("maintenance window")
		} else {
			release, err := a.holdOnce(sctx)
			if err == nil {
				a.setWaiting("")
				r.State = StateInstalling
				if err := a.save(r); err != nil {
					release()
					return err
				}
				return a.install(ctx, r, release)
			}
			if sctx.Err() != nil {
				return nil
			}
			a.noteHoldErr(err, "inhibitor")
		}
		if sleep(sctx, a.cfg.PollInterval) != nil {
			return nil
		}
	}
}

// install runs while the inhibitor is held: it re-verifies the whole written slot against
// the manifest, then requests the one-shot trial boot. A slot that does not verify fails
// the update. The hold is released unless the switch succeeded.
func (a *Agent) install(ctx context.Context, r record, release func()) error {
	switched := false
	defer func() {
		if !switched {
			release()
		}
	}()
	m, err := a.manifest(r)
	if err != nil {
		return a.fail(r, err)
	}
	for _, p := range m.Payloads {
		if err := a.verifySlot(ctx, r.To, p); err != nil {
			if ctx.Err() != nil {
				return nil
			}
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
			return nil
		}
		return a.fail(r, fmt.Errorf("start trial boot: %w", err))
	}
	switched = true
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

// ChargingReporter is the inhibitor of earlier releases: it only reports a session, so a
// session starting between the report and the switch is not prevented.
//
// Deprecated: implement Inhibitor and use New.
type ChargingReporter interface {
	ChargingActive() bool
}

// NewAgent is New for a ChargingReporter: it marks the agent Activating (callers refuse
// sessions while it is) before it asks ChargingActive.
//
// Deprecated: the check and the session start are not atomic; use New with an Inhibitor.
func NewAgent(cfg Config, c ChargingReporter) (*Agent, error) {
	if c == nil {
		return nil, errors.New("ota: inhibitor is nil")
	}
	a, err := newAgent(cfg)
	if err != nil {
		return nil, err
	}
	a.inhibit = reporterHold{a: a, c: c}
	return a, nil
}

// reporterHold adapts a ChargingReporter to Inhibitor.
type reporterHold struct {
	a *Agent
	c ChargingReporter
}

func (h reporterHold) Hold(context.Context) (func(), error) {
	h.a.setActivating(true)
	if h.c.ChargingActive() {
		h.a.setActivating(false)
		return nil, ErrCharging
	}
	return func() {}, nil
}
