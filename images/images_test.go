// Package images_test checks what goes onto the box: the arm64 build runs under
// qemu-aarch64, the launcher script behaves like slot.Dirs, the systemd unit carries the
// hardening the design asks for, and build.sh produces a verifiable development bundle.
package images_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/sqlite"
	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/slot"
)

// need fails (not skips) when a tool from .ci/deps is missing: `make deps` installs it.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run `make deps` (Debian packages gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user)", tool)
		}
	}
}

func run(t *testing.T, ctx context.Context, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

var arm64Env = []string{"CGO_ENABLED=1", "GOOS=linux", "GOARCH=arm64", "CC=aarch64-linux-gnu-gcc"}

// buildARM64 cross-compiles a package of this module for linux/arm64 like `make cross`.
func buildARM64(t *testing.T, ctx context.Context, pkg, out string, ldflags string) {
	t.Helper()
	run(t, ctx, arm64Env, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, pkg)
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Fatalf("%s is built for %v, want aarch64", out, f.Machine)
	}
}

// qemu runs an arm64 binary with the cross toolchain's loader and libraries.
func qemu(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "qemu-aarch64", append([]string{"-L", "/usr/aarch64-linux-gnu", bin}, args...)...)
	return cmd
}

func TestARM64UnderQEMU(t *testing.T) {
	need(t, "aarch64-linux-gnu-gcc", "qemu-aarch64")
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "chargegate")
	buildARM64(t, ctx, "./gateway/cmd/chargegate", bin, "-s -w -X main.version=qemu-test")
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("chargegate linux/arm64 (stripped, -s -w): %d bytes (%.1f MiB)", st.Size(), float64(st.Size())/(1<<20))

	t.Run("version", func(t *testing.T) {
		out, err := qemu(ctx, bin, "version").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "chargegate qemu-test" {
			t.Fatalf("chargegate version under qemu: %q, %v", out, err)
		}
	})
	t.Run("sqlite", func(t *testing.T) {
		probe := filepath.Join(dir, "sqliteprobe")
		buildARM64(t, ctx, "./images/testdata/sqliteprobe", probe, "-s -w")
		db := filepath.Join(dir, "probe.db")
		for i := 1; i <= 2; i++ {
			out, err := qemu(ctx, probe, db).CombinedOutput()
			want := regexp.MustCompile(`^sqlite 3\.\d+\.\d+ journal_mode=wal synchronous=2 rows=` + string(rune('0'+i)) + `\n$`)
			if err != nil || !want.Match(out) {
				t.Fatalf("run %d of the arm64 SQLite probe: %q, %v", i, out, err)
			}
		}
	})
	t.Run("database", func(t *testing.T) {
		// A data directory written on the host (keys, SQLite store with a short chain),
		// then read by the arm64 binary: keys show loads the keys, verify opens the database
		// and checks every entry.
		data := t.TempDir()
		keys, err := ledger.LoadOrCreateKeys(data)
		must(t, err)
		st, err := sqlite.Open(ctx, data, sqlite.Options{Key: keys.Entry, Ballast: -1})
		must(t, err)
		now := time.Now()
		for i := range 3 {
			_, err := st.Append(ctx, ledger.Record{Time: now.Add(time.Duration(i) * time.Second), TimeStatus: ledger.TimeSynchronised,
				Kind: ledger.KindReading, MeterSerial: "QEMU-1", ImportMWh: int64(1000 * i)})
			must(t, err)
		}
		must(t, st.Close())
		out, err := qemu(ctx, bin, "keys", "show", "--data", data).CombinedOutput()
		id := ledger.DeviceID(keys.Entry.Public().(ed25519.PublicKey))
		if err != nil || !strings.Contains(string(out), "device-id: "+id) {
			t.Fatalf("chargegate keys show under qemu: %v\n%s\nwant device-id %s", err, out, id)
		}
		out, err = qemu(ctx, bin, "verify", "--data", data).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "chain ok: ") {
			t.Fatalf("chargegate verify (opens the database) under qemu: %v\n%s", err, out)
		}
		t.Logf("arm64 chargegate verify: %s", bytes.TrimSpace(out))
	})
}

