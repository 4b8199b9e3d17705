package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// cmdProof writes the self-contained proof of one entry (ledger/anchor's proof file format):
//
//	chargegate proof --data DIR --seq N [--out FILE]
//
// Exit 0 written, 1 failed (e.g. the entry is not anchored yet), 2 usage.
func cmdProof(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("proof", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data", "", "gateway data directory (keys and chargegate.db)")
	seq := fs.Uint64("seq", 0, "sequence number of the entry to prove")
	out := fs.String("out", "", "write the proof to FILE instead of stdout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" || *seq == 0 || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: chargegate proof --data DIR --seq N [--out FILE]")
		return 2
	}
	src, closeSrc, err := proofSource(ctx, *dir)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: proof:", err)
		return 1
	}
	defer closeSrc()
	p, err := anchor.ProofFor(ctx, src, *seq, nil)
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

// proofSource opens the store read-only, so the command never writes beside a running gateway.
func proofSource(ctx context.Context, dir string) (anchor.Source, func(), error) {
	r, err := sqlite.OpenReader(ctx, dir)
	if err != nil {
		return nil, nil, fmt.Errorf("open store: %w", err)
	}
	return r, func() { r.Close() }, nil
}
