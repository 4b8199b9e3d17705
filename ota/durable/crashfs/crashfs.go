// Package crashfs is an in-memory durable.FS that loses power on demand. It keeps two views
// of every file: what the running system sees, and what survived the last sync. A power cut
// throws the first away: unsynced writes vanish, and names created, renamed or removed since
// their directory was last synced revert. Writes are never torn: a write either reaches the
// synced view whole (after Sync) or not at all — the model of a disk with atomic sectors
// for the small in-place writes the updater does (autoboot.txt is one sector).
package crashfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chargegate/chargegate/ota/durable"
)

// ErrPowerCut is returned by every operation from the cut on.
var ErrPowerCut = errors.New("crashfs: power cut")

type node struct {
	live   []byte
	synced []byte
	mode   fs.FileMode
}

// FS is the filesystem. The zero value is not usable; call New.
type FS struct {
	mu      sync.Mutex
	live    map[string]*node // names the running system sees
	durable map[string]*node // names that survive a power cut
	dirs    map[string]bool
	ops     int           // mutating operations so far
	cutAt   int           // cut power at this operation (0: never)
	dead    bool          // power is off
	cut     chan struct{} // closed when power is cut
}

// New returns an empty filesystem with the root directory.
func New() *FS {
	return &FS{live: map[string]*node{}, durable: map[string]*node{}, dirs: map[string]bool{"/": true}, cut: make(chan struct{})}
}

// CutAt arranges for power to fail at the n-th mutating operation from now (n >= 1): that
// operation and everything after it fail with ErrPowerCut. n = 0 disarms.
func (c *FS) CutAt(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops, c.cutAt = 0, n
}

// Ops returns how many mutating operations ran since the last CutAt.
func (c *FS) Ops() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops
}

// Cut returns a channel closed when power fails.
func (c *FS) Cut() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut
}

// PowerCycle simulates power returning after a cut (or a hard reset): every unsynced change
// is lost, and the filesystem works again, disarmed.
func (c *FS) PowerCycle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = map[string]*node{}
	for name, n := range c.durable {
		n.live = append([]byte(nil), n.synced...)
		c.live[name] = n
	}
	c.cutAt = 0 // one cut per arming
	c.restart()
}

// PowerCycleKeeping simulates power returning after a cut where the disk had written out
// everything the system wrote before the cut, synced or not (the other extreme from
// PowerCycle). The operation that hit the cut still did not happen.
func (c *FS) PowerCycleKeeping() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flush()
	c.cutAt = 0
	c.restart()
}

// Reboot simulates a clean reboot: the kernel syncs every file and directory first. A cut
// armed with CutAt stays armed, counting on.
func (c *FS) Reboot() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dead {
		c.flush()
	}
	c.restart()
}

// flush makes everything the running system sees durable.
func (c *FS) flush() {
	c.durable = map[string]*node{}
	for name, n := range c.live {
		n.synced = append([]byte(nil), n.live...)
		c.durable[name] = n
	}
}

func (c *FS) restart() {
	c.dead = false
	c.cut = make(chan struct{})
}

// step counts a mutating operation and reports whether power is (now) off.
func (c *FS) step() error {
	if c.dead {
		return ErrPowerCut
	}
	c.ops++
	if c.cutAt > 0 && c.ops >= c.cutAt {
		c.dead = true
		close(c.cut)
		return ErrPowerCut
	}
	return nil
}

func clean(name string) string { return filepath.Clean("/" + name) }

func (c *FS) pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// MkdirAll creates a directory and its parents; directories are durable at once.
func (c *FS) MkdirAll(name string, _ fs.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return ErrPowerCut
	}
	for d := clean(name); ; d = filepath.Dir(d) {
		if _, isFile := c.live[d]; isFile {
			return c.pathErr("mkdir", d, fs.ErrExist)
		}
		c.dirs[d] = true
		if d == "/" {
			return nil
		}
	}
}

// Stat describes a file or directory.
func (c *FS) Stat(name string) (fs.FileInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return nil, ErrPowerCut
	}
	name = clean(name)
	if c.dirs[name] {
		return info{name: filepath.Base(name), mode: fs.ModeDir | 0o755}, nil
	}
	n, ok := c.live[name]
	if !ok {
		return nil, c.pathErr("stat", name, fs.ErrNotExist)
	}
	return info{name: filepath.Base(name), size: int64(len(n.live)), mode: n.mode}, nil
}

