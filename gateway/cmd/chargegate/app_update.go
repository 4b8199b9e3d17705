package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/chargegate/chargegate/gateway"
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
	a.updater, err = ota.NewAgent(ota.Config{
		StateDir: c.StateDir, Slots: slots, TrustedKeys: keys, Hardware: c.Hardware, Version: a.version,
		HealthCheck: a.healthCheck, HealthDeadline: c.HealthDeadline, BandwidthLimit: c.BandwidthLimit,
		Logger: a.log.With("part", "update"),
	}, chargingInhibitor{a})
	if err != nil {
		return fmt.Errorf("update agent: %w", err)
	}
	return nil
}

// chargingInhibitor tells the update agent whether a session runs.
type chargingInhibitor struct{ a *App }

func (c chargingInhibitor) ChargingActive() bool { return c.a.gw.Status().Session != nil }

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
			Kind: ledger.KindEvent, Event: "update_health_check", Detail: "version " + a.version}); err != nil {
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

func (u updaterAdapter) Cancel(context.Context) error {
	return fmt.Errorf("%w: this update agent cannot cancel", gateway.ErrUnavailable)
}

func (u updaterAdapter) Repair(context.Context) error {
	return fmt.Errorf("%w: this update agent cannot repair", gateway.ErrUnavailable)
}
