package slot_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/durable/crashfs"
	"github.com/chargegate/chargegate/ota/slot"
	"github.com/chargegate/chargegate/ota/slot/fakefw"
)

func TestFormatAutoboot(t *testing.T) {
	b := slot.FormatAutoboot(2, 3)
	if len(b) != slot.AutobootSize {
		t.Fatalf("autoboot.txt is %d bytes, want %d", len(b), slot.AutobootSize)
	}
	a, err := slot.ParseAutoboot(b)
	if err != nil {
		t.Fatal(err)
	}
	if a != (slot.Autoboot{TrybootAB: true, Default: 2, Tryboot: 3}) {
		t.Fatalf("parsed %+v", a)
	}
	golden, err := os.ReadFile(filepath.Join("..", "..", "images", "autoboot.txt"))
	if err == nil && string(golden) != string(b) {
		t.Errorf("images/autoboot.txt differs from FormatAutoboot(2, 3):\n%s", golden)
	}
}

func TestParseAutoboot(t *testing.T) {
	cases := []struct {
		in   string
		want slot.Autoboot
		err  bool
	}{
		{in: "[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n", want: slot.Autoboot{TrybootAB: true, Default: 2, Tryboot: 3}},
		{in: "boot_partition=5\n", want: slot.Autoboot{Default: 5}},
		{in: "# only a comment\n", err: true},
		{in: "[all]\nboot_partition=two\n", err: true},
		{in: "[all]\nnonsense\n", err: true},
		{in: "boot_partition=1000\n", err: true},
		{in: string(make([]byte, 600)), err: true},
	}
	for _, c := range cases {
		got, err := slot.ParseAutoboot([]byte(c.in))
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseAutoboot(%q) = %+v, %v", c.in, got, err)
		}
	}
}

func FuzzParseAutoboot(f *testing.F) {
	f.Add(slot.FormatAutoboot(2, 3))
	f.Add([]byte("[none]\nboot_partition=9\n[all]\nboot_partition=1"))
	f.Add([]byte("boot_partition=99999999999999\n[tryboot]\nboot_partition=-3"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := slot.ParseAutoboot(b)
		if err == nil && a.Default == 0 {
			t.Fatal("accepted autoboot.txt without a default partition")
		}
		if err == nil && a.Default > 0 && a.Tryboot > 0 {
			again, err := slot.ParseAutoboot(slot.FormatAutoboot(a.Default, a.Tryboot))
			if err != nil || again.Default != a.Default || again.Tryboot != a.Tryboot {
				t.Fatalf("format/parse round trip of %+v: %+v, %v", a, again, err)
			}
		}
	})
}

