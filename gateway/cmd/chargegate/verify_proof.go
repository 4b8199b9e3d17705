package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/proofcheck"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// Exit codes of verify-proof: the verdict.
const (
	exitValid     = 0 // everything checked holds
	exitInvalid   = 1 // proven invalid: a signature, path, hash or block does not hold
	exitUndecided = 2 // cannot decide: node unreachable, not synced, block pruned, no milestone yet (and usage errors)
)

// cmdVerifyProof checks a proof file without the gateway's database:
//
//	chargegate verify-proof --offline --coordinator-keys FILE [--chain --proofs DIR] PROOF
//	chargegate verify-proof --node URL [--coordinator-keys FILE] [--chain [--proofs DIR] [--data DIR]] PROOF
//
// --offline checks a chargegate-proof/2 with nothing but the network's coordinator keys (a
// Hornet-style keys file: milestonePublicKeyCount and publicKeyRanges): entry signature,
// Merkle path, anchor signature, the anchor block carried in the proof, the milestone's
// signatures under the keys valid for its index, and the inclusion path to the milestone.
// --node checks against a live node (block, PoW against the node's minimum, confirmation);
// with --coordinator-keys a /2 proof is checked offline as well. --chain also walks the
// device's anchors back to its first, from the node where it still has them and from the
// stored anchor proofs in --proofs where it does not.
//
// It prints VALID, INVALID or UNDECIDED with the reason. Exit 0 valid, 1 proven invalid, 2
// cannot decide (node unreachable, not synced, block pruned, no milestone yet) or usage.
func cmdVerifyProof(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify-proof", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodeURL := fs.String("node", "", "base URL of an IOTA node, e.g. http://127.0.0.1:14265")
	offline := fs.Bool("offline", false, "verify with the coordinator keys only, asking no node")
	keysFile := fs.String("coordinator-keys", "", "the network's milestone keys (JSON: milestonePublicKeyCount, publicKeyRanges)")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline for each call to the node")
	chain := fs.Bool("chain", false, "also walk the device's anchors back to its first one")
	proofs := fs.String("proofs", "", "directory of stored anchor proofs, for --chain where the node has pruned")
	dataDir := fs.String("data", "", "with --chain: the device's data directory, whose verified chain declares the holes (seq_skipped, entries_lost) an anchor gap may span")
	if err := fs.Parse(args); err != nil {
		return exitUndecided
	}
	if fs.NArg() != 1 || (*nodeURL == "") == !*offline || (*offline && *keysFile == "") || (*offline && *chain && *proofs == "") {
		fmt.Fprintln(stderr, "usage: chargegate verify-proof --offline --coordinator-keys FILE [--chain --proofs DIR] PROOF")
		fmt.Fprintln(stderr, "       chargegate verify-proof --node URL [--coordinator-keys FILE] [--chain [--proofs DIR]] PROOF")
		return exitUndecided
	}
	var keys *anchor.CoordinatorKeys
	if *keysFile != "" {
		k, err := anchor.LoadCoordinatorKeys(*keysFile)
		if err != nil {
			fmt.Fprintln(stderr, "UNDECIDED:", err)
			return exitUndecided
		}
		keys = k
	}
	b, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "UNDECIDED:", err)
		return exitUndecided
	}
	p, err := proofcheck.Parse(b)
	if err != nil {
		fmt.Fprintln(stderr, "INVALID:", err)
		return exitInvalid
	}
	o := proofcheck.Options{Keys: keys, Chain: *chain}
	if *nodeURL != "" {
		o.Client = nodeclient.New(*nodeURL, nodeclient.WithHTTPClient(&http.Client{Timeout: *timeout}))
	}
	if *chain {
		if *proofs != "" {
			if o.Stored, err = anchor.LoadAnchorProofs(*proofs); err != nil {
				return verdict(stderr, "stored anchor proofs: ", err)
			}
		}
		if *dataDir != "" {
			c, err := p.Check()
			if err != nil {
				return verdict(stderr, "", err)
			}
			if o.Holes, err = declaredHoles(ctx, *dataDir, c.Entry.DeviceKey); err != nil {
				fmt.Fprintln(stderr, "UNDECIDED: the device's chain:", err)
				return exitUndecided
			}
		}
	}
	rep := proofcheck.Check(ctx, p, o)
	if rep.Result != nil {
		fmt.Fprintln(stdout, rep.Summary())
	}
	if rep.Verdict != proofcheck.Valid {
		return verdict(stderr, rep.What, rep.Err)
	}
	if rep.Chain != nil {
		fmt.Fprintln(stdout, proofcheck.ChainSummary(rep.Chain))
	}
	return exitValid
}

// declaredHoles verifies the device's stored chain and returns the holes it declares.
func declaredHoles(ctx context.Context, dir string, pub ed25519.PublicKey) ([]ledger.Hole, error) {
	r, err := sqlite.OpenReader(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	st, err := ledger.VerifyChain(r.All(ctx), ledger.ChainOptions{Key: pub})
	if err != nil {
		return nil, err
	}
	return st.Holes, nil
}

// verdict prints INVALID or UNDECIDED for err and returns the exit code.
func verdict(stderr io.Writer, what string, err error) int {
	if anchor.Invalid(err) {
		fmt.Fprintf(stderr, "INVALID: %s%v\n", what, err)
		return exitInvalid
	}
	fmt.Fprintf(stderr, "UNDECIDED: %s%v\n", what, err)
	return exitUndecided
}
