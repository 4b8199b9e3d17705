package slot

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/chargegate/chargegate/ota/durable"
)

// maxPartition bounds partition numbers in autoboot.txt (GPT allows 128 entries).
const maxPartition = 128

// AutobootSize is the fixed size of the autoboot.txt Tryboot writes (the firmware reads at
// most 512 bytes).
const AutobootSize = 256

// Errors callers branch on.
var (
	ErrBootedSlot  = errors.New("refusing to write the booted slot")
	ErrNoTarget    = errors.New("slot has no target for this payload type")
	ErrNotTrial    = errors.New("not trial-booted into this slot")
	ErrBadAutoboot = errors.New("bad autoboot.txt")
)

// Partition is one A/B slot on a Raspberry Pi: its boot partition number and where each
// payload type is written (a block device such as /dev/mmcblk0p5, or a file in tests).
type Partition struct {
	Name      string
	Number    int
	Targets   map[string]string // payload type → path
	TargetDir string            // if set, targets not in Targets are TargetDir/<type>
}

// Tryboot is the Raspberry Pi 4/5 backend. Every path is configurable so that tests can
// point it at a temporary tree and a fake firmware.
type Tryboot struct {
	FS            durable.FS   // for autoboot.txt and the slot targets
	Autoboot      string       // e.g. /boot/firmware/autoboot.txt on the bootconfig partition
	BootloaderDir string       // e.g. /proc/device-tree/chosen/bootloader
	Slots         [2]Partition // A and B
	// Reboot reboots with the given argument ("0 tryboot" for a trial, "" for a normal
	// reboot). Nil is RunReboot.
	Reboot func(ctx context.Context, arg string) error
}

// RunReboot asks systemd to reboot, passing arg (e.g. "0 tryboot") as the reboot parameter
// the firmware reads. As an unprivileged user this needs the polkit rule in images/.
func RunReboot(ctx context.Context, arg string) error {
	args := []string{"reboot"}
	if arg != "" {
		args = append(args, arg)
	}
	if out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("reboot %q: %w: %s", arg, err, bytes.TrimSpace(out))
	}
	return nil
}

func (t *Tryboot) reboot(ctx context.Context, arg string) error {
	if t.Reboot != nil {
		return t.Reboot(ctx, arg)
	}
	return RunReboot(ctx, arg)
}

func readU32(path string) (uint32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	if len(b) != 4 {
		return 0, fmt.Errorf("%s: %d bytes, want a 32-bit cell", path, len(b))
	}
	return binary.BigEndian.Uint32(b), nil
}

func (t *Tryboot) byNumber(n int) (Partition, Partition, error) {
	for i, p := range t.Slots {
		if p.Number == n {
			return p, t.Slots[1-i], nil
		}
	}
	return Partition{}, Partition{}, fmt.Errorf("booted from partition %d, which is neither slot", n)
}

func (t *Tryboot) byName(name string) (Partition, Partition, error) {
	for i, p := range t.Slots {
		if p.Name == name {
			return p, t.Slots[1-i], nil
		}
	}
	return Partition{}, Partition{}, fmt.Errorf("no slot named %q", name)
}

// Booted reads the partition the firmware started and whether it was a tryboot that is
// not committed yet: once Commit made the running partition the default in autoboot.txt,
// the start counts as a normal one although the firmware's flag stays set until the next
// reboot (issue 14: a committed process answered "busy").
func (t *Tryboot) Booted(context.Context) (current, other string, trial bool, err error) {
	part, err := readU32(filepath.Join(t.BootloaderDir, "partition"))
	if err != nil {
		return "", "", false, fmt.Errorf("read booted partition: %w", err)
	}
	try, err := readU32(filepath.Join(t.BootloaderDir, "tryboot"))
	if errors.Is(err, os.ErrNotExist) {
		try, err = 0, nil // older firmware without the property never trybooted
	}
	if err != nil {
		return "", "", false, fmt.Errorf("read tryboot flag: %w", err)
	}
	cur, oth, err := t.byNumber(int(part))
	if err != nil {
		return "", "", false, err
	}
	trial = try == 1
	if trial {
		if b, err := durable.ReadFile(t.FS, t.Autoboot); err == nil {
			if ab, err := ParseAutoboot(b); err == nil && ab.Default == cur.Number {
				trial = false
			}
		}
	}
	return cur.Name, oth.Name, trial, nil
}

