package ota

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// resume decides, from the persisted state and how the system booted, what happened
// while the agent was not running. The table (also in the package doc):
//
//	state        booted             action
//	busy states  not From / trial   fail: something else changed the slots
//	downloading..installing  From   carry on (the download resumes at its cursor)
//	installed    To, trial          → trial: health check, then commit or roll back
//	installed    From, not trial    → rolled_back: the trial boot did not happen or died
//	trial        To, trial          → rolled_back + reboot: the service restarted in the trial
//	trial        To, not trial      → committed: autoboot.txt was rewritten before the cut
//	trial        From               → rolled_back: the trial ended without a commit
//	rolled_back  To, trial          reboot: the fallback reboot was lost
//	anything else                   nothing to do
func (a *Agent) resume(ctx context.Context) error {
	cur, _, trial, err := a.cfg.Slots.Booted(ctx)
	if err != nil {
		return fmt.Errorf("ota: resume: %w", err)
	}
	a.mu.Lock()
	a.slot = cur
	a.mu.Unlock()
	r := a.current()
	a.log.Info("resume", "state", r.State, "booted", cur, "trial", trial)
	switch r.State {
	case StateDownloading, StateDownloaded, StateWaiting, StateInstalling:
		if cur != r.From || trial {
			return a.fail(r, fmt.Errorf("booted slot %s (trial %v) while writing slot %s", cur, trial, r.To))
		}
		return nil
	case StateInstalled:
		switch {
		case cur == r.To && trial:
			r.State = StateTrial
			if err := a.save(r); err != nil {
				return err
			}
			return a.trial(ctx, r)
		case cur == r.From && !trial:
			return a.rollBack(ctx, r, fmt.Errorf("%w: trial boot of slot %s did not complete", ErrTrialFailed, r.To), false)
		default:
			return a.fail(r, fmt.Errorf("booted slot %s (trial %v) after requesting a trial of %s", cur, trial, r.To))
		}
	case StateTrial:
		switch {
		case cur == r.To && trial:
			return a.rollBack(ctx, r, fmt.Errorf("%w: service restarted during the trial", ErrTrialFailed), true)
		case cur == r.To:
			return a.commitDone(r)
		default:
			return a.rollBack(ctx, r, fmt.Errorf("%w: trial of slot %s ended without commit", ErrTrialFailed, r.To), false)
		}
	case StateRolledBack:
		if cur == r.To && trial {
			return a.cfg.Slots.RebootDefault(ctx)
		}
	}
	return nil
}

// trial runs the health check until it passes or HealthDeadline ends, then commits; any
// failure rolls back by rebooting into the default (old) slot.
func (a *Agent) trial(ctx context.Context, r record) error {
	m, err := a.manifest(r)
	if err != nil {
		return a.rollBack(ctx, r, err, true)
	}
	hctx, cancel := context.WithTimeout(ctx, a.cfg.HealthDeadline)
	defer cancel()
	var herr error
	for n := 1; ; n++ {
		if herr = a.cfg.HealthCheck(hctx); herr == nil {
			break
		}
		a.log.Warn("trial health check", "attempt", n, "err", herr)
		if sleep(hctx, min(a.backoff(n), time.Second*10)) != nil {
			break
		}
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the next boot is the old slot, resume rolls back
	}
	if herr != nil {
		return a.rollBack(ctx, r, fmt.Errorf("%w: health check: %v", ErrTrialFailed, herr), true)
	}
	if err := a.cfg.Slots.Commit(ctx, r.To); err != nil {
		return a.rollBack(ctx, r, fmt.Errorf("%w: commit slot %s: %v", ErrTrialFailed, r.To, err), true)
	}
	a.log.Info("update committed", "slot", r.To, "version", m.Version)
	return a.commitDone(r)
}

// commitDone records the commit and only now raises the security-version floor.
func (a *Agent) commitDone(r record) error {
	m, err := a.manifest(r)
	if err != nil {
		return err
	}
	r.State, r.Error = StateCommitted, ""
	r.Floor = max(r.Floor, m.SecurityVersion)
	return a.save(r)
}

// rollBack records the failure and, if running the trial slot, reboots into the default.
func (a *Agent) rollBack(ctx context.Context, r record, cause error, reboot bool) error {
	a.log.Error("update rolled back", "err", cause)
	r.State, r.Error = StateRolledBack, cause.Error()
	if err := a.save(r); err != nil {
		return err
	}
	if !reboot {
		return nil
	}
	a.setActivating(true, "")
	if err := a.cfg.Slots.RebootDefault(ctx); err != nil {
		return fmt.Errorf("ota: reboot into the default slot: %w", err)
	}
	<-ctx.Done() // the system is going down
	return ctx.Err()
}

// poll fetches PollURL's manifest and starts an update if it offers a version that is not
// running, may be installed here and did not just fail.
func (a *Agent) poll(ctx context.Context) {
	m, err := a.fetchManifest(ctx, a.cfg.PollURL)
	if err != nil {
		a.log.Warn("poll for updates", "err", err)
		return
	}
	if m.Version == a.cfg.Version {
		return
	}
	r := a.current()
	if old, err := a.manifest(r); err == nil && old.Version == m.Version {
		return // just installed, failed or rolled back: the operator decides what next
	}
	if err := a.Update(ctx, a.cfg.PollURL); err != nil && !errors.Is(err, ErrBusy) {
		a.log.Warn("start polled update", "err", err)
	}
}
