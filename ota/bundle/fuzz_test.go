package bundle_test

import (
	"bytes"
	"testing"

	"github.com/chargegate/chargegate/ota/bundle"
)

// FuzzVerify feeds arbitrary bytes to the bundle reader: it must never panic, and whatever
// it accepts must be signed by the trusted key and carry a valid manifest.
func FuzzVerify(f *testing.F) {
	good := goldenBundle(f)
	f.Add(good)
	f.Add(good[:1200])
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := bundle.Verify(bytes.NewReader(b), trustedGolden())
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid manifest: %v", err)
		}
	})
}

// FuzzManifest parses arbitrary manifest and signature bytes.
func FuzzManifest(f *testing.F) {
	es := splitGolden(f)
	f.Add(es[0], es[1])
	f.Add([]byte(`{"format":"chargegate-bundle/1"}`), []byte(`{"signatures":[]}`))
	f.Add([]byte(`{}`), []byte(`{"signatures":[{"key_id":"00","signature":"AA=="}]}`))
	f.Fuzz(func(t *testing.T, manifest, sig []byte) {
		if m, err := bundle.ParseManifest(manifest); err == nil {
			if err := m.Validate(); err != nil {
				t.Fatalf("parsed an invalid manifest: %v", err)
			}
			for _, p := range m.Payloads {
				if p.NumChunks() != int64(len(p.Chunks)) {
					t.Fatal("chunk count not checked")
				}
			}
		}
		m, keys, err := bundle.VerifyManifest(manifest, sig, trustedGolden())
		if err == nil && (len(keys) == 0 || m.Validate() != nil) {
			t.Fatal("verified without a trusted signature or with an invalid manifest")
		}
	})
}

func splitGolden(f *testing.F) [][]byte {
	r := bundle.NewReader(bytes.NewReader(goldenBundle(f)))
	_, raw, sig, err := r.Manifest(trustedGolden())
	if err != nil {
		f.Fatal(err)
	}
	return [][]byte{raw, sig}
}
