package ota_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/slot"
)

// BenchmarkDownloadInstall measures a whole update up to the trial restart on the real
// filesystem: HTTP download of an 8 MiB app bundle in 1 MiB chunks, per-chunk verify, write,
// fsync and state save, then the read-back verification of the slot.
func BenchmarkDownloadInstall(b *testing.B) {
	bb, _ := makeBundle(b, bundleSpec{version: "2.0.0", secVersion: 1, size: 8 << 20, chunk: 1 << 20, typ: bundle.TypeApp})
	srv := serve(b, bb, nil)
	b.SetBytes(int64(len(bb)))
	for b.Loop() {
		root := b.TempDir()
		os.MkdirAll(filepath.Join(root, "slots", "A"), 0o755)
		dirs := &slot.Dirs{FS: durable.OS{}, Root: filepath.Join(root, "slots")}
		if _, err := dirs.Launch(); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		dirs.Restart = func(context.Context) error { cancel(); return nil }
		a, err := ota.New(ota.Config{
			StateDir: filepath.Join(root, "state"), Slots: dirs, TrustedKeys: trusted(testKey("release")), Hardware: "rpi4",
			HealthCheck: func(context.Context) error { return nil }, PollInterval: time.Millisecond,
		}, &charging{})
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Update(ctx, srv.URL); err != nil {
			b.Fatal(err)
		}
		a.Run(ctx)
		if s := a.Status(); s.State != ota.StateInstalled {
			b.Fatalf("ended in %s: %s", s.State, s.Error)
		}
		cancel()
	}
}
