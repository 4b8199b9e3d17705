package ota_test

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
)

type entry struct {
	hdr  tar.Header
	data []byte
}

func entries(t *testing.T, b []byte) []entry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out []entry
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		must(t, err)
		data, err := io.ReadAll(tr)
		must(t, err)
		out = append(out, entry{hdr: *h, data: data})
	}
}

func pack(t *testing.T, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := e.hdr
		h.Size = int64(len(e.data))
		must(t, tw.WriteHeader(&h))
		_, err := tw.Write(e.data)
		must(t, err)
	}
	must(t, tw.Close())
	return buf.Bytes()
}

// rewrite applies f to a good bundle's entries and packs them again.
func rewrite(t *testing.T, f func([]entry) []entry) []byte {
	b, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 2, size: slotSize})
	return pack(t, f(entries(t, b)))
}

// TestMaliciousBundles: each is rejected with a clear error, the device keeps booting the
// old slot, nothing reboots, and the booted slot is never touched.
func TestMaliciousBundles(t *testing.T) {
	cases := []struct {
		name  string
		make  func(t *testing.T) []byte
		floor bool // first commit an update with security version 5
		want  error
	}{
		{name: "unsigned", want: bundle.ErrUnsigned, make: func(t *testing.T) []byte {
			return rewrite(t, func(es []entry) []entry { es[1].data = []byte(`{"signatures":[]}`); return es })
		}},
		{name: "unknown key", want: bundle.ErrUnknownKey, make: func(t *testing.T) []byte {
			b, _ := makeBundle(t, bundleSpec{version: "2.0.0", size: slotSize, keys: []ed25519.PrivateKey{testKey("attacker")}})
			return b
		}},
		{name: "tampered manifest", want: bundle.ErrBadSignature, make: func(t *testing.T) []byte {
			return rewrite(t, func(es []entry) []entry {
				es[0].data = bytes.Replace(es[0].data, []byte(`"security_version": 2`), []byte(`"security_version": 9`), 1)
				return es
			})
		}},
		{name: "tampered chunk", want: bundle.ErrChunkMismatch, make: func(t *testing.T) []byte {
			return rewrite(t, func(es []entry) []entry { es[2].data[1500] ^= 1; return es })
		}},
		{name: "downgrade", want: ota.ErrDowngrade, floor: true, make: func(t *testing.T) []byte {
			b, _ := makeBundle(t, bundleSpec{version: "1.9.0", secVersion: 4, size: slotSize})
			return b
		}},
		{name: "wrong hardware", want: ota.ErrIncompatible, make: func(t *testing.T) []byte {
			b, _ := makeBundle(t, bundleSpec{version: "2.0.0", compatible: []string{"rpi3"}, size: slotSize})
			return b
		}},
		{name: "truncated", want: bundle.ErrTruncated, make: func(t *testing.T) []byte {
			b, _ := makeBundle(t, bundleSpec{version: "2.0.0", size: slotSize})
			return b[:len(b)-2048]
		}},
		{name: "path traversal", want: bundle.ErrMalformed, make: func(t *testing.T) []byte {
			return rewrite(t, func(es []entry) []entry {
				evil := entry{hdr: tar.Header{Name: "payloads/../../slots/a/rootfs", Mode: 0o644, Typeflag: tar.TypeReg}, data: []byte("pwned")}
				return append(es[:2], append([]entry{evil}, es[2:]...)...)
			})
		}},
		{name: "symlink payload", want: bundle.ErrMalformed, make: func(t *testing.T) []byte {
			return rewrite(t, func(es []entry) []entry {
				es[2] = entry{hdr: tar.Header{Name: "payloads/rootfs", Typeflag: tar.TypeSymlink, Linkname: "/slots/a/rootfs"}}
				return es
			})
		}},
		{name: "extra entry", want: bundle.ErrMalformed, make: func(t *testing.T) []byte {
			return rewrite(t, func(es []entry) []entry {
				return append(es, entry{hdr: tar.Header{Name: "postinstall.sh", Mode: 0o755, Typeflag: tar.TypeReg}, data: []byte("rm -rf /")})
			})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDevice(t)
			slotA := "/slots/a/rootfs"
			if tc.floor {
				good, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 5, size: slotSize})
				d.valid(payload("2.0.0", slotSize))
				if s, booted := d.runToEnd(serve(t, good, nil).URL, 4); s.State != ota.StateCommitted || booted != "B" || s.SecurityFloor != 5 {
					t.Fatalf("setup update: %+v, booted %s", s, booted)
				}
				d.modify = func(c *ota.Config) { c.Version = "2.0.0" }
				slotA = "/slots/b/rootfs" // B is now the booted slot
			}
			before, err := durable.ReadFile(d.fs, slotA)
			must(t, err)
			reboots := d.fw.RebootRequests()
			s, _ := d.runToEnd(serve(t, tc.make(t), nil).URL, 2)
			if s.State != ota.StateFailed || !strings.Contains(s.Error, tc.want.Error()) {
				t.Fatalf("ended %s with %q; want failed with %q", s.State, s.Error, tc.want)
			}
			if d.fw.RebootRequests() != reboots {
				t.Fatal("rebooted for a rejected bundle")
			}
			after, err := durable.ReadFile(d.fs, slotA)
			must(t, err)
			if !bytes.Equal(before, after) {
				t.Fatal("the booted slot changed")
			}
			if tc.floor && s.SecurityFloor != 5 {
				t.Fatalf("floor %d after a rejected downgrade, want 5", s.SecurityFloor)
			}
		})
	}
}

// TestTamperedChunkNeverWritten: the bytes of a chunk that fails its hash never reach the
// inactive slot.
func TestTamperedChunkNeverWritten(t *testing.T) {
	var bad []byte
	b := rewrite(t, func(es []entry) []entry {
		es[2].data[1024+7] ^= 0x55 // chunk 1
		bad = es[2].data[1024:2048]
		return es
	})
	d := newDevice(t)
	s, _ := d.runToEnd(serve(t, b, nil).URL, 2)
	if s.State != ota.StateFailed {
		t.Fatalf("ended %+v", s)
	}
	got, err := durable.ReadFile(d.fs, "/slots/b/rootfs")
	must(t, err)
	if len(got) >= 2048 && bytes.Equal(got[1024:2048], bad) {
		t.Fatal("the tampered chunk was written to the slot")
	}
	if want := payload("2.0.0", slotSize)[:1024]; !bytes.Equal(got[:1024], want) {
		t.Fatal("the good chunk before it is missing")
	}
}

// TestKeyRotation: a bundle signed by the old and the new key installs on a device that
// trusts either one.
func TestKeyRotation(t *testing.T) {
	oldKey, newKey := testKey("release"), testKey("release-2027")
	b, _ := makeBundle(t, bundleSpec{version: "2.0.0", secVersion: 1, size: slotSize, keys: []ed25519.PrivateKey{oldKey, newKey}})
	for _, keys := range [][]ed25519.PrivateKey{{oldKey}, {newKey}} {
		d := newDevice(t)
		d.valid(payload("2.0.0", slotSize))
		d.modify = func(c *ota.Config) { c.TrustedKeys = trusted(keys...) }
		if s, booted := d.runToEnd(serve(t, b, nil).URL, 4); s.State != ota.StateCommitted || booted != "B" {
			t.Fatalf("trusting %s: ended %+v, booted %s", bundle.KeyID(keys[0].Public().(ed25519.PublicKey)), s, booted)
		}
	}
}
