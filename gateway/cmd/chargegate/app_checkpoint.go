package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/chargegate/chargegate/gateway/mqtt"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/checkpoint"
)

// AlarmRolledBack is the appliance alarm raised when a checkpoint witness shows that the data
// directory was restored from an older copy, or that the chain forked.
const AlarmRolledBack = "chain_rolled_back"

// openCheckpoints builds the checkpoint log over the store with the configured witnesses and,
// when there are witnesses, asks them once before anything is appended: a witness holding a
// larger tree than the local head means the data was rolled back, and the sequence must
// continue above what the witness saw before any number is issued again.
func (a *App) openCheckpoints(ctx context.Context) error {
	var ws []*checkpoint.WitnessClient
	for i, w := range a.cfg.Ledger.Witnesses {
		url, vkey, _ := strings.Cut(strings.TrimSpace(w), " ")
		v, err := checkpoint.NewCosignatureVerifier(strings.TrimSpace(vkey))
		if err != nil {
			return fmt.Errorf("ledger.witnesses[%d]: %w", i, err)
		}
		ws = append(ws, &checkpoint.WitnessClient{URL: strings.TrimRight(url, "/"), Verifier: v})
	}
	log, err := checkpoint.NewLog(a.store, a.keys.Entry, checkpoint.LogConfig{
		Witnesses: ws, OnAlarm: a.rolledBack, Logger: a.log.With("part", "checkpoint"),
		TreeFile: filepath.Join(a.cfg.Device.DataDir, "checkpoint.tree"),
	})
	if err != nil {
		return fmt.Errorf("checkpoint log: %w", err)
	}
	a.checkpoints = log
	if len(ws) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := log.Checkpoint(cctx); err != nil && !errors.Is(err, checkpoint.ErrRolledBack) && !errors.Is(err, checkpoint.ErrInconsistent) {
		// An unreachable witness is asked again on every checkpoint; charging does not wait.
		a.log.Warn("checkpoint witnesses not reached at start", "err", err)
	}
	return nil
}

// rolledBack is the checkpoint log's alarm: a witness holds a larger tree (ErrRolledBack) or a
// different one (ErrInconsistent). The numbers the witness saw are declared skipped first, so
// that none is issued twice, then the alarm is raised and recorded as a signed event.
func (a *App) rolledBack(err error, witnessSize int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.alarmMu.Lock()
	a.alarms[AlarmRolledBack] = err.Error()
	a.alarmMu.Unlock()
	a.log.Error("a checkpoint witness shows the chain was rolled back or forked", "witness_size", witnessSize, "err", err)
	if witnessSize > 0 {
		if _, serr := a.store.SkipTo(ctx, uint64(witnessSize), fmt.Sprintf("a checkpoint witness holds size %d", witnessSize)); serr != nil {
			a.log.Error("skip the sequence numbers the witness saw", "err", serr)
		}
	}
	rec := ledger.Record{Time: time.Now(), TimeStatus: kernelTimeStatus(), Kind: ledger.KindEvent, Event: ledger.EventRolledBack,
		Detail: truncate(fmt.Sprintf("witness size %d: %v", witnessSize, err), ledger.MaxDetail)}
	if _, aerr := a.store.Append(ctx, rec); aerr != nil {
		a.log.Error("record the rollback", "err", aerr)
	}
}

// checkpointAtAnchors signs a checkpoint whenever the publisher confirms an anchor.
func (a *App) checkpointAtAnchors(ctx context.Context) error {
	confirmed := 0
	return every(ctx, time.Second, func() {
		if n := a.publisher.Status().Confirmed; n != confirmed {
			confirmed = n
			a.checkpoints.Trigger()
		}
	})
}

// notifyCheckpoints publishes the latest signed checkpoint, retained, whenever it changes.
func (a *App) notifyCheckpoints(ctx context.Context) error {
	var last int64 = -1
	return every(ctx, time.Second, func() {
		signed, c := a.checkpoints.Latest()
		if signed == nil || c.Size == last {
			return
		}
		last = c.Size
		a.link.Publish("checkpoint", mqtt.CheckpointMessage{Size: c.Size, Checkpoint: string(signed)}, 1, true)
	})
}

// truncate cuts s to at most n bytes on a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