// OpenTarget opens where a payload of type typ goes in slot, refusing the booted slot.
func (t *Tryboot) OpenTarget(ctx context.Context, slot, typ string) (durable.File, error) {
	cur, _, _, err := t.Booted(ctx)
	if err != nil {
		return nil, err
	}
	if slot == cur {
		return nil, fmt.Errorf("%w: %s", ErrBootedSlot, slot)
	}
	p, _, err := t.byName(slot)
	if err != nil {
		return nil, err
	}
	path, ok := p.Targets[typ]
	if !ok && p.TargetDir != "" {
		path, ok = filepath.Join(p.TargetDir, typ), true
	}
	if !ok {
		return nil, fmt.Errorf("%w: slot %s, type %s", ErrNoTarget, slot, typ)
	}
	_, statErr := t.FS.Stat(path)
	f, err := t.FS.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open slot %s target %s: %w", slot, path, err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// A new file (file slots): its name must survive a power cut like its data.
		if err := durable.SyncDir(t.FS, filepath.Dir(path)); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// TryBoot makes sure autoboot.txt names slot as the tryboot partition and reboots with the
// one-shot tryboot flag.
func (t *Tryboot) TryBoot(ctx context.Context, slot string) error {
	cur, _, _, err := t.Booted(ctx)
	if err != nil {
		return err
	}
	if slot == cur {
		return fmt.Errorf("try boot: %w: %s", ErrBootedSlot, slot)
	}
	def, try, err := t.byName(cur)
	if err != nil {
		return err
	}
	if err := t.writeAutoboot(def.Number, try.Number); err != nil {
		return err
	}
	return t.reboot(ctx, "0 tryboot")
}

// Commit makes slot the default by rewriting autoboot.txt in place. It must run in a trial
// boot of that slot.
func (t *Tryboot) Commit(ctx context.Context, slot string) error {
	cur, _, trial, err := t.Booted(ctx)
	if err != nil {
		return err
	}
	if cur != slot || !trial {
		return fmt.Errorf("commit %s: %w (booted %s, trial %v)", slot, ErrNotTrial, cur, trial)
	}
	def, other, err := t.byName(slot)
	if err != nil {
		return err
	}
	return t.writeAutoboot(def.Number, other.Number)
}

// RebootDefault restarts into the default slot.
func (t *Tryboot) RebootDefault(ctx context.Context) error { return t.reboot(ctx, "") }

// writeAutoboot rewrites autoboot.txt in place at its fixed size unless it already says
// this, syncs it and reads it back.
func (t *Tryboot) writeAutoboot(def, try int) error {
	want := FormatAutoboot(def, try)
	if old, err := durable.ReadFile(t.FS, t.Autoboot); err == nil && bytes.Equal(old, want) {
		return nil
	}
	f, err := t.FS.OpenFile(t.Autoboot, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open autoboot.txt: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteAt(want, 0); err != nil {
		return fmt.Errorf("write autoboot.txt: %w", err)
	}
	if st, err := f.Stat(); err == nil && st.Size() != int64(len(want)) {
		if err := f.Truncate(int64(len(want))); err != nil {
			return fmt.Errorf("truncate autoboot.txt: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync autoboot.txt: %w", err)
	}
	got := make([]byte, len(want)+1)
	n, _ := f.ReadAt(got, 0)
	if !bytes.Equal(got[:n], want) {
		return fmt.Errorf("%w: read back differs from what was written", ErrBadAutoboot)
	}
	return nil
}

// FormatAutoboot returns the fixed-size autoboot.txt that boots partition def and, on a
// tryboot, partition try.
func FormatAutoboot(def, try int) []byte {
	s := fmt.Sprintf("[all]\ntryboot_a_b=1\nboot_partition=%d\n[tryboot]\nboot_partition=%d\n", def, try)
	pad := "# chargegate: fixed size, rewritten in place"
	s += pad + strings.Repeat(" ", max(0, AutobootSize-len(s)-len(pad)-1)) + "\n"
	return []byte(s)
}

// Autoboot is what autoboot.txt tells the firmware.
type Autoboot struct {
	TrybootAB bool // tryboot_a_b=1
	Default   int  // boot_partition under [all] (or before any section)
	Tryboot   int  // boot_partition under [tryboot]; 0 if none
}

// ParseAutoboot reads autoboot.txt the way the firmware does for the settings Tryboot uses:
// [all], [none] and [tryboot] sections, comments, key=value lines.
func ParseAutoboot(b []byte) (Autoboot, error) {
	var a Autoboot
	if len(b) > 512 {
		return a, fmt.Errorf("%w: %d bytes, the firmware reads 512", ErrBadAutoboot, len(b))
	}
	section := "all"
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return a, fmt.Errorf("%w: line %q", ErrBadAutoboot, line)
		}
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || n < 0 || n > maxPartition {
			return a, fmt.Errorf("%w: %s=%s: not a partition number", ErrBadAutoboot, key, val)
		}
		switch {
		case section == "all" && key == "tryboot_a_b":
			a.TrybootAB = n == 1
		case section == "all" && key == "boot_partition":
			a.Default = n
		case section == "tryboot" && key == "boot_partition":
			a.Tryboot = n
		}
	}
	if a.Default == 0 {
		return a, fmt.Errorf("%w: no boot_partition", ErrBadAutoboot)
	}
	return a, nil
}

// RaspberryPi returns the Tryboot backend for the rpi-image-gen A/B layout (image-rota):
// autoboot.txt on the bootconfig partition mounted at /boot/bootconfig, slot A booting
// partition 2 and slot B partition 3, each slot's root filesystem written through its
// partition label (system_a, system_b), and the firmware's properties under
// /proc/device-tree/chosen/bootloader. Change any field for another layout.
func RaspberryPi() *Tryboot {
	return &Tryboot{
		FS:            durable.OS{},
		Autoboot:      "/boot/bootconfig/autoboot.txt",
		BootloaderDir: "/proc/device-tree/chosen/bootloader",
		Slots: [2]Partition{
			{Name: "A", Number: 2, Targets: map[string]string{"rootfs": "/dev/disk/by-partlabel/system_a"}},
			{Name: "B", Number: 3, Targets: map[string]string{"rootfs": "/dev/disk/by-partlabel/system_b"}},
		},
	}
}
