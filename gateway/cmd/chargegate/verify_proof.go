package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
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
	var p anchor.Proof
	if err := json.Unmarshal(b, &p); err != nil {
		fmt.Fprintln(stderr, "INVALID: proof file is not a proof:", err)
		return exitInvalid
	}
	var client *nodeclient.Client
	if *nodeURL != "" {
		client = nodeclient.New(*nodeURL, nodeclient.WithHTTPClient(&http.Client{Timeout: *timeout}))
	}
	res, err := verifyOne(ctx, client, keys, &p)
	if err != nil {
		return verdict(stderr, "", err)
	}
	how := "offline, under the coordinator keys"
	if client != nil {
		how = "on the node"
	}
	fmt.Fprintf(stdout, "VALID: entry %d of device %s is in anchor %d..%d, block %s, referenced by milestone %d (%s)\n",
		res.Seq, res.Device, res.First, res.Last, res.BlockID.ToHex(), res.Milestone, how)
	if !*chain {
		return exitValid
	}
	var stored anchor.AnchorProofs
	if *proofs != "" {
		if stored, err = anchor.LoadAnchorProofs(*proofs); err != nil {
			return verdict(stderr, "stored anchor proofs: ", err)
		}
	}
	c, err := p.Check()
	if err != nil {
		return verdict(stderr, "", err)
	}
	var holes []ledger.Hole
	if *dataDir != "" {
		if holes, err = declaredHoles(ctx, *dataDir, c.Entry.DeviceKey); err != nil {
			fmt.Fprintln(stderr, "UNDECIDED: the device's chain:", err)
			return exitUndecided
		}
	}
	cr, err := anchor.VerifyChainWith(ctx, client, c.Entry.DeviceKey, res.BlockID, stored, keys, holes...)
	if err != nil {
		return verdict(stderr, "anchor chain: ", err)
	}
	if len(cr.Skipped) > 0 {
		var hs []string
		for _, h := range cr.Skipped {
			hs = append(hs, fmt.Sprintf("%d-%d", h.From, h.To))
		}
		fmt.Fprintf(stdout, "VALID: %d anchors cover entries 1..%d, crossing the declared holes %s\n", cr.Anchors, cr.Through, strings.Join(hs, ", "))
		return exitValid
	}
	fmt.Fprintf(stdout, "VALID: %d anchors cover entries 1..%d without a gap\n", cr.Anchors, cr.Through)
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

// verifyOne verifies a proof online (client set), offline (keys only), or both.
func verifyOne(ctx context.Context, client *nodeclient.Client, keys *anchor.CoordinatorKeys, p *anchor.Proof) (*anchor.Result, error) {
	if client == nil {
		return anchor.VerifyOffline(p, keys)
	}
	res, err := anchor.Verify(ctx, client, p)
	if err != nil {
		// A /2 proof does not need the node: where it cannot answer, the proof's own
		// inclusion proof decides, given the keys.
		if (errors.Is(err, anchor.ErrUnavailable) || errors.Is(err, anchor.ErrNotConfirmed)) && keys != nil && p.PoI != nil {
			return anchor.VerifyOffline(p, keys)
		}
		return nil, err
	}
	if keys != nil && p.PoI != nil {
		if _, err := anchor.VerifyOffline(p, keys); err != nil {
			return nil, err
		}
	}
	return res, nil
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

// deviceKeyOf returns the device key of the entry at seq.
func deviceKeyOf(ctx context.Context, src anchor.Source, seq uint64) (ed25519.PublicKey, error) {
	es, err := src.Entries(ctx, seq, 1)
	if err != nil {
		return nil, err
	}
	if len(es) != 1 {
		return nil, fmt.Errorf("entry %d not found", seq)
	}
	return es[0].DeviceKey, nil
}
