package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger/anchor"
)

// cmdVerifyProof checks a proof file against any IOTA node (core API v2), without the gateway's
// database:
//
//	chargegate verify-proof --node URL [--chain] FILE
//
// It checks the entry signature, the Merkle path, the anchor signature, the block fetched from
// the node (ID, tag, data, PoW score against the node's minimum) and its confirmation.
// With --chain it also walks the device's anchors back to the first (anchor.VerifyChain).
// Exit 0 if everything holds, 1 if not (saying what failed), 2 usage.
func cmdVerifyProof(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify-proof", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodeURL := fs.String("node", "", "base URL of an IOTA node, e.g. http://127.0.0.1:14265")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline for each call to the node")
	chain := fs.Bool("chain", false, "also walk the device's anchors back to its first one on the ledger")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *nodeURL == "" || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: chargegate verify-proof --node URL [--chain] FILE")
		return 2
	}
	b, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: verify-proof:", err)
		return 2
	}
	var p anchor.Proof
	if err := json.Unmarshal(b, &p); err != nil {
		fmt.Fprintln(stderr, "INVALID: proof file is not JSON:", err)
		return 1
	}
	client := nodeclient.New(*nodeURL, nodeclient.WithHTTPClient(&http.Client{Timeout: *timeout}))
	res, err := anchor.Verify(ctx, client, &p)
	if err != nil {
		fmt.Fprintln(stderr, "INVALID:", err)
		return 1
	}
	fmt.Fprintf(stdout, "OK: entry %d of device %s is in anchor %d..%d, block %s, referenced by milestone %d (PoW score %.0f, node minimum %d)\n",
		res.Seq, res.Device, res.First, res.Last, res.BlockID.ToHex(), res.Milestone, res.Score, res.MinScore)
	if *chain {
		c, err := p.Check()
		if err != nil {
			fmt.Fprintln(stderr, "INVALID:", err)
			return 1
		}
		cr, err := anchor.VerifyChain(ctx, client, c.Entry.DeviceKey, res.BlockID)
		if err != nil {
			fmt.Fprintln(stderr, "INVALID: anchor chain:", err)
			return 1
		}
		fmt.Fprintf(stdout, "OK: %d anchors on the ledger cover entries 1..%d without a gap\n", cr.Anchors, cr.Through)
	}
	return 0
}
