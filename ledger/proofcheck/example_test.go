package proofcheck_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/proofcheck"
)

// Check a chargegate-proof/2 offline, under the network's coordinator keys, step by step.
func ExampleCheck() {
	b, _ := os.ReadFile("testdata/golden_v2.json")
	var g struct {
		Keys  json.RawMessage `json:"coordinatorKeys"`
		Proof json.RawMessage `json:"proof"`
	}
	json.Unmarshal(b, &g)
	keys, _ := anchor.ParseCoordinatorKeys(g.Keys)
	p, err := proofcheck.Parse(g.Proof)
	if err != nil {
		fmt.Println("INVALID:", err)
		return
	}
	r := proofcheck.Check(context.Background(), p, proofcheck.Options{Keys: keys})
	for _, s := range r.Steps {
		fmt.Println(s.Verdict, s.Name)
	}
	fmt.Println(r.Verdict, r.How)
	// Output:
	// VALID entry signature, Merkle path and anchor signature
	// VALID inclusion proof under the coordinator keys
	// VALID offline, under the coordinator keys
}
