package receipt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/ocmf"
	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/nodeclient"
)

// ErrInvalid means a receipt is proven wrong: a signature, a digest or a figure does not hold.
var ErrInvalid = errors.New("receipt invalid")

// Verdict is the outcome of Verify.
type Verdict int

// Verdicts: Valid (everything checked holds), Invalid (something is proven wrong), Undecided
// (nothing is wrong, but the ledger proofs could not be checked: no node or keys, a node that
// cannot answer, a block not yet confirmed).
const (
	Valid Verdict = iota
	Invalid
	Undecided
)

func (v Verdict) String() string {
	return [...]string{"valid", "invalid", "undecided"}[v]
}

// Check is one step of a verification and what it found.
type Check struct {
	Name   string
	OK     bool   // the step holds
	Skip   bool   // the step could not be done (no OCMF record, no node); says nothing either way
	Detail string // why, in words
}

// Report is what Verify found.
type Report struct {
	Rendering Rendering
	Evidence  *Evidence // decoded content (nil when the document did not parse)
	Checks    []Check
	// Anchored is true when both proofs held against the ledger.
	Anchored bool
	verdict  Verdict
}

// Verdict returns the overall outcome.
func (r *Report) Verdict() Verdict { return r.verdict }

func (r *Report) fail(name, format string, a ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Detail: fmt.Sprintf(format, a...)})
	r.verdict = Invalid
}

func (r *Report) ok(name, format string, a ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: true, Detail: fmt.Sprintf(format, a...)})
}

func (r *Report) skip(name string, undecided bool, format string, a ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Skip: true, Detail: fmt.Sprintf(format, a...)})
	if undecided && r.verdict == Valid {
		r.verdict = Undecided
	}
}

// Err returns nil for a valid receipt, else an error naming the first failed (or, for an
// undecided one, skipped) check; invalid receipts wrap ErrInvalid.
func (r *Report) Err() error {
	for _, c := range r.Checks {
		if !c.OK && !c.Skip {
			return fmt.Errorf("%w: %s: %s", ErrInvalid, c.Name, c.Detail)
		}
	}
	if r.verdict == Undecided {
		for _, c := range r.Checks {
			if c.Skip {
				return fmt.Errorf("%s: %s", c.Name, c.Detail)
			}
		}
	}
	return nil
}

// Options says how Verify checks the ledger proofs: offline under Keys (the network's
// coordinator keys), else against Node; with neither the proofs are undecided.
type Options struct {
	Node *nodeclient.Client
	Keys *anchor.CoordinatorKeys
}

// Parse decodes a receipt in either rendering strictly (unknown fields refused) and returns its
// rendering and evidence; it checks no signature.
func Parse(doc []byte) (Rendering, *Evidence, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(doc, &probe); err != nil {
		return "", nil, fmt.Errorf("%w: not a JSON object: %v", ErrInvalid, err)
	}
	if _, ok := probe["@context"]; ok {
		var c Credential
		if err := strictUnmarshal(doc, &c); err != nil {
			return "", nil, fmt.Errorf("%w: credential: %v", ErrInvalid, err)
		}
		if err := roundTrips(doc, &c); err != nil {
			return "", nil, err
		}
		return RenderVC, &c.CredentialSubject.Evidence, nil
	}
	var c CDR
	if err := strictUnmarshal(doc, &c); err != nil {
		return "", nil, fmt.Errorf("%w: CDR: %v", ErrInvalid, err)
	}
	if err := roundTrips(doc, &c); err != nil {
		return "", nil, err
	}
	if c.Chargegate == nil {
		return "", nil, fmt.Errorf("%w: CDR without its chargegate evidence", ErrInvalid)
	}
	return RenderCDR, c.Chargegate, nil
}