// TestLauncherMatchesDirs runs images/chargegate-launch and checks it chooses slots as
// slot.Dirs.Launch does, and records them so that slot.Dirs.Booted reads them.
func TestLauncherMatchesDirs(t *testing.T) {
	root := t.TempDir()
	for _, s := range []string{"A", "B"} {
		must(t, os.MkdirAll(filepath.Join(root, s), 0o755))
		must(t, os.WriteFile(filepath.Join(root, s, "chargegate"), []byte("#!/bin/sh\necho "+s+" \"$@\"\n"), 0o755))
	}
	launch := func() string {
		cmd := exec.Command("./chargegate-launch", "run", "-config", "x")
		cmd.Env = append(os.Environ(), "CHARGEGATE_SLOTS="+root)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("launcher: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	dirs := &slot.Dirs{FS: durable.OS{}, Root: root}
	booted := func() (string, bool) {
		cur, _, trial, err := dirs.Booted(context.Background())
		must(t, err)
		return cur, trial
	}
	if got := launch(); got != "A run -config x" {
		t.Fatalf("first start: %q", got)
	}
	if cur, trial := booted(); cur != "A" || trial {
		t.Fatalf("recorded %s trial=%v", cur, trial)
	}
	must(t, os.WriteFile(filepath.Join(root, "try"), []byte("B\n"), 0o644))
	if got := launch(); !strings.HasPrefix(got, "B ") {
		t.Fatalf("trial start: %q", got)
	}
	if cur, trial := booted(); cur != "B" || !trial {
		t.Fatalf("recorded %s trial=%v, want B trial", cur, trial)
	}
	if got := launch(); !strings.HasPrefix(got, "A ") {
		t.Fatalf("restart after the trial (one-shot): %q, want A", got)
	}
	must(t, os.WriteFile(filepath.Join(root, "current"), []byte("B\n"), 0o644))
	if got := launch(); !strings.HasPrefix(got, "B ") {
		t.Fatalf("start after commit: %q", got)
	}
	// The Go twin agrees on the same tree.
	if bin, err := dirs.Launch(); err != nil || bin != filepath.Join(root, "B", "chargegate") {
		t.Fatalf("slot.Dirs.Launch: %s %v", bin, err)
	}
}

func TestServiceUnitHardening(t *testing.T) {
	b, err := os.ReadFile("chargegate.service")
	must(t, err)
	unit := string(b)
	for _, want := range []string{
		"Type=notify", "WatchdogSec=", "Restart=always", "ProtectSystem=strict", "NoNewPrivileges=yes",
		"StateDirectory=chargegate", "ReadWritePaths=/var/lib/chargegate", "DevicePolicy=closed",
		"CapabilityBoundingSet=\n", "ExecStart=/usr/lib/chargegate/chargegate-launch run --config /etc/chargegate/config.yaml",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("chargegate.service lacks %q", want)
		}
	}
	var devices []string
	for _, line := range strings.Split(unit, "\n") {
		if d, ok := strings.CutPrefix(line, "DeviceAllow="); ok {
			devices = append(devices, d)
		}
	}
	if strings.Join(devices, ";") != "/dev/gpiochip0 rw;/dev/ttyAMA0 rw" {
		t.Errorf("DeviceAllow = %q, want only the GPIO chip and the RS-485 UART", devices)
	}
	boot, err := os.ReadFile("config.txt")
	must(t, err)
	if !strings.Contains(string(boot), "enable_uart=1") {
		t.Error("config.txt does not enable the UART for RS-485")
	}
	auto, err := os.ReadFile("autoboot.txt")
	must(t, err)
	a, err := slot.ParseAutoboot(auto)
	if err != nil || !a.TrybootAB || a.Default != 2 || a.Tryboot != 3 || len(auto) != slot.AutobootSize {
		t.Errorf("autoboot.txt: %+v %v (%d bytes)", a, err, len(auto))
	}
}

// TestBuildScript runs images/build.sh (what `make image` runs) into a temporary directory
// with a temporary development key, then verifies the bundle and the overlay.
func TestBuildScript(t *testing.T) {
	need(t, "aarch64-linux-gnu-gcc")
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	out, keys := t.TempDir(), t.TempDir()
	run(t, ctx, []string{"OUT=" + out, "KEYDIR=" + keys, "VERSION=9.9.9-test", "SECURITY_VERSION=4"}, "images/build.sh")
	key, err := os.Stat(filepath.Join(keys, "DEVELOPMENT-ONLY-release.key"))
	if err != nil || key.Mode().Perm() != 0o600 {
		t.Fatalf("development key: %v (mode %v)", err, key.Mode().Perm())
	}
	trusted, err := bundle.ReadTrustedKeys(filepath.Join(keys, "DEVELOPMENT-ONLY-release.pub"))
	must(t, err)
	f, err := os.Open(filepath.Join(out, "chargegate-9.9.9-test-DEVELOPMENT-SIGNED.bundle"))
	must(t, err)
	defer f.Close()
	m, err := bundle.Verify(f, trusted)
	if err != nil {
		t.Fatalf("verify the built bundle: %v", err)
	}
	app, err := os.Stat(filepath.Join(out, "app", "chargegate"))
	must(t, err)
	if m.Version != "9.9.9-test" || m.SecurityVersion != 4 || len(m.Payloads) != 1 || m.Payloads[0].Type != bundle.TypeApp || m.Payloads[0].Size != app.Size() {
		t.Fatalf("bundle manifest: %+v", m)
	}
	for _, p := range []string{
		"rootfs-overlay/usr/bin/chargegate", "rootfs-overlay/etc/systemd/system/chargegate.service",
		"rootfs-overlay/etc/systemd/system/chargegate.service.d/app-only.conf",
		"rootfs-overlay/etc/chargegate/trusted-keys/DEVELOPMENT-ONLY-release.pub",
		"rootfs-overlay/usr/lib/chargegate/chargegate-launch", "rootfs-overlay.tar",
		"boot/config.txt", "bootconfig/autoboot.txt",
	} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("build output lacks %s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "rootfs-overlay/etc/systemd/system/chargegate.service.d/ota-ab.conf")); err == nil {
		t.Error("app-only overlay carries the A/B drop-in")
	}

	// SLOTS=tryboot: the A/B rights, the trial guard and the polkit rule instead.
	ab := t.TempDir()
	run(t, ctx, []string{"OUT=" + ab, "KEYDIR=" + keys, "VERSION=9.9.9-test", "SLOTS=tryboot"}, "images/build.sh")
	for _, p := range []string{
		"etc/systemd/system/chargegate.service.d/ota-ab.conf", "etc/systemd/system/chargegate-trial-guard.service",
		"etc/systemd/system/multi-user.target.wants/chargegate-trial-guard.service", "usr/lib/chargegate/chargegate-trial-guard",
		"etc/polkit-1/rules.d/50-chargegate.rules", "etc/systemd/system.conf.d/chargegate-watchdog.conf",
	} {
		if _, err := os.Stat(filepath.Join(ab, "rootfs-overlay", p)); err != nil {
			t.Errorf("tryboot overlay lacks %s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(ab, "rootfs-overlay/etc/systemd/system/chargegate.service.d/app-only.conf")); err == nil {
		t.Error("tryboot overlay carries the app-only drop-in")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestTrialGuard runs images/chargegate-trial-guard against a fake bootloader tree and a
// fake systemctl: it reboots only a trial boot whose slot was not committed.
func TestTrialGuard(t *testing.T) {
	cases := []struct {
		name            string
		tryboot, booted uint32
		def             int
		reboot          bool
	}{
		{name: "normal boot", tryboot: 0, booted: 2, def: 2},
		{name: "committed trial", tryboot: 1, booted: 3, def: 3},
		{name: "uncommitted trial", tryboot: 1, booted: 3, def: 2, reboot: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			bl := filepath.Join(dir, "bootloader")
			must(t, os.MkdirAll(bl, 0o755))
			must(t, os.WriteFile(filepath.Join(bl, "tryboot"), []byte{0, 0, 0, byte(c.tryboot)}, 0o644))
			must(t, os.WriteFile(filepath.Join(bl, "partition"), []byte{0, 0, 0, byte(c.booted)}, 0o644))
			other := 5 - c.def
			must(t, os.WriteFile(filepath.Join(dir, "autoboot.txt"), slot.FormatAutoboot(c.def, other), 0o644))
			bin := filepath.Join(dir, "bin")
			must(t, os.MkdirAll(bin, 0o755))
			marker := filepath.Join(dir, "rebooted")
			must(t, os.WriteFile(filepath.Join(bin, "systemctl"), []byte("#!/bin/sh\necho \"$@\" > "+marker+"\n"), 0o755))
			cmd := exec.Command("./chargegate-trial-guard")
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "BOOTLOADER_DIR="+bl,
				"AUTOBOOT="+filepath.Join(dir, "autoboot.txt"), "TRIAL_DEADLINE=0")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("guard: %v\n%s", err, out)
			}
			got, err := os.ReadFile(marker)
			if rebooted := err == nil; rebooted != c.reboot {
				t.Fatalf("rebooted = %v, want %v\n%s", rebooted, c.reboot, out)
			}
			if c.reboot && strings.TrimSpace(string(got)) != "reboot" {
				t.Fatalf("systemctl %q, want a plain reboot (no tryboot flag)", got)
			}
		})
	}
}
