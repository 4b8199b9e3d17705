package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/proofcheck"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// cmdProof writes the self-contained proof of one entry (ledger/anchor's proof file format):
//
//	chargegate proof --data DIR --seq N [--proofs DIR] [--node URL] [--out FILE]
//
// The milestone inclusion proof of the entry's anchor is taken from the proofs directory
// (default DIR/proofs, where the gateway keeps one per confirmed anchor); if it is not there
// and --node is given, it is fetched from the node's PoI API and kept in the proofs directory.
// With an inclusion proof the result is a chargegate-proof/2, verifiable offline; without one a
// chargegate-proof/1, verifiable only against a node that still has the block (said on stderr).
// Exit 0 written, 1 failed (e.g. the entry is not anchored yet), 2 usage.
func cmdProof(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("proof", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data", "", "gateway data directory (keys and chargegate.db)")
	seq := fs.Uint64("seq", 0, "sequence number of the entry to prove")
	out := fs.String("out", "", "write the proof to FILE instead of stdout")
	proofs := fs.String("proofs", "", "directory of the anchors' inclusion proofs (default DATA/proofs)")
	nodeURL := fs.String("node", "", "fetch a missing inclusion proof from this node's PoI API")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline for each call to the node")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" || *seq == 0 || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: chargegate proof --data DIR --seq N [--proofs DIR] [--node URL] [--out FILE]")
		return 2
	}
	if *proofs == "" {
		*proofs = filepath.Join(*dir, "proofs")
	}
	r, err := sqlite.OpenReader(ctx, *dir)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: proof: open store:", err)
		return 1
	}
	defer r.Close()
	poi, err := proofcheck.InclusionFor(ctx, r, *seq, *proofs, *nodeURL, *timeout)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: proof:", err)
		return 1
	}
	if poi == nil {
		fmt.Fprintf(stderr, "chargegate: proof: no inclusion proof for this anchor in %s (pass --node to fetch it): writing %s, which needs a node to verify\n", *proofs, anchor.ProofFormatV1)
	}
	p, err := anchor.ProofFor(ctx, r, *seq, poi)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: proof:", err)
		return 1
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: proof: encode:", err)
		return 1
	}
	b = append(b, '\n')
	if *out == "" {
		if _, err := stdout.Write(b); err != nil {
			fmt.Fprintln(stderr, "chargegate: proof:", err)
			return 1
		}
		return 0
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(stderr, "chargegate: proof:", err)
		return 1
	}
	return 0
}
