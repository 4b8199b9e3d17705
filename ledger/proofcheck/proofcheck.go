// Package proofcheck runs the checks of `chargegate verify-proof` on a proof file and reports
// each step, so the command line and the box's web UI decide alike.
package proofcheck

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
)

// Verdict is the outcome of a verification or of one of its steps.
type Verdict string

// Verdicts, as printed by verify-proof.
const (
	Valid     Verdict = "VALID"     // everything checked holds
	Invalid   Verdict = "INVALID"   // proven invalid: a signature, path, hash or block does not hold
	Undecided Verdict = "UNDECIDED" // cannot decide: node unreachable, not synced, block pruned, no milestone yet
	Skipped   Verdict = "SKIPPED"   // a step not run (not asked for, or an earlier step failed)
)

// Of returns the verdict that err gives: Valid for nil, Invalid where it proves the proof wrong
// (anchor.Invalid), Undecided otherwise.
func Of(err error) Verdict {
	switch {
	case err == nil:
		return Valid
	case anchor.Invalid(err):
		return Invalid
	}
	return Undecided
}

// Step is one check and what it found.
type Step struct {
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	Detail  string  `json:"detail,omitempty"`
}

// Options say what to check against. With neither Client nor Keys only the offline checks of
// the proof itself run, and the verdict is at best Undecided.
type Options struct {
	// Client is a node to check the block and its milestone on; nil for offline only.
	Client *nodeclient.Client
	// Keys are the network's coordinator keys, for a chargegate-proof/2's own inclusion proof.
	Keys *anchor.CoordinatorKeys
	// Chain also walks the device's anchors back to its first.
	Chain bool
	// Stored are the kept anchor proofs, for the chain walk where the node has pruned.
	Stored anchor.AnchorProofs
	// Holes are the holes the device's verified chain declares, which an anchor gap may span.
	Holes []ledger.Hole
}

// Report is what Check established, step by step.
type Report struct {
	Verdict Verdict `json:"verdict"`
	Steps   []Step  `json:"steps"`
	// Err is the failure behind an Invalid or Undecided verdict, What the part it concerns
	// ("" for the proof itself, "anchor chain: " for the chain walk).
	Err  error  `json:"-"`
	What string `json:"-"`
	// Result is the entry's anchoring (nil unless the proof itself held); How says where it
	// was established ("on the node" or "offline, under the coordinator keys").
	Result *anchor.Result `json:"-"`
	How    string         `json:"how,omitempty"`
	// Chain is the walk of the device's anchors (Options.Chain only).
	Chain *anchor.ChainResult `json:"-"`
}

// Summary is verify-proof's verdict line on the proof itself: VALID with where the entry is
// anchored once the proof held (even if the chain walk then failed), else the failure.
func (r *Report) Summary() string {
	if r.Result == nil {
		return fmt.Sprintf("%s: %s%v", r.Verdict, r.What, r.Err)
	}
	return fmt.Sprintf("VALID: entry %d of device %s is in anchor %d..%d, block %s, referenced by milestone %d (%s)",
		r.Result.Seq, r.Result.Device, r.Result.First, r.Result.Last, r.Result.BlockID.ToHex(), r.Result.Milestone, r.How)
}

// ChainSummary is verify-proof's line on a chain walk.
func ChainSummary(c *anchor.ChainResult) string {
	if len(c.Skipped) > 0 {
		var hs []string
		for _, h := range c.Skipped {
			hs = append(hs, fmt.Sprintf("%d-%d", h.From, h.To))
		}
		return fmt.Sprintf("VALID: %d anchors cover entries 1..%d, crossing the declared holes %s", c.Anchors, c.Through, strings.Join(hs, ", "))
	}
	return fmt.Sprintf("VALID: %d anchors cover entries 1..%d without a gap", c.Anchors, c.Through)
}

// Parse decodes a proof file; an error means the bytes are not a proof (Invalid).
func Parse(b []byte) (*anchor.Proof, error) {
	var p anchor.Proof
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("proof file is not a proof: %w", err)
	}
	return &p, nil
}

