package vm

import (
	"bufio"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Initramfs is the file tree of an initial RAM filesystem, written as one uncompressed "newc"
// cpio archive (the format the kernel unpacks; see the kernel's
// Documentation/driver-api/early-userspace/buffer-format.rst). Parent directories are added
// by themselves. Uncompressed on purpose: under TCG the guest decompresses far slower than
// the host copies.
type Initramfs struct {
	entries map[string]cpioEntry // by absolute path inside the archive
}

type cpioEntry struct {
	mode uint32 // type and permission bits as in stat(2)
	data []byte // file contents or symlink target
	src  string // host file to copy instead of data
}

const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
)

// NewInitramfs returns an empty tree holding only "/".
func NewInitramfs() *Initramfs {
	return &Initramfs{entries: map[string]cpioEntry{"/": {mode: modeDir | 0o755}}}
}

func (fs *Initramfs) mkdirs(p string) {
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		if _, ok := fs.entries[d]; !ok {
			fs.entries[d] = cpioEntry{mode: modeDir | 0o755}
		}
	}
}

// AddFile copies the host file src to dst with permission bits perm.
func (fs *Initramfs) AddFile(dst, src string, perm os.FileMode) {
	dst = path.Clean("/" + dst)
	fs.mkdirs(dst)
	fs.entries[dst] = cpioEntry{mode: modeRegular | uint32(perm.Perm()), src: src}
}

// AddBytes stores b as the file dst with permission bits perm.
func (fs *Initramfs) AddBytes(dst string, b []byte, perm os.FileMode) {
	dst = path.Clean("/" + dst)
	fs.mkdirs(dst)
	fs.entries[dst] = cpioEntry{mode: modeRegular | uint32(perm.Perm()), data: b}
}

// AddSymlink makes dst a symbolic link to target.
func (fs *Initramfs) AddSymlink(dst, target string) {
	dst = path.Clean("/" + dst)
	fs.mkdirs(dst)
	fs.entries[dst] = cpioEntry{mode: modeSymlink | 0o777, data: []byte(target)}
}

// AddProgram copies the ELF program src to dst together with its program interpreter and every
// shared library it needs (recursively), each at the path the guest's dynamic loader looks
// for it. libDirs are the host directories holding the libraries of the program's
// architecture, searched in order: /lib/x86_64-linux-gnu for the host, /usr/aarch64-linux-gnu/lib
// for Debian's arm64 cross libraries. Reading ELF headers instead of running ldd works for
// programs of any architecture.
func (fs *Initramfs) AddProgram(dst, src string, libDirs ...string) error {
	fs.AddFile(dst, src, 0o755)
	seen := map[string]bool{}
	var walk func(file string) error
	walk = func(file string) error {
		f, err := elf.Open(file)
		if err != nil {
			return fmt.Errorf("read ELF %s: %w", file, err)
		}
		defer f.Close()
		if interp := elfInterpreter(f); interp != "" && !seen[interp] {
			seen[interp] = true
			host, err := findLib(path.Base(interp), libDirs)
			if err != nil {
				return fmt.Errorf("program interpreter of %s: %w", file, err)
			}
			fs.AddFile(interp, host, 0o755)
		}
		needed, err := f.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("shared libraries of %s: %w", file, err)
		}
		for _, lib := range needed {
			if seen[lib] {
				continue
			}
			seen[lib] = true
			host, err := findLib(lib, libDirs)
			if err != nil {
				return fmt.Errorf("library of %s: %w", file, err)
			}
			// /init sets LD_LIBRARY_PATH=/lib, whatever the loader's built-in search path.
			fs.AddFile("/lib/"+lib, host, 0o755)
			if err := walk(host); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(src)
}

func elfInterpreter(f *elf.File) string {
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return ""
			}
			return strings.TrimRight(string(b), "\x00")
		}
	}
	return ""
}

func findLib(name string, dirs []string) (string, error) {
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %v", name, dirs)
}

// WriteTo writes the archive: entries sorted by path, so that parents come first and the
// same tree always gives the same bytes.
func (fs *Initramfs) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &countWriter{w: bw}
	names := make([]string, 0, len(fs.entries))
	for n := range fs.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		e := fs.entries[n]
		data := e.data
		if e.src != "" {
			b, err := os.ReadFile(e.src)
			if err != nil {
				return cw.n, fmt.Errorf("read %s for the initramfs: %w", e.src, err)
			}
			data = b
		}
		name := strings.TrimPrefix(n, "/")
		if name == "" {
			name = "."
		}
		nlink := 1
		if e.mode&modeDir != 0 {
			nlink = 2
		}
		writeCPIO(cw, uint32(i+1), e.mode, nlink, name, data)
	}
	writeCPIO(cw, 0, 0, 1, "TRAILER!!!", nil)
	if cw.err != nil {
		return cw.n, cw.err
	}
	return cw.n, bw.Flush()
}

// writeCPIO writes one newc header, the NUL-terminated name and the data, each padded to 4 bytes.
func writeCPIO(w *countWriter, ino, mode uint32, nlink int, name string, data []byte) {
	fmt.Fprintf(w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	w.Write(append([]byte(name), 0))
	w.pad()
	w.Write(data)
	w.pad()
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

func (c *countWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.Write(make([]byte, 4-r))
	}
}

// WriteFile writes the archive to the host file p.
func (fs *Initramfs) WriteFile(p string) error {
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("create initramfs: %w", err)
	}
	if _, err := fs.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write initramfs: %w", err)
	}
	return f.Close()
}