// OpenFile opens a file (O_CREATE, O_TRUNC, O_EXCL honoured) or a directory (for Sync).
func (c *FS) OpenFile(name string, flag int, perm fs.FileMode) (durable.File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return nil, ErrPowerCut
	}
	name = clean(name)
	if c.dirs[name] {
		return &file{fs: c, name: name, dir: true}, nil
	}
	if !c.dirs[filepath.Dir(name)] {
		return nil, c.pathErr("open", name, fs.ErrNotExist)
	}
	n, ok := c.live[name]
	switch {
	case !ok && flag&os.O_CREATE == 0:
		return nil, c.pathErr("open", name, fs.ErrNotExist)
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, c.pathErr("open", name, fs.ErrExist)
	case !ok:
		if err := c.step(); err != nil {
			return nil, err
		}
		n = &node{mode: perm}
		c.live[name] = n
	case flag&os.O_TRUNC != 0:
		if err := c.step(); err != nil {
			return nil, err
		}
		n.live = nil
	}
	return &file{fs: c, name: name, n: n, writable: flag&(os.O_WRONLY|os.O_RDWR) != 0}, nil
}

// Rename moves a name; the move is durable once both directories are synced.
func (c *FS) Rename(oldname, newname string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	oldname, newname = clean(oldname), clean(newname)
	n, ok := c.live[oldname]
	if !ok && !c.dead {
		return c.pathErr("rename", oldname, fs.ErrNotExist)
	}
	if err := c.step(); err != nil {
		return err
	}
	delete(c.live, oldname)
	c.live[newname] = n
	return nil
}

// Remove deletes a name; the removal is durable once its directory is synced.
func (c *FS) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = clean(name)
	if _, ok := c.live[name]; !ok && !c.dead {
		return c.pathErr("remove", name, fs.ErrNotExist)
	}
	if err := c.step(); err != nil {
		return err
	}
	delete(c.live, name)
	return nil
}

// Synced returns the content of name as it would be after a power cut.
func (c *FS) Synced(name string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.durable[clean(name)]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), n.synced...), true
}

// Names lists the names a running system sees, sorted (for test failure messages).
func (c *FS) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name := range c.live {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

type file struct {
	fs       *FS
	name     string
	n        *node
	dir      bool
	writable bool
	off      int64
	closed   bool
}

func (f *file) check(write bool) error {
	if f.fs.dead {
		return ErrPowerCut
	}
	if f.closed {
		return f.fs.pathErr("use", f.name, fs.ErrClosed)
	}
	if f.dir && write {
		return f.fs.pathErr("write", f.name, errors.New("is a directory"))
	}
	if write && !f.writable {
		return f.fs.pathErr("write", f.name, fs.ErrPermission)
	}
	return nil
}

func (f *file) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return 0, err
	}
	if f.dir {
		return 0, f.fs.pathErr("read", f.name, errors.New("is a directory"))
	}
	if f.off >= int64(len(f.n.live)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.live[f.off:])
	f.off += int64(n)
	return n, nil
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return 0, err
	}
	if f.dir || off < 0 {
		return 0, f.fs.pathErr("readat", f.name, fs.ErrInvalid)
	}
	if off >= int64(len(f.n.live)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.live[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *file) writeAt(p []byte, off int64) error {
	if err := f.check(true); err != nil {
		return err
	}
	if off < 0 {
		return f.fs.pathErr("write", f.name, fs.ErrInvalid)
	}
	if err := f.fs.step(); err != nil {
		return err
	}
	if end := off + int64(len(p)); end > int64(len(f.n.live)) {
		f.n.live = append(f.n.live, make([]byte, end-int64(len(f.n.live)))...)
	}
	copy(f.n.live[off:], p)
	return nil
}

func (f *file) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.writeAt(p, f.off); err != nil {
		return 0, err
	}
	f.off += int64(len(p))
	return len(p), nil
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.writeAt(p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (f *file) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(true); err != nil {
		return err
	}
	if err := f.fs.step(); err != nil {
		return err
	}
	if size <= int64(len(f.n.live)) {
		f.n.live = f.n.live[:size]
	} else {
		f.n.live = append(f.n.live, make([]byte, size-int64(len(f.n.live)))...)
	}
	return nil
}

// Sync makes a file's content durable, or for a directory the names directly inside it.
func (f *file) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return err
	}
	if err := f.fs.step(); err != nil {
		return err
	}
	if !f.dir {
		f.n.synced = append([]byte(nil), f.n.live...)
		return nil
	}
	prefix := strings.TrimSuffix(f.name, "/") + "/"
	for name := range f.fs.durable {
		if filepath.Dir(name) == f.name {
			if _, ok := f.fs.live[name]; !ok {
				delete(f.fs.durable, name)
			}
		}
	}
	for name, n := range f.fs.live {
		if strings.HasPrefix(name, prefix) && filepath.Dir(name) == f.name {
			f.fs.durable[name] = n
		}
	}
	return nil
}

func (f *file) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.closed = true
	return nil
}

func (f *file) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.dir {
		return info{name: filepath.Base(f.name), mode: fs.ModeDir | 0o755}, nil
	}
	return info{name: filepath.Base(f.name), size: int64(len(f.n.live)), mode: f.n.mode}, nil
}

type info struct {
	name string
	size int64
	mode fs.FileMode
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.size }
func (i info) Mode() fs.FileMode  { return i.mode }
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return i.mode.IsDir() }
func (i info) Sys() any           { return nil }