// roundTrips checks that v, decoded from doc, encodes back to doc (both in JCS form): a member
// a decoder ignores or normalises — iota.go takes a milestone's "type" as given, for one — would
// otherwise be signed and shown without being checked.
func roundTrips(doc []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: re-encode: %v", ErrInvalid, err)
	}
	got, err1 := Canonicalize(b)
	want, err2 := Canonicalize(doc)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("%w: canonical form: %v", ErrInvalid, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: members the decoder ignores or rewrites (the document is not what its fields say)", ErrInvalid)
	}
	return nil
}

// Verify checks a receipt: the Data Integrity proof by the did:key, that key being the entries'
// device key, both entries (strict decoding, signatures, kinds, session, order), every figure
// of the evidence against them (times, time statuses, registers, energy, token hash), the
// rendering's own fields against the evidence, the OCMF record (signature under the key inside,
// digest equal to the end entry's attachment, begin and end import readings equal to the
// entries' registers), and the ledger proofs of both entries (see Options).
func Verify(ctx context.Context, doc []byte, opt Options) *Report {
	r := &Report{}
	rend, ev, err := Parse(doc)
	if err != nil {
		r.fail("parse", "%v", err)
		return r
	}
	r.Rendering, r.Evidence = rend, ev
	pub, proof, err := VerifyProof(doc)
	if err != nil {
		r.fail("signature", "%v", err)
		return r
	}
	r.ok("signature", "%s by %s", Cryptosuite, proof.VerificationMethod)
	begin, end, ok := r.checkEntries(ev)
	if !ok {
		return r
	}
	if !bytes.Equal(pub, begin.DeviceKey) {
		r.fail("issuer", "the receipt is signed by %s, the entries by %s", DIDKey(pub), DIDKey(begin.DeviceKey))
		return r
	}
	r.ok("issuer", "the device key of the entries (device %s)", ledger.DeviceID(pub))
	r.checkFigures(ev, begin, end)
	switch rend {
	case RenderVC:
		r.checkCredential(doc, ev, pub)
	case RenderCDR:
		r.checkCDR(doc, ev, begin)
	}
	r.checkOCMF(ev, begin, end)
	r.checkProofs(ctx, ev, opt)
	return r
}

// checkEntries decodes and checks both entries.
func (r *Report) checkEntries(ev *Evidence) (*ledger.Entry, *ledger.Entry, bool) {
	var es [2]ledger.Entry
	for i, s := range []string{ev.BeginEntry, ev.EndEntry} {
		name := [...]string{"begin entry", "end entry"}[i]
		b, err := decodeHex0x(s)
		if err != nil {
			r.fail(name, "%v", err)
			return nil, nil, false
		}
		e, err := ledger.DecodeEntry(b)
		if err != nil {
			r.fail(name, "%v", err)
			return nil, nil, false
		}
		if err := e.Verify(); err != nil {
			r.fail(name, "%v", err)
			return nil, nil, false
		}
		es[i] = e
	}
	b, e := &es[0], &es[1]
	if _, err := NewEvidence(Session{Begin: *b, End: *e}); err != nil {
		r.fail("entries", "%v", err)
		return nil, nil, false
	}
	r.ok("entries", "seq %d (session begin) and %d (session end), both signed by the device key", b.Seq, e.Seq)
	return b, e, true
}

