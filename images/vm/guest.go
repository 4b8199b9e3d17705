package vm

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed init.sh
var initScript []byte

// Guest is what the test machine runs: busybox as the userland, metersim as the meter,
// `chargegate run` on the sim board with its data on /dev/vda (mounted at /data).
type Guest struct {
	Kernel     Kernel
	Busybox    string   // a static busybox of the kernel's architecture (Debian's busybox-static)
	Chargegate string   // the chargegate program
	Metersim   string   // the metersim program
	LibDirs    []string // host directories with the programs' shared libraries (see AddProgram)
	Config     []byte   // chargegate's configuration, /etc/vm/chargegate.yaml in the guest
	Token      string   // local API bearer token, /etc/vm/token (mode 0600)
	// Preload, when set, is a shared object loaded into chargegate (LD_PRELOAD). The power-cut
	// self-test uses one whose fsync returns at once, to prove the harness sees lost data.
	Preload string
	// Launcher, when set, is images/chargegate-launch: chargegate then runs from the update
	// slots on the data disk (/data/slots, slot A seeded from /usr/bin/chargegate), and when it
	// exits the machine reboots for real, as the box's service restart would start the new slot.
	Launcher string
	// Files are more files for the guest: guest path → host file (mode 0644).
	Files map[string]string
}

// Modules the guest loads: the virtio disk and network for its transport (PCI on amd64's pc
// machine, MMIO on arm64's virt machine), ext4, and crc32c, which ext4 and jbd2 ask the crypto
// API for by name (no modprobe in the initramfs to load it on request).
func guestModules(arch string) []string {
	transport := "virtio_pci"
	if arch == "arm64" {
		transport = "virtio_mmio"
	}
	return []string{transport, "virtio_blk", "virtio_net", "crc32c_generic", "ext4"}
}

// Build writes the guest's initramfs to p.
func (g Guest) Build(p string) error {
	fs := NewInitramfs()
	fs.AddBytes("/init", initScript, 0o755)
	fs.AddFile("/bin/busybox", g.Busybox, 0o755)
	for dst, src := range map[string]string{"/bin/chargegate": g.Chargegate, "/bin/metersim": g.Metersim} {
		if err := fs.AddProgram(dst, src, g.LibDirs...); err != nil {
			return err
		}
	}
	mods, err := g.Kernel.AddModules(fs, guestModules(g.Kernel.Arch)...)
	if err != nil {
		return err
	}
	fs.AddBytes("/etc/vm/modules", []byte(strings.Join(mods, "\n")+"\n"), 0o644)
	fs.AddBytes("/etc/vm/chargegate.yaml", g.Config, 0o644)
	fs.AddBytes("/etc/vm/token", []byte(g.Token+"\n"), 0o600)
	if g.Launcher != "" {
		fs.AddFile("/bin/chargegate-launch", g.Launcher, 0o755)
		fs.AddSymlink("/usr/bin/chargegate", "/bin/chargegate")
	}
	for dst, src := range g.Files {
		fs.AddFile(dst, src, 0o644)
	}
	if g.Preload != "" {
		fs.AddFile("/lib/vm-preload.so", g.Preload, 0o755)
	}
	return fs.WriteFile(p)
}

// MakeDisk creates a raw disk image of sizeMB holding an empty ext4 file system.
func MakeDisk(p string, sizeMB int) error {
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		return fmt.Errorf("create disk image: %w", err)
	}
	if err := os.Truncate(p, int64(sizeMB)<<20); err != nil {
		return fmt.Errorf("size disk image: %w", err)
	}
	// Inode tables and journal initialised now, so the guest's first mount does no lazy work.
	out, err := exec.Command("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", "-L", "data", p).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mkfs.ext4: %v: %s", err, out)
	}
	return nil
}

// ExtractDir copies the directory guestDir (an absolute path inside the file system) out of
// the ext4 disk image into hostDir, without root: it replays the journal on a copy of the
// image with e2fsck, as the guest's kernel would at mount, then dumps the directory with
// debugfs. The image itself is left as the power cut left it.
func ExtractDir(image, guestDir, hostDir string) error {
	work, err := os.MkdirTemp("", "vm-extract-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	cp := filepath.Join(work, "disk.img")
	if out, err := exec.Command("cp", "--sparse=always", image, cp).CombinedOutput(); err != nil {
		return fmt.Errorf("copy disk image: %v: %s", err, out)
	}
	// e2fsck exits 1 when it fixed something (a replayed journal) and 2 when a mounted system
	// should reboot; 4 and above are errors left uncorrected.
	out, err := exec.Command("e2fsck", "-fy", cp).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() >= 4) {
		return fmt.Errorf("e2fsck: %v: %s", err, out)
	}
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		return err
	}
	out, err = exec.Command("debugfs", "-R", "rdump "+guestDir+" "+hostDir, cp).CombinedOutput()
	if err != nil {
		return fmt.Errorf("debugfs rdump: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(hostDir, filepath.Base(guestDir))); err != nil {
		return fmt.Errorf("debugfs rdump %s: %s", guestDir, out)
	}
	return nil
}
