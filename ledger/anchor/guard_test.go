package anchor_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	iotago "github.com/iotaledger/iota.go/v3"

	"github.com/chargegate/chargegate/ledger/anchor"
)

// hostileProof is the golden chargegate-proof/2 with its inclusion proof's block payload
// replaced by {"type":6}: a payload that says transaction without being one, which makes
// iota.go v3.0.0-rc.3's JSON decoding dereference the missing essence.
func hostileProof(tb testing.TB) (proof, poi []byte) {
	tb.Helper()
	golden, err := os.ReadFile(filepath.Join("testdata", "golden_v2.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var g struct {
		Proof map[string]any `json:"proof"`
	}
	if err := json.Unmarshal(golden, &g); err != nil {
		tb.Fatal(err)
	}
	p := g.Proof["poi"].(map[string]any)
	p["block"].(map[string]any)["payload"] = map[string]any{"type": 6}
	proof, _ = json.Marshal(g.Proof)
	poi, _ = json.Marshal(p)
	return proof, poi
}

// TestHostileBlockJSONIsRefused: every way a proof's inclusion proof comes in from outside (a
// proof file, a stored anchor proof, a node's answer) refuses the hostile block as ErrFormat
// instead of panicking, and ErrFormat is an Invalid verdict.
func TestHostileBlockJSONIsRefused(t *testing.T) {
	proof, poi := hostileProof(t)

	var p anchor.Proof
	err := json.Unmarshal(proof, &p)
	if !errors.Is(err, anchor.ErrFormat) || !anchor.Invalid(err) {
		t.Errorf("proof file: %v, want an invalid ErrFormat", err)
	}

	dir := t.TempDir()
	ap := []byte(`{"format":"` + anchor.AnchorProofFormat + `","poi":` + string(poi) + `}`)
	if err := os.WriteFile(filepath.Join(dir, anchor.AnchorProofFileName(1, 7)), ap, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := anchor.ReadAnchorProof(dir, 1, 7); !errors.Is(err, anchor.ErrFormat) {
		t.Errorf("ReadAnchorProof: %v, want ErrFormat", err)
	}
	if _, err := anchor.LoadAnchorProofs(dir); !errors.Is(err, anchor.ErrFormat) {
		t.Errorf("LoadAnchorProofs: %v, want ErrFormat", err)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(poi)
	}))
	defer srv.Close()
	if _, err := anchor.FetchPoI(t.Context(), srv.Client(), srv.URL, iotago.BlockID{1}); !errors.Is(err, anchor.ErrFormat) {
		t.Errorf("FetchPoI: %v, want ErrFormat", err)
	}
}

// TestPoIDecodesStrictly: an inclusion proof is exactly what inx-poi answers; a field more is
// refused rather than ignored.
func TestPoIDecodesStrictly(t *testing.T) {
	good, _ := goldenV2(t)
	b, err := json.Marshal(good.PoI)
	if err != nil {
		t.Fatal(err)
	}
	var poi anchor.PoI
	if err := json.Unmarshal(b, &poi); err != nil {
		t.Fatalf("golden PoI: %v", err)
	}
	if err := poi.CheckPath(good.PoI.Block.MustID()); err != nil {
		t.Fatalf("decoded golden PoI: %v", err)
	}
	extra := append(b[:len(b)-1:len(b)-1], []byte(`,"extra":1}`)...)
	if err := json.Unmarshal(extra, &poi); !errors.Is(err, anchor.ErrFormat) {
		t.Errorf("PoI with an unknown field: %v, want ErrFormat", err)
	}
}
