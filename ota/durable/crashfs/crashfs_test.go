package crashfs_test

import (
	"errors"
	"os"
	"testing"

	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/durable/crashfs"
)

func TestUnsyncedWritesVanish(t *testing.T) {
	fs := crashfs.New()
	must(t, fs.MkdirAll("/d", 0o755))
	f, err := fs.OpenFile("/d/f", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	f.Write([]byte("synced"))
	must(t, f.Sync())
	must(t, durable.SyncDir(fs, "/d"))
	f.WriteAt([]byte("LOST"), 0)
	fs.PowerCycle()
	got, err := durable.ReadFile(fs, "/d/f")
	if err != nil || string(got) != "synced" {
		t.Fatalf("after power cut: %q %v", got, err)
	}
}

func TestNewNameNeedsDirSync(t *testing.T) {
	fs := crashfs.New()
	must(t, fs.MkdirAll("/d", 0o755))
	f, err := fs.OpenFile("/d/new", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	f.Write([]byte("data"))
	must(t, f.Sync()) // data synced, name not
	fs.PowerCycle()
	if _, err := fs.Stat("/d/new"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file whose directory was never synced survived: %v", err)
	}
}

func TestRenameWithoutFileSyncLosesData(t *testing.T) {
	fs := crashfs.New()
	must(t, fs.MkdirAll("/d", 0o755))
	must(t, durable.WriteFile(fs, "/d/state", []byte("old"), 0o600))
	f, _ := fs.OpenFile("/d/tmp", os.O_RDWR|os.O_CREATE, 0o600)
	f.Write([]byte("new"))
	must(t, fs.Rename("/d/tmp", "/d/state"))
	must(t, durable.SyncDir(fs, "/d")) // the classic bug: no fsync of the file before rename
	fs.PowerCycle()
	got, _ := durable.ReadFile(fs, "/d/state")
	if string(got) != "" {
		t.Fatalf("renamed unsynced file kept %q; the model must lose it", got)
	}
}

func TestCutAt(t *testing.T) {
	fs := crashfs.New()
	must(t, fs.MkdirAll("/d", 0o755))
	fs.CutAt(3)
	for i := 0; ; i++ {
		err := durable.WriteFile(fs, "/d/x", []byte("v"), 0o644)
		if errors.Is(err, crashfs.ErrPowerCut) {
			break
		}
		must(t, err)
		if i > 3 {
			t.Fatal("power never failed")
		}
	}
	select {
	case <-fs.Cut():
	default:
		t.Fatal("Cut channel not closed")
	}
	if fs.Ops() != 3 {
		t.Fatalf("cut after %d operations, want 3", fs.Ops())
	}
	fs.PowerCycle()
	if err := durable.WriteFile(fs, "/d/x", []byte("v"), 0o644); err != nil {
		t.Fatalf("after power returns: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
