package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// cmdVerify implements `chargegate verify --data DIR`: it checks the whole stored chain
// (signatures, links, sequence continuity, declared gaps) and exits 1 naming the first bad
// sequence number.
func cmdVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("verify", "verify --data DIR [--max-interval D]", stderr)
	dir := fs.String("data", "", "data `DIR` of the gateway")
	interval := fs.Duration("max-interval", 0, "require a gap entry between readings further apart than `D` (0: no check)")
	if code, ok := fs.parse(args, 0); !ok {
		return code
	}
	if *dir == "" {
		fs.Usage()
		return 2
	}
	opts := ledger.ChainOptions{MaxReadingInterval: *interval}
	keys, err := ledger.LoadKeys(*dir)
	switch {
	case err == nil:
		opts.Key = keys.Entry.Public().(ed25519.PublicKey)
	case errors.Is(err, ledger.ErrNoKeys):
		fmt.Fprintln(stderr, "chargegate: verify: no device keys in the data directory; trusting the first entry's key")
	default:
		fmt.Fprintln(stderr, "chargegate: verify:", err)
		return 1
	}
	// The head file is read before the chain: a running gateway writes it after each commit, so
	// the chain read afterwards reaches at least this far.
	headSeq, headHash, headOK, err := sqlite.ReadHead(*dir)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: verify:", err)
		return 1
	}
	r, err := sqlite.OpenReader(ctx, *dir)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: verify:", err)
		return 1
	}
	defer r.Close()
	st, err := ledger.VerifyChain(r.All(ctx), opts)
	reportQuarantine(*dir, stdout, stderr)
	if err != nil {
		var ce *ledger.ChainError
		if errors.As(err, &ce) {
			fmt.Fprintf(stderr, "chargegate: verify: chain broken at seq %d: %v\n", ce.Seq, ce.Err)
		} else {
			fmt.Fprintln(stderr, "chargegate: verify:", err)
		}
		return 1
	}
	// Entries deleted from the end leave a valid prefix: the head file says where the chain ended.
	if headOK && (st.Last < headSeq || (st.Last == headSeq && st.Head != headHash)) {
		if st.Last < headSeq {
			fmt.Fprintf(stderr, "chargegate: verify: chain broken at seq %d: entries %d..%d missing (the head file records the chain up to seq %d)\n",
				st.Last+1, st.Last+1, headSeq, headSeq)
		} else {
			fmt.Fprintf(stderr, "chargegate: verify: chain broken at seq %d: the entry differs from the head recorded in the head file\n", headSeq)
		}
		return 1
	}
	fmt.Fprintf(stdout, "chain ok: %d entries, seq %d..%d, %d gap entries, head %x\n", st.Entries, st.First, st.Last, st.Gaps, st.Head)
	for _, seq := range st.Replacements {
		fmt.Fprintf(stdout, "store replaced at seq %d (declared break; see that entry's detail)\n", seq)
	}
	for _, h := range st.Holes {
		fmt.Fprintf(stdout, "declared hole: seq %d..%d missing, declared by %s at seq %d\n", h.From, h.To, h.Event, h.DeclaredBy)
	}
	return 0
}

// reportQuarantine lists the damaged databases moved aside beside the live one: what they hold
// is read with `chargegate quarantine`.
func reportQuarantine(dir string, stdout, stderr io.Writer) {
	files, err := sqlite.QuarantineFiles(dir)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: verify:", err)
		return
	}
	for _, f := range files {
		var size int64
		if st, err := os.Stat(f); err == nil {
			size = st.Size()
		}
		fmt.Fprintf(stdout, "quarantine file: %s (%d bytes); read it with chargegate quarantine list|export --data %s\n", filepath.Base(f), size, dir)
	}
}
