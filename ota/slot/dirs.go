package slot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/chargegate/chargegate/ota/durable"
)

// AppFile is the name of the application binary inside a Dirs slot.
const AppFile = "chargegate"

// Dirs is the app-only backend: two directories holding the application, chosen at each
// service start by a launcher (see the package doc). Only app payloads can be installed.
type Dirs struct {
	FS   durable.FS
	Root string
	// Restart restarts the service (e.g. systemctl restart chargegate), which runs the
	// launcher again. Nil is an error at activation.
	Restart func(ctx context.Context) error
}

var dirSlots = [2]string{"A", "B"}

func otherDir(s string) string {
	if s == dirSlots[0] {
		return dirSlots[1]
	}
	return dirSlots[0]
}

// Booted reads what the launcher recorded.
func (d *Dirs) Booted(context.Context) (current, other string, trial bool, err error) {
	b, err := durable.ReadFile(d.FS, filepath.Join(d.Root, "booted"))
	if err != nil {
		return "", "", false, fmt.Errorf("read booted slot: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 || (f[0] != "A" && f[0] != "B") || (len(f) > 1 && f[1] != "trial") {
		return "", "", false, fmt.Errorf("read booted slot: bad content %q", b)
	}
	return f[0], otherDir(f[0]), len(f) > 1, nil
}

// OpenTarget opens the application file of the inactive slot.
func (d *Dirs) OpenTarget(ctx context.Context, slot, typ string) (durable.File, error) {
	if typ != "app" {
		return nil, fmt.Errorf("%w: app-only slots take no %s payload", ErrNoTarget, typ)
	}
	cur, _, _, err := d.Booted(ctx)
	if err != nil {
		return nil, err
	}
	if slot == cur || (slot != "A" && slot != "B") {
		return nil, fmt.Errorf("%w: %s", ErrBootedSlot, slot)
	}
	dir := filepath.Join(d.Root, slot)
	if err := d.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create slot %s: %w", slot, err)
	}
	f, err := d.FS.OpenFile(filepath.Join(dir, AppFile), os.O_RDWR|os.O_CREATE, 0o755)
	if err != nil {
		return nil, fmt.Errorf("open slot %s: %w", slot, err)
	}
	if err := durable.SyncDir(d.FS, dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// TryBoot records slot as the one-shot choice and restarts the service.
func (d *Dirs) TryBoot(ctx context.Context, slot string) error {
	cur, _, _, err := d.Booted(ctx)
	if err != nil {
		return err
	}
	if slot == cur {
		return fmt.Errorf("try boot: %w: %s", ErrBootedSlot, slot)
	}
	if err := durable.WriteFile(d.FS, filepath.Join(d.Root, "try"), []byte(slot+"\n"), 0o644); err != nil {
		return fmt.Errorf("record trial slot: %w", err)
	}
	return d.restart(ctx)
}

// Commit makes slot the default and records the running start as no longer a trial. It
// must run in a trial start of that slot.
func (d *Dirs) Commit(ctx context.Context, slot string) error {
	cur, _, trial, err := d.Booted(ctx)
	if err != nil {
		return err
	}
	if cur != slot || !trial {
		return fmt.Errorf("commit %s: %w (running %s, trial %v)", slot, ErrNotTrial, cur, trial)
	}
	if err := durable.WriteFile(d.FS, filepath.Join(d.Root, "current"), []byte(slot+"\n"), 0o644); err != nil {
		return err
	}
	// The running start is the default one now: it is no longer a trial (issue 14: the
	// process answered "busy" until it was restarted).
	return durable.WriteFile(d.FS, filepath.Join(d.Root, "booted"), []byte(slot+"\n"), 0o644)
}

// RebootDefault restarts the service into the default slot.
func (d *Dirs) RebootDefault(ctx context.Context) error { return d.restart(ctx) }

func (d *Dirs) restart(ctx context.Context) error {
	if d.Restart == nil {
		return errors.New("restart service: no restart command configured")
	}
	return d.Restart(ctx)
}

// Launch is what the launcher does at every service start: take the one-shot trial slot if
// there is one (removing the marker durably first), else the default; record the choice;
// return the path of the binary to run. A missing default means slot A.
func (d *Dirs) Launch() (string, error) {
	try := filepath.Join(d.Root, "try")
	slot, trial := "", false
	if b, err := durable.ReadFile(d.FS, try); err == nil {
		slot, trial = strings.TrimSpace(string(b)), true
		if err := d.FS.Remove(try); err != nil {
			return "", fmt.Errorf("consume trial marker: %w", err)
		}
		if err := durable.SyncDir(d.FS, d.Root); err != nil {
			return "", err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read trial marker: %w", err)
	}
	if slot != "A" && slot != "B" {
		slot, trial = "A", false
		if b, err := durable.ReadFile(d.FS, filepath.Join(d.Root, "current")); err == nil {
			if s := strings.TrimSpace(string(b)); s == "B" {
				slot = s
			}
		}
	}
	rec := slot + "\n"
	if trial {
		rec = slot + " trial\n"
	}
	if err := durable.WriteFile(d.FS, filepath.Join(d.Root, "booted"), []byte(rec), 0o644); err != nil {
		return "", fmt.Errorf("record booted slot: %w", err)
	}
	return filepath.Join(d.Root, slot, AppFile), nil
}
