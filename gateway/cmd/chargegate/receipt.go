package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/ocmf"
	"github.com/chargegate/chargegate/ledger/proofcheck"
	"github.com/chargegate/chargegate/ledger/receipt"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// cmdReceipt builds and verifies signed session receipts (ledger/receipt):
//
//	chargegate receipt build --data DIR --session ID [--format vc|cdr] [--ocmf FILE [--ocmf-key FILE]] [--evse-id ID] [--id-token T] [--out FILE]
//	chargegate receipt verify [--node URL | --offline --coordinator-keys FILE] FILE
func cmdReceipt(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "build":
			return cmdReceiptBuild(ctx, args[1:], stdout, stderr)
		case "verify":
			return cmdReceiptVerify(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, "usage: chargegate receipt build --data DIR --session ID [--format vc|cdr] [--ocmf FILE] [--out FILE]")
	fmt.Fprintln(stderr, "       chargegate receipt verify [--node URL | --offline --coordinator-keys FILE] FILE")
	return 2
}

// cmdReceiptBuild makes the signed receipt of one ended session from a stopped gateway's data
// directory: the session's begin and end entries found by session ID, signed with the device's
// entry key (DIR's keys). The chain keeps only the OCMF record's digest, so the record itself
// comes from --ocmf (checked against the end entry's attachment; its key is --ocmf-key, a DER or
// PEM SubjectPublicKeyInfo, by default the gateway's own OCMF key); without it the receipt says
// it carries none. Proofs of both entries are included when their anchors are confirmed and
// their inclusion proofs are in --proofs (or fetched from --node); otherwise the receipt is
// built without and stderr says so. Exit 0 written, 1 failed, 2 usage.
func cmdReceiptBuild(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("receipt build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data", "", "gateway data directory (keys and chargegate.db); the gateway must be stopped or the store readable")
	session := fs.String("session", "", "session ID")
	format := fs.String("format", "vc", "rendering: vc (W3C Verifiable Credential 2.0) or cdr (OCPI 2.2.1 CDR)")
	out := fs.String("out", "", "write the receipt to FILE instead of stdout")
	ocmfFile := fs.String("ocmf", "", "the session's OCMF record (the chain keeps only its digest)")
	ocmfKeyFile := fs.String("ocmf-key", "", "public key of the OCMF record's signer (default: the gateway's OCMF key in DIR)")
	evseID := fs.String("evse-id", "", "the EVSE ID (as in the configuration's evse_id)")
	idToken := fs.String("id-token", "", "CDR: the id_token for cdr_token (the chain keeps only its hash, which it must match)")
	country := fs.String("country", "", "CDR: the CPO's ISO 3166 country code")
	party := fs.String("party", "", "CDR: the CPO's OCPI party ID")
	currency := fs.String("currency", "EUR", "CDR: ISO 4217 currency")
	proofs := fs.String("proofs", "", "directory of the anchors' inclusion proofs (default DATA/proofs)")
	nodeURL := fs.String("node", "", "fetch a missing inclusion proof from this node's PoI API")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline for each call to the node")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	r := receipt.Rendering(*format)
	if *dir == "" || *session == "" || fs.NArg() != 0 || (r != receipt.RenderVC && r != receipt.RenderCDR) {
		fmt.Fprintln(stderr, "usage: chargegate receipt build --data DIR --session ID [--format vc|cdr] [--ocmf FILE [--ocmf-key FILE]] [--evse-id ID] [--out FILE]")
		return 2
	}
	if *proofs == "" {
		*proofs = filepath.Join(*dir, "proofs")
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "chargegate: receipt build:", err)
		return 1
	}
	keys, err := ledger.LoadKeys(*dir)
	if err != nil {
		return fail(fmt.Errorf("load device keys: %w", err))
	}
	st, err := sqlite.OpenReader(ctx, *dir)
	if err != nil {
		return fail(fmt.Errorf("open store: %w", err))
	}
	defer st.Close()
	begin, end, err := receipt.FindSession(ctx, st, *session)
	if err != nil {
		return fail(err)
	}
	s := receipt.Session{EVSEID: *evseID, Begin: begin, End: end, IDToken: *idToken}
	if *idToken != "" && receipt.TokenHash(*idToken) != receipt.AuthorizationOf(&begin).TokenHash {
		return fail(fmt.Errorf("--id-token is not the id_token whose hash the begin entry (seq %d) records", begin.Seq))
	}
	if *ocmfFile == "" {
		if end.Attachment != ([32]byte{}) {
			fmt.Fprintf(stderr, "chargegate: receipt build: no --ocmf: the receipt carries no OCMF record (the end entry attaches one with SHA-256 %x)\n", end.Attachment)
		}
	} else {
		b, err := os.ReadFile(*ocmfFile)
		if err != nil {
			return fail(err)
		}
		rec := strings.TrimSpace(string(b))
		if sha256.Sum256([]byte(rec)) != end.Attachment {
			return fail(fmt.Errorf("%s is not the record the end entry (seq %d) attaches", *ocmfFile, end.Seq))
		}
		s.OCMF = rec
		if *ocmfKeyFile != "" {
			kb, err := os.ReadFile(*ocmfKeyFile)
			if err != nil {
				return fail(err)
			}
			if s.OCMFKey, err = ocmf.ParsePublicKey(string(kb)); err != nil {
				return fail(fmt.Errorf("OCMF key %s: %w", *ocmfKeyFile, err))
			}
		} else if s.OCMFKey, err = x509.MarshalPKIXPublicKey(&keys.OCMF.PublicKey); err != nil {
			return fail(fmt.Errorf("encode the gateway's OCMF key: %w", err))
		}
	}
	bp, berr := entryProof(ctx, st, begin.Seq, *proofs, *nodeURL, *timeout)
	ep, eerr := entryProof(ctx, st, end.Seq, *proofs, *nodeURL, *timeout)
	if err := errors.Join(berr, eerr); err != nil {
		fmt.Fprintln(stderr, "chargegate: receipt build: without ledger proofs:", err)
	} else {
		s.BeginProof, s.EndProof = bp, ep
	}
	doc, err := receipt.Build(s, r, keys.Entry, receipt.CPO{CountryCode: *country, PartyID: *party, Currency: *currency}, time.Now())
	if err != nil {
		return fail(err)
	}
	doc = append(doc, '\n')
	if *out == "" {
		if _, err := stdout.Write(doc); err != nil {
			return fail(err)
		}
		return 0
	}
	if err := os.WriteFile(*out, doc, 0o644); err != nil {
		return fail(err)
	}
	return 0
}

