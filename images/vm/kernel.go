package vm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Kernel is a Debian kernel image with its module tree.
type Kernel struct {
	Arch    string // amd64 | arm64
	Version string // e.g. 6.1.0-57-amd64
	Image   string // vmlinuz file
	Modules string // lib/modules/<Version> directory holding modules.dep
}

// ErrNoKernel reports that the kernel package is not installed: `make deps` installs it.
var ErrNoKernel = errors.New("no Debian kernel with modules found")

// FindKernel finds the newest Debian kernel of arch (amd64, arm64) under root: a
// boot/vmlinuz-*-<arch> whose lib/modules directory has a modules.dep. root is "/" for the
// host's own linux-image-amd64, or the directory fetch-arm64.sh unpacked linux-image-arm64 into.
func FindKernel(root, arch string) (Kernel, error) {
	images, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*-"+arch))
	sort.Sort(sort.Reverse(sort.StringSlice(images)))
	for _, img := range images {
		ver := strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		for _, mods := range []string{filepath.Join(root, "lib", "modules", ver), filepath.Join(root, "usr", "lib", "modules", ver)} {
			if _, err := os.Stat(filepath.Join(mods, "modules.dep")); err == nil {
				return Kernel{Arch: arch, Version: ver, Image: img, Modules: mods}, nil
			}
		}
	}
	return Kernel{}, fmt.Errorf("%s kernel under %s: %w", arch, root, ErrNoKernel)
}

// AddModules copies the named modules (by file name without .ko, e.g. "virtio_blk") and
// everything they depend on, per modules.dep, into /lib/modules/ of fs, and returns the file
// names in an order in which insmod can load them (dependencies first). Debian's kernels build
// virtio, ext4 and their helpers as modules, and an initramfs has no modprobe to load them.
func (k Kernel) AddModules(fs *Initramfs, names ...string) ([]string, error) {
	deps, err := readModulesDep(filepath.Join(k.Modules, "modules.dep"))
	if err != nil {
		return nil, err
	}
	byName := map[string]string{} // module name → relative path
	for rel := range deps {
		byName[moduleName(rel)] = rel
	}
	var order []string
	done := map[string]bool{}
	var load func(rel string)
	load = func(rel string) {
		if done[rel] {
			return
		}
		done[rel] = true
		for _, d := range deps[rel] {
			load(d)
		}
		order = append(order, path.Base(rel))
		fs.AddFile("/lib/modules/"+path.Base(rel), filepath.Join(k.Modules, rel), 0o644)
	}
	for _, n := range names {
		rel, ok := byName[n]
		if !ok {
			// Built into this kernel: nothing to load.
			if builtin, _ := os.ReadFile(filepath.Join(k.Modules, "modules.builtin")); strings.Contains(string(builtin), "/"+n+".ko") {
				continue
			}
			return nil, fmt.Errorf("module %s: not in %s", n, k.Modules)
		}
		load(rel)
	}
	return order, nil
}

func moduleName(rel string) string {
	n := path.Base(rel)
	if i := strings.Index(n, ".ko"); i >= 0 {
		n = n[:i]
	}
	return strings.ReplaceAll(n, "-", "_")
}

func readModulesDep(p string) (map[string][]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read module dependencies: %w", err)
	}
	defer f.Close()
	deps := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[mod] = strings.Fields(rest)
	}
	return deps, sc.Err()
}

// Uncompressed returns k booting from the ELF vmlinux inside its compressed x86 bzImage,
// extracted once into cacheDir. QEMU boots such an ELF through its PVH entry point
// (CONFIG_PVH), which skips both the firmware's copy of the bzImage and the guest's own xz
// decompression: under TCG that is seconds per boot. Debian's amd64 kernels are xz-compressed;
// the xz program (xz-utils) does the work.
func (k Kernel) Uncompressed(cacheDir string) (Kernel, error) {
	fi, err := os.Stat(k.Image)
	if err != nil {
		return k, fmt.Errorf("kernel image: %w", err)
	}
	out := filepath.Join(cacheDir, fmt.Sprintf("vmlinux-%s-%d-%d", k.Version, fi.Size(), fi.ModTime().Unix()))
	if _, err := os.Stat(out); err == nil {
		k.Image = out
		return k, nil
	}
	b, err := os.ReadFile(k.Image)
	if err != nil {
		return k, fmt.Errorf("read kernel image: %w", err)
	}
	i := bytes.Index(b, []byte("\xfd7zXZ\x00"))
	if i < 0 {
		return k, fmt.Errorf("%s: no xz stream in the kernel image", k.Image)
	}
	cmd := exec.Command("xz", "-dc", "--single-stream")
	cmd.Stdin = bytes.NewReader(b[i:])
	elfBytes, err := cmd.Output()
	if err != nil {
		return k, fmt.Errorf("decompress %s with xz: %w", k.Image, err)
	}
	if !bytes.HasPrefix(elfBytes, []byte("\x7fELF")) {
		return k, fmt.Errorf("%s: the xz stream is not an ELF kernel", k.Image)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return k, err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, elfBytes, 0o644); err != nil {
		return k, fmt.Errorf("write vmlinux: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return k, err
	}
	k.Image = out
	return k, nil
}