// checkFigures compares the evidence with what the entries say.
func (r *Report) checkFigures(ev *Evidence, b, e *ledger.Entry) {
	want := Evidence{
		Format: Format, Device: ledger.DeviceID(b.DeviceKey), SessionID: b.SessionID, EVSEID: ev.EVSEID, MeterSerial: e.MeterSerial,
		Authorization: AuthorizationOf(b),
		Start:         point(b), End: point(e),
		EnergyImportMWh: e.ImportMWh - b.ImportMWh, EnergyExportMWh: e.ExportMWh - b.ExportMWh, EndReason: e.Event,
	}
	bad := []string{}
	cmp := func(name string, got, want any) {
		if got != want {
			bad = append(bad, fmt.Sprintf("%s %v, the entries say %v", name, got, want))
		}
	}
	cmp("format", ev.Format, want.Format)
	cmp("device", ev.Device, want.Device)
	cmp("sessionId", ev.SessionID, want.SessionID)
	cmp("meterSerial", ev.MeterSerial, want.MeterSerial)
	cmp("authorization", ev.Authorization, want.Authorization)
	cmp("start", ev.Start, want.Start)
	cmp("end", ev.End, want.End)
	cmp("energyImportMWh", ev.EnergyImportMWh, want.EnergyImportMWh)
	cmp("energyExportMWh", ev.EnergyExportMWh, want.EnergyExportMWh)
	cmp("endReason", ev.EndReason, want.EndReason)
	if len(bad) > 0 {
		r.fail("figures", "%s", strings.Join(bad, "; "))
		return
	}
	r.ok("figures", "session %s: %d → %d mWh import (%d mWh), %d → %d mWh export, %s (%s) → %s (%s)", ev.SessionID,
		ev.Start.ImportMWh, ev.End.ImportMWh, ev.EnergyImportMWh, ev.Start.ExportMWh, ev.End.ExportMWh,
		ev.Start.Time, ev.Start.TimeStatus, ev.End.Time, ev.End.TimeStatus)
}

// checkCredential compares the credential's envelope with the evidence.
func (r *Report) checkCredential(doc []byte, ev *Evidence, pub []byte) {
	var c Credential
	_ = json.Unmarshal(doc, &c) // Parse decoded it already
	want := NewCredential(ev, pub)
	switch {
	case len(c.Context) == 0 || c.Context[0] != ContextV2:
		r.fail("credential", "@context does not start with %s", ContextV2)
	case c.ID != want.ID || c.Issuer != want.Issuer || c.ValidFrom != want.ValidFrom || c.CredentialSubject.Type != SubjectType ||
		len(c.Type) != 2 || c.Type[0] != want.Type[0] || c.Type[1] != want.Type[1]:
		r.fail("credential", "id, issuer, validFrom or type disagree with the evidence")
	default:
		r.ok("credential", "%s issued by %s", c.ID, c.Issuer)
	}
}

// checkCDR compares the CDR's OCPI fields with the evidence.
func (r *Report) checkCDR(doc []byte, ev *Evidence, b *ledger.Entry) {
	var c CDR
	_ = json.Unmarshal(doc, &c)
	c.Proof = nil
	want, err := NewCDR(ev, CPO{CountryCode: c.CountryCode, PartyID: c.PartyID, Currency: c.Currency, LocationID: c.CdrLocation.ID,
		ConnectorID: c.CdrLocation.ConnectorID, ConnectorStandard: c.CdrLocation.ConnectorStandard, ConnectorFormat: c.CdrLocation.ConnectorFormat,
		ConnectorPowerType: c.CdrLocation.ConnectorPowerType, URL: signedURL(&c)}, c.CdrToken.UID)
	if err != nil {
		r.fail("cdr", "%v", err)
		return
	}
	if uid := c.CdrToken.UID; uid != "" && TokenHash(uid) != ev.Authorization.TokenHash {
		r.fail("cdr", "cdr_token.uid is not the id_token whose hash the begin entry records")
		return
	}
	gb, _ := json.Marshal(c)
	wb, _ := json.Marshal(want)
	gc, err1 := Canonicalize(gb)
	wc, err2 := Canonicalize(wb)
	if err1 != nil || err2 != nil || !bytes.Equal(gc, wc) {
		r.fail("cdr", "OCPI fields disagree with the evidence: %s", firstDiff(gc, wc))
		return
	}
	r.ok("cdr", "OCPI fields match the evidence: %s kWh in %s h", c.TotalEnergy, c.TotalTime)
}

func signedURL(c *CDR) string {
	if c.SignedData == nil {
		return ""
	}
	return c.SignedData.URL
}

// firstDiff shows where two byte strings part.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-40)
	return fmt.Sprintf("at %q, expected %q", a[from:min(len(a), i+40)], b[from:min(len(b), i+40)])
}