// entryProof returns the chargegate-proof/2 of entry seq, or why there is none.
func entryProof(ctx context.Context, src anchor.Source, seq uint64, dir, nodeURL string, timeout time.Duration) (*anchor.Proof, error) {
	rec, err := src.AnchorFor(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("seq %d: not in an anchor yet", seq)
	}
	if rec.State != ledger.AnchorConfirmed {
		return nil, fmt.Errorf("seq %d: anchor %d..%d is %s, not confirmed", seq, rec.First, rec.Last, rec.State)
	}
	poi, err := proofcheck.InclusionFor(ctx, src, seq, dir, nodeURL, timeout)
	if err != nil {
		return nil, err
	}
	if poi == nil {
		return nil, fmt.Errorf("seq %d: no inclusion proof for anchor %d..%d in %s (pass --node to fetch it)", seq, rec.First, rec.Last, dir)
	}
	return anchor.ProofFor(ctx, src, seq, poi)
}

// cmdReceiptVerify checks a receipt in either rendering (ledger/receipt.Verify) and prints each
// check and the verdict. The ledger proofs are checked offline under --coordinator-keys, or
// against --node; with neither they are undecided. Exit 0 valid, 1 invalid, 2 undecided or usage.
func cmdReceiptVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("receipt verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodeURL := fs.String("node", "", "base URL of an IOTA node, e.g. http://127.0.0.1:14265")
	offline := fs.Bool("offline", false, "check the proofs with the coordinator keys only, asking no node")
	keysFile := fs.String("coordinator-keys", "", "the network's milestone keys (JSON: milestonePublicKeyCount, publicKeyRanges)")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline for each call to the node")
	if err := fs.Parse(args); err != nil {
		return exitUndecided
	}
	if fs.NArg() != 1 || (*offline && (*keysFile == "" || *nodeURL != "")) || (!*offline && *keysFile != "") {
		fmt.Fprintln(stderr, "usage: chargegate receipt verify [--node URL | --offline --coordinator-keys FILE] FILE")
		return exitUndecided
	}
	var opt receipt.Options
	if *keysFile != "" {
		k, err := anchor.LoadCoordinatorKeys(*keysFile)
		if err != nil {
			fmt.Fprintln(stderr, "UNDECIDED:", err)
			return exitUndecided
		}
		opt.Keys = k
	}
	if *nodeURL != "" {
		opt.Node = nodeclient.New(*nodeURL, nodeclient.WithHTTPClient(&http.Client{Timeout: *timeout}))
	}
	b, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "UNDECIDED:", err)
		return exitUndecided
	}
	rep := receipt.Verify(ctx, b, opt)
	for _, c := range rep.Checks {
		mark := "ok     "
		switch {
		case c.Skip:
			mark = "skipped"
		case !c.OK:
			mark = "FAILED "
		}
		fmt.Fprintf(stdout, "%s %-10s %s\n", mark, c.Name, c.Detail)
	}
	switch rep.Verdict() {
	case receipt.Valid:
		fmt.Fprintf(stdout, "VALID: %s receipt of session %s\n", rep.Rendering, rep.Evidence.SessionID)
		return exitValid
	case receipt.Invalid:
		fmt.Fprintln(stdout, "INVALID:", rep.Err())
		return exitInvalid
	}
	fmt.Fprintln(stdout, "UNDECIDED:", rep.Err())
	return exitUndecided
}
