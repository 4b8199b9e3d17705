package vm_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chargegate/chargegate/images/vm"
)

// TestInitramfsExtractsWithCpio checks the archive against another implementation of the newc
// format: GNU cpio must unpack the same tree — parents made by themselves, modes, a symlink —
// and the same tree must always give the same bytes.
func TestInitramfsExtractsWithCpio(t *testing.T) {
	need(t, "cpio")
	src := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func() []byte {
		fs := vm.NewInitramfs()
		fs.AddBytes("/etc/vm/token", []byte("secret\n"), 0o600)
		fs.AddFile("/bin/prog", src, 0o755)
		fs.AddSymlink("/usr/bin/prog", "/bin/prog")
		fs.AddBytes("/odd", []byte("abc"), 0o644) // a length that needs padding
		var b bytes.Buffer
		if _, err := fs.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	archive := build()
	if !bytes.Equal(archive, build()) {
		t.Error("the same tree gave different archives")
	}
	dir := t.TempDir()
	cmd := exec.Command("cpio", "-idm", "--quiet", "--no-absolute-filenames")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(archive)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	for _, c := range []struct {
		path string
		want string
		mode os.FileMode
	}{
		{"etc/vm/token", "secret\n", 0o600},
		{"bin/prog", "#!/bin/sh\necho hi\n", 0o755},
		{"odd", "abc", 0o644},
	} {
		fi, err := os.Stat(filepath.Join(dir, c.path))
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		got, _ := os.ReadFile(filepath.Join(dir, c.path))
		if string(got) != c.want || fi.Mode().Perm() != c.mode {
			t.Errorf("%s = %q mode %v; want %q mode %v", c.path, got, fi.Mode().Perm(), c.want, c.mode)
		}
	}
	if target, err := os.Readlink(filepath.Join(dir, "usr/bin/prog")); err != nil || target != "/bin/prog" {
		t.Errorf("usr/bin/prog links to %q (%v), want /bin/prog", target, err)
	}
}