// checkOCMF checks the OCMF record against its key and the entries.
func (r *Report) checkOCMF(ev *Evidence, b, e *ledger.Entry) {
	if ev.OCMF == "" {
		if e.Attachment != ([32]byte{}) {
			r.skip("ocmf", false, "the end entry attaches a record (SHA-256 %x) that the receipt does not include", e.Attachment)
		} else {
			r.skip("ocmf", false, "no OCMF record for this session")
		}
		return
	}
	if sha256.Sum256([]byte(ev.OCMF)) != e.Attachment {
		r.fail("ocmf", "the record's SHA-256 is not the end entry's attachment")
		return
	}
	key, err := decodeHex0x(ev.OCMFPublicKey)
	if err != nil {
		r.fail("ocmf", "public key: %v", err)
		return
	}
	rec, err := ocmf.Parse(ev.OCMF)
	if err != nil {
		r.fail("ocmf", "%v", err)
		return
	}
	if err := rec.Verify(key); err != nil {
		r.fail("ocmf", "%v", err)
		return
	}
	var sawB, sawE bool
	for _, rd := range rec.Data.RD {
		begin, end := b.ImportMWh, e.ImportMWh
		switch rd.RI {
		case "", ocmf.OBISImport:
		case ocmf.OBISExport:
			begin, end = b.ExportMWh, e.ExportMWh // a bidirectional session's export register
		default:
			continue
		}
		var want int64
		switch rd.TX {
		case "B":
			want = begin
			sawB = sawB || rd.RI != ocmf.OBISExport
		case "E", "P", "L", "R", "A":
			want = end
			sawE = sawE || rd.RI != ocmf.OBISExport
		default:
			continue
		}
		got, res, err := mWh(rd.RV, rd.RU)
		if err != nil {
			r.fail("ocmf", "reading %s: %v", rd.TX, err)
			return
		}
		// The record shows the register at its own resolution (rounded or cut): the entry's
		// exact register must lie within one step of it.
		diff := new(big.Rat).Sub(got, big.NewRat(want, 1))
		if diff.Abs(diff).Cmp(res) >= 0 {
			r.fail("ocmf", "reading %s %s is %s mWh, the entry's register %d mWh", rd.TX, rd.RI, got.FloatString(3), want)
			return
		}
	}
	if !sawB || !sawE {
		r.fail("ocmf", "the record lacks a begin or end import reading")
		return
	}
	r.ok("ocmf", "signature under the included key; digest is the end entry's attachment; begin and end readings equal the entries' registers")
}

// mWh converts an OCMF reading value with unit kWh or Wh to milliwatt-hours, exactly, and
// returns the resolution of its text (one step of its last decimal) in mWh.
func mWh(rv json.RawMessage, unit string) (v, res *big.Rat, err error) {
	s := strings.Trim(string(rv), `"`)
	v, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "eE") {
		return nil, nil, fmt.Errorf("value %q is not a decimal number", s)
	}
	var f int64
	switch unit {
	case "kWh":
		f = 1_000_000
	case "Wh":
		f = 1000
	default:
		return nil, nil, fmt.Errorf("unit %q", unit)
	}
	decimals := 0
	if _, frac, ok := strings.Cut(s, "."); ok {
		decimals = len(frac)
	}
	res = new(big.Rat).SetFrac(big.NewInt(f), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil))
	return v.Mul(v, big.NewRat(f, 1)), res, nil
}

