package vm_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chargegate/chargegate/images/vm"
)

// fetchArm64 serialises the parallel tests' fetches of the arm64 files.
var fetchArm64 sync.Mutex

// arm64Root returns the directory holding Debian's arm64 kernel and busybox-static, fetching
// them with fetch-arm64.sh (apt-get download, dpkg-deb -x) when the cache lacks them.
func arm64Root(tb testing.TB) string {
	tb.Helper()
	fetchArm64.Lock()
	defer fetchArm64.Unlock()
	dir := filepath.Join(cacheDir(tb), "arm64")
	root := filepath.Join(dir, "root")
	if _, err := os.Stat(filepath.Join(root, ".complete")); err == nil {
		return root
	}
	need(tb, "apt-get", "dpkg-deb", "depmod")
	if out, err := exec.Command("./fetch-arm64.sh", dir).CombinedOutput(); err != nil {
		tb.Fatalf("fetch Debian's arm64 kernel: %v\n%s", err, out)
	}
	return root
}

// TestBootArm64 boots the appliance's architecture: Debian's arm64 kernel in
// qemu-system-aarch64 -M virt (TCG), an initramfs with busybox and the cross-compiled (cgo)
// chargegate and metersim, the data on a virtio disk. The gateway must come up, commit entries
// that the host can read back from the disk image, and the chain must verify there.
// make vm runs it alone and prints the boot times.
func TestBootArm64(t *testing.T) {
	t.Parallel()
	need(t, "qemu-system-aarch64", "aarch64-linux-gnu-gcc", "mkfs.ext4", "e2fsck", "debugfs")
	root := arm64Root(t)
	kernel, err := vm.FindKernel(root, "arm64")
	if err != nil {
		t.Fatal(err)
	}
	progs := buildPrograms(t, "arm64")
	host := buildPrograms(t, "amd64") // chargegate verify on the host
	work := t.TempDir()
	initrd := filepath.Join(work, "initrd.cpio")
	g := vm.Guest{
		Kernel: kernel, Busybox: filepath.Join(root, "bin", "busybox"),
		Chargegate: progs.path("chargegate"), Metersim: progs.path("metersim"), LibDirs: progs.libDirs,
		Config: guestConfig(200 * time.Millisecond), Token: guestToken,
	}
	if err := g.Build(initrd); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(work, "data.img")
	if err := vm.MakeDisk(disk, 64); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	m, err := vm.Start(t.Context(), vm.Config{Kernel: kernel, Initrd: initrd, Disk: disk, HostPort: port, GuestPort: 8080})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Kill()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	initLine, err := m.WaitLine(ctx, "vm: init")
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(m.Console(), 4000))
	}
	running, err := m.WaitLine(ctx, `"msg":"chargegate running"`)
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(m.Console(), 4000))
	}
	sc := newStatusClient(port)
	var st guestStatus
	for st.Entries < 3 {
		if st, err = sc.get(ctx, 2*time.Second); err != nil && ctx.Err() != nil {
			t.Fatalf("no three entries acknowledged: %v\n%s", err, tail(m.Console(), 4000))
		}
		select {
		case <-m.Done():
			t.Fatalf("the machine stopped:\n%s", tail(m.Console(), 4000))
		case <-time.After(100 * time.Millisecond):
		}
	}
	committed := time.Since(m.Started())
	m.Kill()

	data := filepath.Join(work, "data")
	if err := vm.ExtractDir(disk, "/chargegate", data); err != nil {
		t.Fatal(err)
	}
	code, out := runHost(t, host.path("chargegate"), "verify", "--data", filepath.Join(data, "chargegate"))
	if code != 0 {
		t.Fatalf("chargegate verify on the arm64 machine's disk = %d: %s", code, out)
	}
	entries, err := readEntries(t.Context(), filepath.Join(data, "chargegate"))
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(entries)) < st.Entries {
		t.Errorf("the disk holds %d entries; the gateway had acknowledged %d", len(entries), st.Entries)
	}
	msg := fmt.Sprintf("arm64 (%s, qemu-system-aarch64 -M virt, TCG): /init after %.2fs, gateway running after %.2fs, %d entries committed after %.2fs; disk: %s",
		kernel.Version, initLine.At.Seconds(), running.At.Seconds(), st.Entries, committed.Seconds(), out)
	t.Log(msg)
	fmt.Println("vm:", msg)
}
