package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/slot"
)

// openUpdater builds the update agent from the update section. The gateway inhibits activation
// while charging, refuses sessions while the agent activates, and answers its health check.
func (a *App) openUpdater() error {
	c := a.cfg.Update
	keys, err := bundle.ReadTrustedKeys(c.TrustedKeys...)
	if err != nil {
		return fmt.Errorf("update.trusted_keys: %w", err)
	}
	var slots ota.Slots
	switch c.Slots {
	case "tryboot":
		slots = slot.RaspberryPi()
	case "files":
		slots = &slot.Dirs{FS: durable.OS{}, Root: c.SlotDir, Restart: func(context.Context) error {
			// Exit cleanly; systemd's Restart=always runs the launcher, which starts the new slot.
			a.log.Info("restarting into the updated slot")
			a.stop()
			return nil
		}}
	}
	var window *ota.MaintenanceWindow
	if c.MaintenanceWindow != "" {
		if window, err = ota.ParseMaintenanceWindow(c.MaintenanceWindow); err != nil {
			return fmt.Errorf("update.maintenance_window: %w", err)
		}
	}
	floor, err := a.securityFloor(context.Background())
	if err != nil {
		return err
	}
	a.updater, err = ota.New(ota.Config{
		StateDir: c.StateDir, Slots: slots, TrustedKeys: keys, Hardware: c.Hardware, Version: a.version, Window: window,
		HealthCheck: a.healthCheck, HealthDeadline: c.HealthDeadline, BandwidthLimit: c.BandwidthLimit,
		StallTimeout: c.StallTimeout, MinRate: c.MinRate, RetryDelay: c.RetryDelay, MaxAttempts: c.MaxAttempts,
		PollURL: c.PollURL, PollEvery: c.PollInterval, FloorPath: c.FloorPath,
		SecurityFloor: floor, OnCommit: a.updateCommitted,
		Logger: a.log.With("part", "update"),
	}, controlHold{a})
	if err != nil {
		return fmt.Errorf("update agent: %w", err)
	}
	return nil
}

// controlHold lets the update agent hold the control loop: no session starts while it is held,
// and holding fails while one runs (gateway.Controller.Hold, one atomic step in the loop).
type controlHold struct{ a *App }

func (h controlHold) Hold(ctx context.Context) (func(), error) { return h.a.gw.Hold(ctx) }

// securityFloorKey is the store state key keeping the highest committed security version, a
// copy of the floor beside the signed update_committed events and the agent's own files.
const securityFloorKey = "update_security_floor"

// securityFloor returns the floor the store remembers (0 when none).
func (a *App) securityFloor(ctx context.Context) (uint64, error) {
	b, err := a.store.GetState(ctx, securityFloorKey)
	if err != nil || len(b) == 0 {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stored security floor %q: %w", b, err)
	}
	return n, nil
}

// updateCommitted records a committed update in the signed chain and keeps its security
// version as the floor in the store, so that losing the agent's files never lets an older
// bundle commit again.
func (a *App) updateCommitted(version string, securityVersion uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec := ledger.Record{Time: time.Now(), TimeStatus: kernelTimeStatus(), Kind: ledger.KindEvent, Event: ledger.EventUpdateCommitted,
		Detail: fmt.Sprintf("version=%s security_version=%d", version, securityVersion)}
	floor, _ := a.securityFloor(ctx)
	if _, err := a.store.AppendState(ctx, []ledger.Record{rec}, securityFloorKey, []byte(strconv.FormatUint(max(floor, securityVersion), 10))); err != nil {
		a.log.Error("record the committed update", "version", version, "err", err)
	}
}

// healthCheck decides a trial boot: the service is up, the meter readable, the store writable
// (a signed entry records the check) and the relay in its safe state.
func (a *App) healthCheck(ctx context.Context) error {
	st := a.gw.Status()
	var errs []error
	if !st.Meter.Readable {
		errs = append(errs, errors.New("meter not readable"))
	}
	if st.HALFault != "" {
		errs = append(errs, fmt.Errorf("hardware fault: %s", st.HALFault))
	}
	if st.RelayClosed && st.Session == nil {
		errs = append(errs, errors.New("relay closed outside a session"))
	}
	if len(errs) == 0 {
		if _, err := a.store.Append(ctx, ledger.Record{Time: time.Now(), TimeStatus: kernelTimeStatus(),
			Kind: ledger.KindEvent, Event: ledger.EventUpdateHealthCheck, Detail: "version " + a.version}); err != nil {
			errs = append(errs, fmt.Errorf("store not writable: %w", err))
		}
	}
	return errors.Join(errs...)
}

// notifyUpdates publishes the update agent's status on the update topic whenever it changes.
func (a *App) notifyUpdates(ctx context.Context) error {
	var last ota.Status
	return every(ctx, time.Second, func() {
		st := a.updater.Status()
		changed := st
		changed.UpdatedAt = last.UpdatedAt // a new timestamp alone is no news
		if reflect.DeepEqual(changed, last) {
			return
		}
		last = st
		a.link.Publish("update", st, 1, true)
	})
}

// updaterAdapter gives the Operator the update agent's commands.
type updaterAdapter struct{ a *ota.Agent }

func (u updaterAdapter) Update(ctx context.Context, url string) error { return u.a.Update(ctx, url) }
func (u updaterAdapter) Status() any                                  { return u.a.Status() }

func (u updaterAdapter) Cancel(ctx context.Context) error { return u.a.Cancel(ctx) }
func (u updaterAdapter) Repair(ctx context.Context) error { return u.a.Repair(ctx) }