// checkProofs checks both entries' ledger proofs.
func (r *Report) checkProofs(ctx context.Context, ev *Evidence, opt Options) {
	if ev.Anchor == nil {
		r.skip("ledger", false, "not anchored when the receipt was made: the entries are not proven on the ledger")
		return
	}
	if ev.Anchor.Begin == nil || ev.Anchor.End == nil {
		r.fail("ledger", "a proof is missing")
		return
	}
	if ev.Anchor.BlockID != ev.Anchor.End.BlockID {
		r.fail("ledger", "blockId %s is not the end proof's %s", ev.Anchor.BlockID, ev.Anchor.End.BlockID)
		return
	}
	var undecided []string
	for i, p := range []*anchor.Proof{ev.Anchor.Begin, ev.Anchor.End} {
		name := [...]string{"begin", "end"}[i]
		entry := [...]string{ev.BeginEntry, ev.EndEntry}[i]
		if !strings.EqualFold(p.Entry, entry) {
			r.fail("ledger", "the %s proof is for another entry", name)
			return
		}
		var err error
		switch {
		case opt.Keys != nil && p.PoI != nil:
			_, err = anchor.VerifyOffline(p, opt.Keys)
		case opt.Node != nil:
			var res *anchor.Result
			res, err = anchor.Verify(ctx, opt.Node, p)
			if err != nil && !anchor.Invalid(err) && p.PoI != nil {
				// The node cannot say (a pruned or unknown block): the inclusion proof still
				// must hold for the block the proof names.
				if id, derr := iotago.BlockIDFromHexString(p.BlockID); derr != nil || p.PoI.CheckPath(id) != nil {
					r.fail("ledger", "%s proof: its inclusion proof is not for block %s", name, p.BlockID)
					return
				}
			}
			if err == nil {
				if perr := poiAgainstNode(ctx, opt.Node, p, res); perr != nil {
					if errors.Is(perr, ErrInvalid) {
						r.fail("ledger", "%s proof: %v", name, perr)
						return
					}
					err = perr
				}
			}
		default:
			if _, cerr := p.Check(); cerr != nil {
				r.fail("ledger", "%s proof: %v", name, cerr)
				return
			}
			err = fmt.Errorf("%w: no node and no coordinator keys to check the block", anchor.ErrUnavailable)
		}
		if anchor.Invalid(err) {
			r.fail("ledger", "%s proof: %v", name, err)
			return
		}
		if err != nil {
			undecided = append(undecided, fmt.Sprintf("%s proof: %v", name, err))
		}
	}
	if len(undecided) > 0 {
		r.skip("ledger", true, "%s", strings.Join(undecided, "; "))
		return
	}
	r.Anchored = true
	r.ok("ledger", "both entries are in anchors confirmed on the ledger (block %s)", ev.Anchor.BlockID)
}

// poiAgainstNode holds what a proof states beyond the node's own answer to the node: the node
// checks the entry's path to the anchor and the block's confirmation, but the proof also carries
// the milestone index and the inclusion proof (PoI) that an offline verifier relies on later.
// The milestone index must be the one the node says referenced the block, and the PoI's path
// must lead from the block to its milestone, which must be the node's milestone byte for byte.
// A disagreement wraps ErrInvalid; a node that cannot answer is returned as it comes.
func poiAgainstNode(ctx context.Context, node *nodeclient.Client, p *anchor.Proof, res *anchor.Result) error {
	if p.Milestone != 0 && p.Milestone != res.Milestone {
		return fmt.Errorf("%w: the proof names milestone %d, the node says %d referenced the block", ErrInvalid, p.Milestone, res.Milestone)
	}
	if p.PoI == nil {
		return nil
	}
	if err := p.PoI.CheckPath(res.BlockID); err != nil {
		return fmt.Errorf("%w: inclusion proof: %v", ErrInvalid, err)
	}
	if p.PoI.Milestone.Index != res.Milestone {
		return fmt.Errorf("%w: the inclusion proof's milestone %d is not %d, which referenced the block", ErrInvalid, p.PoI.Milestone.Index, res.Milestone)
	}
	m, err := anchor.FetchMilestone(ctx, node, res.Milestone)
	if err != nil {
		return err
	}
	got, err1 := json.Marshal(p.PoI.Milestone)
	want, err2 := json.Marshal(m)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("%w: encode milestone: %v", ErrInvalid, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: the inclusion proof's milestone %d is not the node's", ErrInvalid, res.Milestone)
	}
	return nil
}

// decodeHex0x decodes 0x-prefixed hex.
func decodeHex0x(s string) ([]byte, error) {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return nil, fmt.Errorf("%q is not 0x-hex", s)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%q is not 0x-hex: %w", s, err)
	}
	return b, nil
}
