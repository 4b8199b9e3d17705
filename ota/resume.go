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
//	trial        To, not trial      → committed: autoboot.txt was rewritten (then a cut or restart)
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
	if r.Floor > a.readFloor() {
		// A state file from before the floor file existed, or a lost floor file: restore
		// the second copy.
		if err := a.raiseFloor(r.Floor); err != nil {
			a.log.Warn("restore the security floor file", "err", err)
		}
	}
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
			release, err := a.hold(ctx, true)
			if err != nil {
				return ctx.Err()
			}
			defer release()
			if err := a.cfg.Slots.RebootDefault(ctx); err != nil {
				return fmt.Errorf("reboot into the default slot: %w", err)
			}
			<-ctx.Done()
			return ctx.Err()
		}
	}
	return nil
}

// trial holds the inhibitor (waiting for a session that started in the trial to end, so
// that neither a commit nor a fallback reboot cuts it), runs the health check until it
// passes or HealthDeadline ends, then commits; any failure rolls back by rebooting into
// the default (old) slot.
func (a *Agent) trial(ctx context.Context, r record) error {
	release, err := a.hold(ctx, true)
	if err != nil {
		return ctx.Err() // shutting down: the next boot is the old slot, resume rolls back
	}
	defer release()
	m, err := a.manifest(r)
	if err != nil {
		return a.rollBackHeld(ctx, r, err)
	}
	hctx, cancel := context.WithTimeout(ctx, a.cfg.HealthDeadline)
	defer cancel()
	retry := newBackoff(a.cfg.RetryDelay, 10*time.Second)
	var herr error
	for n := 1; ; n++ {
		if herr = a.cfg.HealthCheck(hctx); herr == nil {
			break
		}
		a.log.Warn("trial health check", "attempt", n, "err", herr)
		if sleep(hctx, retry.NextBackOff()) != nil {
			break
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if herr != nil {
		return a.rollBackHeld(ctx, r, fmt.Errorf("%w: health check: %v", ErrTrialFailed, herr))
	}
	if err := a.cfg.Slots.Commit(ctx, r.To); err != nil {
		return a.rollBackHeld(ctx, r, fmt.Errorf("%w: commit slot %s: %v", ErrTrialFailed, r.To, err))
	}
	a.log.Info("update committed", "slot", r.To, "version", m.Version)
	return a.commitDone(r)
}

// commitDone records the commit and only now raises the security-version floor: first its
// second copy (the floor file), then the gateway's signed record (OnCommit), then the
// state file. A power cut between them repeats commitDone at the next start.
func (a *Agent) commitDone(r record) error {
	m, err := a.manifest(r)
	if err != nil {
		return err
	}
	floor := max(r.Floor, m.SecurityVersion)
	if err := a.raiseFloor(floor); err != nil {
		return err
	}
	if a.cfg.OnCommit != nil {
		a.cfg.OnCommit(m.Version, m.SecurityVersion)
	}
	r.State, r.Error, r.Floor = StateCommitted, "", floor
	return a.save(r)
}

// rollBack records the failure and, if running the trial slot, takes the inhibitor and
// reboots into the default slot.
func (a *Agent) rollBack(ctx context.Context, r record, cause error, reboot bool) error {
	if !reboot {
		a.log.Error("update rolled back", "err", cause)
		r.State, r.Error = StateRolledBack, cause.Error()
		return a.save(r)
	}
	release, err := a.hold(ctx, true)
	if err != nil {
		return ctx.Err()
	}
	defer release()
	return a.rollBackHeld(ctx, r, cause)
}

// rollBackHeld records the failure and reboots into the default slot; the caller holds
// the inhibitor, which stays held while the system goes down.
func (a *Agent) rollBackHeld(ctx context.Context, r record, cause error) error {
	a.log.Error("update rolled back", "err", cause)
	r.State, r.Error = StateRolledBack, cause.Error()
	if err := a.save(r); err != nil {
		return err
	}
	if err := a.cfg.Slots.RebootDefault(ctx); err != nil {
		return fmt.Errorf("reboot into the default slot: %w", err)
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
