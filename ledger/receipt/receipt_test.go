package receipt

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/ledgertest"
	"github.com/chargegate/chargegate/ledger/ocmf"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixedOCMFKey is the gateway P-256 key of the golden vectors: scalar SHA-256("chargegate
// receipt test OCMF key") (below the group order, so usable as is).
func fixedOCMFKey(t testing.TB) *ecdsa.PrivateKey {
	d := sha256.Sum256([]byte("chargegate receipt test OCMF key"))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ocmfKeyDER(t testing.TB) []byte {
	der, err := x509.MarshalPKIXPublicKey(&fixedOCMFKey(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var (
	t0       = time.Date(2026, 12, 5, 7, 30, 0, 123456789, time.UTC)
	t1       = t0.Add(47*time.Minute + 13*time.Second)
	sessID   = "5e551011d0000001"
	evseID   = "DE*CGT*E0001*1"
	testCPO  = CPO{CountryCode: "DE", PartyID: "CGT", Currency: "EUR"}
	created  = time.Date(2026, 12, 5, 8, 20, 0, 0, time.UTC)
	beginMWh = int64(1_234_567_890)
	endMWh   = int64(1_246_912_345)
)

// ocmfRecord is the golden session's OCMF record: signed once (ECDSA is randomised) and kept in
// testdata/session.ocmf; -update signs a new one.
func ocmfRecord(t testing.TB) string {
	path := "testdata/session.ocmf"
	if !*update {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	payload, err := ocmf.BuildPayload(ocmf.Session{
		GatewayID: "chargegate", GatewaySerial: "cg-test", MeterSerial: "EM-1", IdentStatus: true, IdentType: "ISO14443",
		IdentData: "04A1B2C3", ChargePointIDType: "EVSEID", ChargePointID: evseID,
		Readings: []ocmf.Reading{
			{Time: t0, TimeStatus: 'S', TX: "B", EnergyMWh: beginMWh},
			{Time: t1, TimeStatus: 'S', TX: "E", EnergyMWh: endMWh},
		},
	}, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ocmf.SignPayload(payload, fixedOCMFKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	return rec
}

// sign places rec at seq after prev under key.
func sign(key ed25519.PrivateKey, seq uint64, prev [32]byte, rec ledger.Record) ledger.Entry {
	e := ledger.Entry{Version: ledger.Version, Seq: seq, Prev: prev, Record: rec}
	e.Sign(key)
	return e
}

// fixture is a session of five entries (reading, begin, reading, end, reading) under the
// golden device key, its OCMF record, and an anchor over entries 1..5 in a made-up block
// (proofs of format /1, which need a node to be confirmed).
type fixture struct {
	key     ed25519.PrivateKey
	entries []ledger.Entry
	sess    Session
	payload []byte
	blockID [32]byte
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{key: ledgertest.NamedKey(t, "receipt")}
	rec := ocmfRecord(t)
	recs := []ledger.Record{
		{Time: t0.Add(-time.Second), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindReading, MeterSerial: "EM-1", ImportMWh: beginMWh - 10, ExportMWh: 5000},
		{Time: t0, TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindSessionBegin, SessionID: sessID, MeterSerial: "EM-1", ImportMWh: beginMWh, ExportMWh: 5000, Detail: "id_token=04A1B2C3"},
		{Time: t0.Add(time.Minute), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindReading, SessionID: sessID, MeterSerial: "EM-1", ImportMWh: beginMWh + 1000, ExportMWh: 5000},
		{Time: t1, TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindSessionEnd, SessionID: sessID, MeterSerial: "EM-1", ImportMWh: endMWh, ExportMWh: 7250, Event: ledger.EndRemote, Detail: "reason=remote", Attachment: ocmf.Digest(rec)},
		{Time: t1.Add(time.Second), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindReading, MeterSerial: "EM-1", ImportMWh: endMWh, ExportMWh: 7250},
	}
	var prev [32]byte
	leaves := make([][32]byte, len(recs))
	for i, r := range recs {
		e := sign(f.key, uint64(i+1), prev, r)
		f.entries = append(f.entries, e)
		prev, leaves[i] = e.Hash(), e.Hash()
	}
	a := anchor.Anchor{First: 1, Last: 5, Root: anchor.Root(leaves), LastHash: leaves[4]}
	a.Sign(f.key)
	payload, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	f.payload = payload
	f.blockID = sha256.Sum256([]byte("receipt test block"))
	f.sess = Session{EVSEID: evseID, Begin: f.entries[1], End: f.entries[3], OCMF: rec, OCMFKey: ocmfKeyDER(t)}
	return f
}

// anchored returns the session with /1 proofs of both entries.
func (f *fixture) anchored(t testing.TB) Session {
	s := f.sess
	leaves := make([][32]byte, len(f.entries))
	for i := range f.entries {
		leaves[i] = f.entries[i].Hash()
	}
	var err error
	if s.BeginProof, err = anchor.NewProof(s.Begin, leaves, f.payload, f.blockID, 7, nil); err != nil {
		t.Fatal(err)
	}
	if s.EndProof, err = anchor.NewProof(s.End, leaves, f.payload, f.blockID, 7, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

func build(t testing.TB, f *fixture, s Session, r Rendering) []byte {
	t.Helper()
	b, err := Build(s, r, f.key, testCPO, created)
	if err != nil {
		t.Fatalf("build %s: %v", r, err)
	}
	return b
}

func goldenCases(t testing.TB, f *fixture) []struct {
	name    string
	doc     []byte
	verdict Verdict
} {
	noOCMF := f.sess
	noOCMF.OCMF, noOCMF.OCMFKey = "", nil
	return []struct {
		name    string
		doc     []byte
		verdict Verdict
	}{
		{"vc.json", build(t, f, f.sess, RenderVC), Valid},
		{"cdr.json", build(t, f, f.sess, RenderCDR), Valid},
		{"vc-no-ocmf.json", build(t, f, noOCMF, RenderVC), Valid},
		// /1 proofs with no node to ask: everything else holds, the ledger is undecided.
		{"vc-anchored.json", build(t, f, f.anchored(t), RenderVC), Undecided},
		{"cdr-anchored.json", build(t, f, f.anchored(t), RenderCDR), Undecided},
	}
}

// TestGolden freezes both renderings (with and without OCMF record and proofs) byte for byte
// and checks that each verifies with the expected verdict.
func TestGolden(t *testing.T) {
	f := newFixture(t)
	for _, c := range goldenCases(t, f) {
		path := filepath.Join("testdata", c.name)
		if *update {
			if err := os.WriteFile(path, append(append([]byte(nil), c.doc...), '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append(append([]byte(nil), c.doc...), '\n'), want) {
			t.Errorf("%s: the receipt differs from the golden file (go test -update to accept)", c.name)
		}
		rep := Verify(context.Background(), want, Options{})
		if rep.Verdict() != c.verdict {
			t.Errorf("%s: verdict %s, want %s: %v %+v", c.name, rep.Verdict(), c.verdict, rep.Err(), rep.Checks)
		}
	}
}

// TestBuildRefuses checks that a receipt is made only from one session's begin and end entries,
// signed with their device key.
func TestBuildRefuses(t *testing.T) {
	f := newFixture(t)
	for name, mod := range map[string]func(s *Session) ed25519.PrivateKey{
		"swapped":       func(s *Session) ed25519.PrivateKey { s.Begin, s.End = s.End, s.Begin; return f.key },
		"reading":       func(s *Session) ed25519.PrivateKey { s.Begin = f.entries[2]; return f.key },
		"other key":     func(s *Session) ed25519.PrivateKey { return ledgertest.NamedKey(t, "other") },
		"OCMF, no key":  func(s *Session) ed25519.PrivateKey { s.OCMFKey = nil; return f.key },
		"one proof":     func(s *Session) ed25519.PrivateKey { *s = f.anchored(t); s.EndProof = nil; return f.key },
		"other session": func(s *Session) ed25519.PrivateKey { s.End.SessionID = "x"; s.End.Sign(f.key); return f.key },
	} {
		s := f.sess
		key := mod(&s)
		if _, err := Build(s, RenderVC, key, testCPO, created); !errors.Is(err, ErrInput) {
			t.Errorf("%s: %v, want ErrInput", name, err)
		}
	}
}

// mutate decodes doc, applies fn to the value at path (object members, or list indexes as
// decimal), and re-encodes it.
func mutate(t testing.TB, doc []byte, path string, fn func(v any) any) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(path, ".")
	var walk func(v any, i int) any
	walk = func(v any, i int) any {
		if i == len(parts) {
			return fn(v)
		}
		switch n := v.(type) {
		case map[string]any:
			if _, ok := n[parts[i]]; !ok {
				t.Fatalf("no member %q in path %s", parts[i], path)
			}
			n[parts[i]] = walk(n[parts[i]], i+1)
			return n
		case []any:
			var k int
			if _, err := jsonNumber(parts[i], &k); err != nil {
				t.Fatalf("path %s: %v", path, err)
			}
			n[k] = walk(n[k], i+1)
			return n
		}
		t.Fatalf("path %s: %T at %q", path, v, parts[i])
		return nil
	}
	root = walk(root, 0)
	b, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonNumber(s string, k *int) (int, error) { return *k, json.Unmarshal([]byte(s), k) }

// resign replaces the proof with a fresh one by key: what a device (or whoever holds a key)
// that signs wrong figures would emit.
func resign(t testing.TB, doc []byte, key ed25519.PrivateKey) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "proof")
	b, _ := json.Marshal(m)
	out, err := Sign(b, key, created)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func addInt(d int64) func(any) any {
	return func(v any) any {
		n, err := v.(json.Number).Int64()
		if err != nil {
			panic(err)
		}
		return json.Number(big.NewInt(n + d).String())
	}
}

func setTo(x any) func(any) any { return func(any) any { return x } }

func flipHex(v any) any {
	s := v.(string)
	i := len(s) - 3
	c := byte('0')
	if s[i] == '0' {
		c = '1'
	}
	return s[:i] + string(c) + s[i+1:]
}

// TestTamperedFieldsCaught changes each field of both renderings. Unsigned, every change breaks
// the Data Integrity proof; re-signed with the device key (a device signing wrong figures) or
// another key, every change is still caught by the checks against the entries, the OCMF record
// or the proofs, never accepted.
func TestTamperedFieldsCaught(t *testing.T) {
	f := newFixture(t)
	vc := build(t, f, f.anchored(t), RenderVC)
	cdr := build(t, f, f.anchored(t), RenderCDR)
	other := newFixture(t)
	otherEntry := func() string {
		e := other.entries[3]
		e.SessionID = "another"
		e.Sign(f.key)
		b, _ := e.MarshalBinary()
		return hex0x(b)
	}()
	pubOther, _, _ := ed25519.GenerateKey(nil)
	_ = pubOther
	s := "credentialSubject."
	cases := []struct {
		doc        []byte
		path       string
		fn         func(any) any
		failsCheck string // the check that fails when re-signed by the device key
	}{
		{vc, s + "energyImportMWh", addInt(1000), "figures"},
		{vc, s + "energyExportMWh", addInt(-1), "figures"},
		{vc, s + "start.importMWh", addInt(-1), "figures"},
		{vc, s + "end.importMWh", addInt(1), "figures"},
		{vc, s + "end.exportMWh", addInt(1), "figures"},
		{vc, s + "start.time", setTo("2026-12-05T07:29:00.123456789Z"), "figures"},
		{vc, s + "end.time", setTo("2026-12-05T09:17:13.123456789Z"), "figures"},
		{vc, s + "start.timeStatus", setTo("U"), "figures"},
		{vc, s + "start.seq", addInt(1), "figures"},
		{vc, s + "sessionId", setTo("another"), "figures"},
		{vc, s + "authorization.tokenHash", setTo(TokenHash("someone else")), "figures"},
		{vc, s + "endReason", setTo("energy_limit"), "figures"},
		{vc, s + "ocmf", func(v any) any { return strings.Replace(v.(string), `"RV":1246.912`, `"RV":1256.912`, 1) }, "ocmf"},
		{vc, s + "ocmfPublicKey", setTo(hex0x(func() []byte {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), nil)
			d, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
			return d
		}())), "ocmf"},
		{vc, s + "beginEntry", flipHex, "begin entry"},
		{vc, s + "endEntry", setTo(otherEntry), "entries"},
		{vc, s + "anchor.begin.path", setTo(json.RawMessage(`{"value":"0x` + strings.Repeat("00", 32) + `"}`)), "ledger"},
		{vc, s + "anchor.end.anchor", flipHex, "ledger"},
		{vc, s + "anchor.blockId", flipHex, "ledger"},
		{vc, "issuer", setTo(DIDKey(ledgertest.NamedKey(t, "other").Public().(ed25519.PublicKey))), "credential"},
		{vc, "validFrom", setTo("2027-01-01T00:00:00Z"), "credential"},
		{cdr, "total_energy", setTo(json.Number("13.3445")), "cdr"},
		{cdr, "charging_periods.0.dimensions.0.volume", setTo(json.Number("1")), "cdr"},
		{cdr, "total_time", setTo(json.Number("0.5")), "cdr"},
		{cdr, "start_date_time", setTo("2026-12-05T07:00:00Z"), "cdr"},
		{cdr, "cdr_location.evse_id", setTo("DE*XXX*E0001*1"), "cdr"},
		{cdr, "signed_data.signed_values.0.signed_data", setTo("T0NNRnx7fXx7fQ=="), "cdr"},
		{cdr, "cdr_token.uid", setTo("FFFFFFFF"), "cdr"},
		{cdr, "chargegate.energyImportMWh", addInt(1), "figures"},
	}
	ctx := context.Background()
	for _, c := range cases {
		bad := mutate(t, c.doc, c.path, c.fn)
		if rep := Verify(ctx, bad, Options{}); rep.Verdict() != Invalid || rep.Checks[len(rep.Checks)-1].Name != "signature" {
			t.Errorf("%s unsigned: %s %v, want the signature to fail", c.path, rep.Verdict(), rep.Err())
		}
		rep := Verify(ctx, resign(t, bad, f.key), Options{})
		if rep.Verdict() != Invalid {
			t.Errorf("%s re-signed: %s, want invalid", c.path, rep.Verdict())
			continue
		}
		var failed string
		for _, ch := range rep.Checks {
			if !ch.OK && !ch.Skip {
				failed = ch.Name
				break
			}
		}
		if failed != c.failsCheck {
			t.Errorf("%s re-signed: check %q failed (%v), want %q", c.path, failed, rep.Err(), c.failsCheck)
		}
		if rep := Verify(ctx, resign(t, bad, ledgertest.NamedKey(t, "other")), Options{}); rep.Verdict() != Invalid {
			t.Errorf("%s signed by another key: %s, want invalid", c.path, rep.Verdict())
		}
	}
	// The proof itself: a changed proofValue, created or verificationMethod.
	for _, p := range []struct {
		path string
		fn   func(any) any
	}{
		{"proof.proofValue", func(v any) any { s := v.(string); return s[:10] + "1" + s[11:] }},
		{"proof.created", setTo("2020-01-01T00:00:00Z")},
		{"proof.verificationMethod", setTo(VerificationMethod(ledgertest.NamedKey(t, "other").Public().(ed25519.PublicKey)))},
		{"proof.cryptosuite", setTo("eddsa-rdfc-2022")},
	} {
		if rep := Verify(ctx, mutate(t, vc, p.path, p.fn), Options{}); rep.Verdict() != Invalid {
			t.Errorf("%s: %s, want invalid", p.path, rep.Verdict())
		}
	}
	// A signed receipt of another device's entries (its own key signing them) is invalid too.
	if rep := Verify(ctx, resign(t, vc, ledgertest.NamedKey(t, "other")), Options{}); rep.Verdict() != Invalid {
		t.Errorf("entries of one device, receipt by another: %s", rep.Verdict())
	}
}

// FuzzParse feeds arbitrary bytes to the receipt parser and the verifier: they must not panic,
// and what verifies as valid must parse back to the same evidence.
func FuzzParse(f *testing.F) {
	fx := newFixture(f)
	for _, c := range goldenCases(f, fx) {
		f.Add(c.doc)
	}
	f.Add([]byte(`{"@context":[]}`))
	f.Add([]byte(`{"chargegate":null}`))
	f.Add(hostileReceipt(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = Parse(b)
		_, _ = Canonicalize(b)
		rep := Verify(context.Background(), b, Options{})
		if rep.Verdict() == Valid && rep.Evidence == nil {
			t.Fatal("valid without evidence")
		}
	})
}

// A receipt is outside bytes: a proof whose block says "transaction" without being one made
// iota.go's JSON decoding panic (found by changing each field of a real anchored receipt).
// Parse must refuse it as invalid instead.
func TestParseRefusesHostileBlockJSON(t *testing.T) {
	hostile := hostileReceipt(t)
	if _, _, err := Parse(hostile); !errors.Is(err, ErrInvalid) {
		t.Errorf("Parse = %v, want ErrInvalid", err)
	}
	if v := Verify(context.Background(), hostile, Options{}).Verdict(); v != Invalid {
		t.Errorf("Verify = %s, want invalid", v)
	}
}

// hostileReceipt is testdata/vc-anchored.json with an inclusion proof whose block's payload says
// "transaction" (type 6) without being one.
func hostileReceipt(tb testing.TB) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "vc-anchored.json"))
	if err != nil {
		tb.Fatal(err)
	}
	poi := `"poi":{"milestone":null,"block":{"protocolVersion":2,"parents":["0x` + strings.Repeat("00", 32) +
		`"],"payload":{"type":6},"nonce":"0"},"proof":{}},`
	hostile := bytes.Replace(b, []byte(`"blockId":`), []byte(poi+`"blockId":`), 1)
	if bytes.Equal(hostile, b) {
		tb.Fatal("the fixture has no proof to change")
	}
	return hostile
}