func newPi(t *testing.T) (*slot.Tryboot, *fakefw.Firmware, *crashfs.FS) {
	fs := crashfs.New()
	for _, d := range []string{"/boot", "/slots/a", "/slots/b"} {
		if err := fs.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := durable.WriteFile(fs, "/boot/autoboot.txt", slot.FormatAutoboot(2, 3), 0o644); err != nil {
		t.Fatal(err)
	}
	fw := &fakefw.Firmware{FS: fs, Autoboot: "/boot/autoboot.txt", BootloaderDir: t.TempDir()}
	tb := &slot.Tryboot{FS: fs, Autoboot: "/boot/autoboot.txt", BootloaderDir: fw.BootloaderDir, Reboot: fw.Reboot,
		Slots: [2]slot.Partition{{Name: "A", Number: 2, TargetDir: "/slots/a"}, {Name: "B", Number: 3, Targets: map[string]string{"rootfs": "/slots/b/rootfs"}}}}
	return tb, fw, fs
}

func TestTryboot(t *testing.T) {
	ctx := context.Background()
	tb, fw, fs := newPi(t)
	if _, _, err := fw.Boot(); err != nil {
		t.Fatal(err)
	}
	cur, other, trial, err := tb.Booted(ctx)
	if err != nil || cur != "A" || other != "B" || trial {
		t.Fatalf("Booted = %s %s %v %v", cur, other, trial, err)
	}
	if _, err := tb.OpenTarget(ctx, "A", "rootfs"); !errors.Is(err, slot.ErrBootedSlot) {
		t.Fatalf("open booted slot: %v", err)
	}
	if _, err := tb.OpenTarget(ctx, "B", "app"); !errors.Is(err, slot.ErrNoTarget) {
		t.Fatalf("open missing target: %v", err)
	}
	if err := tb.Commit(ctx, "B"); !errors.Is(err, slot.ErrNotTrial) {
		t.Fatalf("commit outside a trial: %v", err)
	}
	if err := tb.TryBoot(ctx, "B"); err != nil || fw.RebootRequests() != 1 {
		t.Fatalf("TryBoot: %v", err)
	}
	fs.Reboot()
	if part, trial, _ := fw.Boot(); part != 3 || !trial {
		t.Fatalf("trial boot started partition %d (trial %v)", part, trial)
	}
	// A crash in the trial: the flag was one-shot, so the next boot is A again.
	fs.PowerCycle()
	if part, trial, _ := fw.Boot(); part != 2 || trial {
		t.Fatalf("after a crash in the trial: partition %d (trial %v), want 2", part, trial)
	}
	// Trial again, this time commit.
	if err := tb.TryBoot(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	fs.Reboot()
	fw.Boot()
	if _, _, trial, _ := tb.Booted(ctx); !trial {
		t.Fatal("trial boot not reported")
	}
	if err := tb.Commit(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	// The firmware's flag stays set until the next reboot, but B is the default now.
	if cur, _, trial, err := tb.Booted(ctx); cur != "B" || trial || err != nil {
		t.Fatalf("after commit, before a reboot: booted %s, trial %v (%v)", cur, trial, err)
	}
	fs.PowerCycle() // the commit was synced: it survives
	if part, trial, _ := fw.Boot(); part != 3 || trial {
		t.Fatalf("after commit: partition %d (trial %v), want 3", part, trial)
	}
	got, ok := fs.Synced("/boot/autoboot.txt")
	if !ok || string(got) != string(slot.FormatAutoboot(3, 2)) {
		t.Fatalf("committed autoboot.txt:\n%s", got)
	}
}

func TestDirsLaunch(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	restarts := 0
	d := &slot.Dirs{FS: durable.OS{}, Root: root, Restart: func(context.Context) error { restarts++; return nil }}
	bin, err := d.Launch()
	if err != nil || bin != filepath.Join(root, "A", slot.AppFile) {
		t.Fatalf("first launch: %s %v", bin, err)
	}
	if _, err := d.OpenTarget(ctx, "A", "app"); !errors.Is(err, slot.ErrBootedSlot) {
		t.Fatalf("open running slot: %v", err)
	}
	if _, err := d.OpenTarget(ctx, "B", "rootfs"); !errors.Is(err, slot.ErrNoTarget) {
		t.Fatalf("rootfs in app-only mode: %v", err)
	}
	if err := d.TryBoot(ctx, "B"); err != nil || restarts != 1 {
		t.Fatalf("TryBoot: %v, restarts %d", err, restarts)
	}
	if bin, _ := d.Launch(); bin != filepath.Join(root, "B", slot.AppFile) {
		t.Fatalf("trial launch runs %s", bin)
	}
	if _, _, trial, _ := d.Booted(ctx); !trial {
		t.Fatal("trial start not recorded")
	}
	// The new version crashes: systemd restarts it, the launcher goes back to A.
	if bin, _ := d.Launch(); bin != filepath.Join(root, "A", slot.AppFile) {
		t.Fatalf("launch after a crashed trial runs %s, want A", bin)
	}
	d.TryBoot(ctx, "B")
	d.Launch()
	if err := d.Commit(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	if cur, _, trial, err := d.Booted(ctx); cur != "B" || trial || err != nil {
		t.Fatalf("the committed start is still booted %s, trial %v (%v)", cur, trial, err)
	}
	if bin, _ := d.Launch(); bin != filepath.Join(root, "B", slot.AppFile) {
		t.Fatalf("launch after commit runs %s, want B", bin)
	}
}
