package proofcheck_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/proofcheck"
)

// golden reads testdata/golden_v2.json, a copy of ledger/anchor's golden chargegate-proof/2
// (entry 5 of 7 under milestone 12) with its coordinator keys.
func golden(t *testing.T) (*anchor.Proof, *anchor.CoordinatorKeys) {
	t.Helper()
	b, err := os.ReadFile("testdata/golden_v2.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Keys  json.RawMessage `json:"coordinatorKeys"`
		Proof json.RawMessage `json:"proof"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	k, err := anchor.ParseCoordinatorKeys(g.Keys)
	if err != nil {
		t.Fatal(err)
	}
	p, err := proofcheck.Parse(g.Proof)
	if err != nil {
		t.Fatal(err)
	}
	return p, k
}

// TestCheckSteps runs the checks on the golden proof as it is and with one part changed at a
// time: each step's verdict, and the overall one, is what verify-proof would print.
func TestCheckSteps(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tamper   func(p *anchor.Proof, k **anchor.CoordinatorKeys)
		want     proofcheck.Verdict
		verdicts []proofcheck.Verdict
	}{
		{"untouched", func(*anchor.Proof, **anchor.CoordinatorKeys) {}, proofcheck.Valid,
			[]proofcheck.Verdict{proofcheck.Valid, proofcheck.Valid}},
		{"entry signature", func(p *anchor.Proof, _ **anchor.CoordinatorKeys) {
			p.Signature = p.Signature[:len(p.Signature)-2] + "00"
		}, proofcheck.Invalid, []proofcheck.Verdict{proofcheck.Invalid}},
		{"milestone", func(p *anchor.Proof, _ **anchor.CoordinatorKeys) { p.Milestone++ }, proofcheck.Invalid,
			[]proofcheck.Verdict{proofcheck.Valid, proofcheck.Invalid}},
		{"no keys, no node", func(_ *anchor.Proof, k **anchor.CoordinatorKeys) { *k = nil }, proofcheck.Undecided,
			[]proofcheck.Verdict{proofcheck.Valid, proofcheck.Undecided}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, k := golden(t)
			tc.tamper(p, &k)
			r := proofcheck.Check(context.Background(), p, proofcheck.Options{Keys: k})
			if r.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s: %s", r.Verdict, tc.want, r.Summary())
			}
			var got []proofcheck.Verdict
			for _, s := range r.Steps {
				got = append(got, s.Verdict)
			}
			if len(got) != len(tc.verdicts) {
				t.Fatalf("steps %+v, want verdicts %v", r.Steps, tc.verdicts)
			}
			for i := range got {
				if got[i] != tc.verdicts[i] {
					t.Errorf("step %q: %s, want %s (%s)", r.Steps[i].Name, got[i], tc.verdicts[i], r.Steps[i].Detail)
				}
			}
			if !strings.HasPrefix(r.Summary(), string(tc.want)) {
				t.Errorf("summary %q", r.Summary())
			}
		})
	}
}

func TestParseRejectsNonProof(t *testing.T) {
	if _, err := proofcheck.Parse([]byte("OCMF|{}|{}")); err == nil || proofcheck.Of(err) != proofcheck.Undecided {
		// Not a proof at all: the caller says INVALID (verify-proof does); Of leaves an
		// unknown error undecided.
		t.Fatalf("Parse = %v", err)
	}
}

// A proof file is outside bytes: an inclusion proof whose block's payload says transaction
// (type 6) without being one made iota.go's JSON decoding panic. Parse refuses it as an invalid
// proof instead.
func TestParseRefusesHostileBlockJSON(t *testing.T) {
	b, err := os.ReadFile("testdata/golden_v2.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Proof map[string]any `json:"proof"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	g.Proof["poi"].(map[string]any)["block"].(map[string]any)["payload"] = map[string]any{"type": 6}
	hostile, _ := json.Marshal(g.Proof)
	if _, err := proofcheck.Parse(hostile); proofcheck.Of(err) != proofcheck.Invalid {
		t.Fatalf("Parse = %v, want an invalid proof", err)
	}
}
