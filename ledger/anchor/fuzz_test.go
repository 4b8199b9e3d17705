package anchor_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	iotago "github.com/iotaledger/iota.go/v3"

	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

// FuzzDecode feeds arbitrary bytes to the anchor decoder: it must never panic, and whatever it
// accepts must re-encode to exactly the same bytes.
func FuzzDecode(f *testing.F) {
	key := ledgertest.NamedKey(f, "anchor")
	_, payload := signedAnchor(f, key, chain(key, 3), [32]byte{1})
	f.Add(payload)
	f.Add([]byte{})
	f.Add(make([]byte, anchor.PayloadSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := anchor.Decode(b)
		if err != nil {
			return
		}
		out, err := a.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded anchor does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, out)
		}
		_ = a.Verify(key.Public().(ed25519.PublicKey)) // must not panic
	})
}

// FuzzProof feeds arbitrary JSON to the proof reader and its offline checks (entry decoding,
// anchor decoding, Merkle path walking): they must never panic, and must reject anything that is
// not the golden proof with one byte changed in a checked field.
func FuzzProof(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "golden_v1.json"))
	if err != nil {
		f.Fatal(err)
	}
	var g struct {
		Proof json.RawMessage `json:"proof"`
	}
	if err := json.Unmarshal(golden, &g); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(g.Proof))
	f.Add([]byte(`{"format":"chargegate-proof/1","path":{"l":{"l":{"l":{}}}}}`))
	f.Add([]byte(`{}`))
	hostile, _ := hostileProof(f)
	f.Add(hostile)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p anchor.Proof
		if json.Unmarshal(b, &p) != nil {
			return
		}
		_, _ = p.Check()
		if p.PoI != nil && p.PoI.Block != nil {
			_ = p.PoI.CheckPath(iotago.BlockID{}) // recomputes the block's ID
		}
	})
}