// Check verifies p as verify-proof does: the proof's own offline checks (entry signature, Merkle
// path, anchor signature), then on the node (block, PoW, milestone) where Client is set, and the
// proof's inclusion proof under Keys where given — a node that cannot answer leaves the keys to
// decide — then, with Chain, the device's anchors back to its first.
func Check(ctx context.Context, p *anchor.Proof, o Options) *Report {
	r := &Report{}
	fail := func(what string, err error) *Report {
		r.Verdict, r.What, r.Err = Of(err), what, err
		return r
	}
	c, err := p.Check()
	r.step("entry signature, Merkle path and anchor signature", err, func() string {
		return fmt.Sprintf("entry %d of device %s, anchor %d..%d signed by the entry's key", c.Entry.Seq, p.Device, c.Anchor.First, c.Anchor.Last)
	})
	if err != nil {
		return fail("", err)
	}
	var res *anchor.Result
	onNode := o.Client != nil
	if onNode {
		res, err = anchor.Verify(ctx, o.Client, p)
		r.step("block and milestone on the node", err, func() string {
			return fmt.Sprintf("block %s (PoW score %.0f, node minimum %d) referenced by milestone %d", res.BlockID.ToHex(), res.Score, res.MinScore, res.Milestone)
		})
		if err != nil {
			// A /2 proof does not need the node: where it cannot answer, the proof's own
			// inclusion proof decides, given the keys.
			if !(errors.Is(err, anchor.ErrUnavailable) || errors.Is(err, anchor.ErrNotConfirmed)) || o.Keys == nil || p.PoI == nil {
				return fail("", err)
			}
			onNode = false
		}
	}
	if o.Keys != nil && (p.PoI != nil || o.Client == nil) {
		off, err := anchor.VerifyOffline(p, o.Keys)
		r.step("inclusion proof under the coordinator keys", err, func() string {
			return fmt.Sprintf("block %s included in milestone %d of %s, signed by the coordinator", off.BlockID.ToHex(), off.Milestone, off.MilestoneTime.Format(time.RFC3339))
		})
		if err != nil {
			return fail("", err)
		}
		if res == nil || !onNode {
			res = off
		}
	} else if o.Client == nil {
		err := fmt.Errorf("no coordinator keys and no node: %w", anchor.ErrUnavailable)
		r.step("inclusion proof under the coordinator keys", err, nil)
		return fail("", err)
	}
	r.Result = res
	// verify-proof has always said "on the node" when it was given one, even where the
	// proof's own inclusion proof decided in the node's stead.
	r.How = "offline, under the coordinator keys"
	if o.Client != nil {
		r.How = "on the node"
	}
	if o.Chain {
		cr, err := anchor.VerifyChainWith(ctx, o.Client, c.Entry.DeviceKey, res.BlockID, o.Stored, o.Keys, o.Holes...)
		r.step("the device's anchors back to its first", err, func() string { return ChainSummary(cr) })
		if err != nil {
			return fail("anchor chain: ", err)
		}
		r.Chain = cr
	}
	r.Verdict = Valid
	return r
}

// step records one check; detail is called only when err is nil.
func (r *Report) step(name string, err error, detail func() string) {
	s := Step{Name: name, Verdict: Of(err)}
	switch {
	case err != nil:
		s.Detail = err.Error()
	case detail != nil:
		s.Detail = detail()
	}
	r.Steps = append(r.Steps, s)
}

// Source is where InclusionFor finds an anchor and its entries (ledger/sqlite's Store and
// Reader implement it).
type Source = anchor.Source

// InclusionFor returns the inclusion proof of the anchor covering seq: stored in dir, or
// fetched from nodeURL (and then stored in dir), or nil when neither has it.
func InclusionFor(ctx context.Context, src Source, seq uint64, dir, nodeURL string, timeout time.Duration) (*anchor.PoI, error) {
	rec, err := src.AnchorFor(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("anchor for seq %d: %w", seq, err)
	}
	ap, err := anchor.ReadAnchorProof(dir, rec.First, rec.Last)
	switch {
	case err == nil:
		return ap.PoI, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	case nodeURL == "" || rec.BlockID == ([32]byte{}):
		return nil, nil
	}
	poi, err := anchor.FetchPoI(ctx, &http.Client{Timeout: timeout}, nodeURL, rec.BlockID)
	if err != nil {
		return nil, err
	}
	if err := poi.CheckPath(rec.BlockID); err != nil {
		return nil, fmt.Errorf("the node's inclusion proof: %w", err)
	}
	// Kept for next time; the proofs directory is not the database.
	if pub, err := deviceKeyOf(ctx, src, rec.First); err == nil {
		if err := anchor.WriteAnchorProof(dir, rec.First, rec.Last, anchor.NewAnchorProof(pub, rec.Payload, rec.BlockID, poi)); err != nil {
			return nil, err
		}
	}
	return poi, nil
}

// deviceKeyOf returns the device key of the entry at seq.
func deviceKeyOf(ctx context.Context, src Source, seq uint64) (ed25519.PublicKey, error) {
	es, err := src.Entries(ctx, seq, 1)
	if err != nil {
		return nil, err
	}
	if len(es) != 1 {
		return nil, fmt.Errorf("entry %d not found", seq)
	}
	return es[0].DeviceKey, nil
}
