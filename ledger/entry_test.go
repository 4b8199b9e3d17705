package ledger_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// sampleRecords covers every kind and every optional field.
func sampleRecords() []ledger.Record {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	var att [32]byte
	copy(att[:], bytes.Repeat([]byte{0xA5}, 32))
	return []ledger.Record{
		{Time: t0, TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindSessionBegin, SessionID: "s-0001", MeterSerial: "EM-123456", ImportMWh: 1_234_567_890, ExportMWh: 0},
		{Time: t0.Add(time.Second), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindReading, SessionID: "s-0001", MeterSerial: "EM-123456", ImportMWh: 1_234_568_001, ExportMWh: 7},
		{Time: t0.Add(5 * time.Second), TimeStatus: ledger.TimeInformative, Kind: ledger.KindGap, SessionID: "s-0001", MeterSerial: "EM-123456", Event: ledger.EventPollMissed, Detail: "3 polls missed: timeout"},
		{Time: t0.Add(6 * time.Second), TimeStatus: ledger.TimeRelative, Kind: ledger.KindSessionEnd, SessionID: "s-0001", MeterSerial: "EM-123456", ImportMWh: 1_234_570_000, Attachment: att},
		{Time: time.Date(1970, 1, 1, 0, 0, 0, 1, time.UTC), TimeStatus: ledger.TimeUnsynchronised, Kind: ledger.KindEvent, MeterSerial: "EM-123456", ImportMWh: -1, ExportMWh: -9_000_000_000_000_000, Event: "tamper", Detail: "lid opened — Ümlaut"},
		// Version 2: a reading of the second EVSE of a box with several.
		{Time: t0.Add(7 * time.Second), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindReading, SessionID: "s-0002", MeterSerial: "EM-654321", ImportMWh: 42_000, EVSE: 2},
	}
}

// chainOf signs recs into a chain starting at seq 1.
func chainOf(key ed25519.PrivateKey, recs []ledger.Record) []ledger.Entry {
	var out []ledger.Entry
	var prev [32]byte
	for i, r := range recs {
		e := ledger.Entry{Version: ledger.FormatVersion(r), Seq: uint64(i + 1), Prev: prev, Record: r}
		e.Sign(key)
		prev = e.Hash()
		out = append(out, e)
	}
	return out
}

type goldenEntry struct {
	Kind      string `json:"kind"`
	Binary    string `json:"binary"`
	Hash      string `json:"hash"`
	Signature string `json:"signature"`
}

func TestGoldenVectors(t *testing.T) {
	entries := chainOf(ledgertest.Key(t), sampleRecords())
	var got []goldenEntry
	for _, e := range entries {
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		h := e.Hash()
		got = append(got, goldenEntry{e.Kind.String(), hex.EncodeToString(b), hex.EncodeToString(h[:]), hex.EncodeToString(e.Signature)})
	}
	path := filepath.Join("testdata", "golden.json")
	if *update {
		data, _ := json.MarshalIndent(got, "", " ")
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []goldenEntry
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d vectors, golden has %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("vector %d (%s) changed:\n got %+v\nwant %+v", i, want[i].Kind, got[i], want[i])
		}
		raw, _ := hex.DecodeString(want[i].Binary)
		e, err := ledger.DecodeEntry(raw)
		if err != nil {
			t.Fatalf("decode golden %d: %v", i, err)
		}
		if err := e.Verify(); err != nil {
			t.Errorf("golden %d does not verify: %v", i, err)
		}
		if !e.Time.Equal(entries[i].Time) || e.Record.Detail != entries[i].Detail || e.Seq != entries[i].Seq {
			t.Errorf("golden %d decodes to %+v, want %+v", i, e, entries[i])
		}
	}
	if _, err := ledger.VerifyChain(slicesSeq(entries), ledger.ChainOptions{Key: ledgertest.Key(t).Public().(ed25519.PublicKey)}); err != nil {
		t.Errorf("golden chain: %v", err)
	}
}

func TestRoundTripAndTamper(t *testing.T) {
	for i, e := range chainOf(ledgertest.Key(t), sampleRecords()) {
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		d, err := ledger.DecodeEntry(b)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		b2, _ := d.MarshalBinary()
		if !bytes.Equal(b, b2) {
			t.Fatalf("entry %d: re-encoding differs", i)
		}
		// Every single-bit flip either fails to decode or fails to verify.
		for pos := 0; pos < len(b); pos++ {
			c := bytes.Clone(b)
			c[pos] ^= 0x01
			d, err := ledger.DecodeEntry(c)
			if err != nil {
				continue
			}
			if err := d.Verify(); err == nil {
				t.Fatalf("entry %d: flip at byte %d still verifies", i, pos)
			}
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	chain := chainOf(ledgertest.Key(t), sampleRecords())
	e, e2 := chain[0], chain[len(chain)-1]
	good, _ := e.MarshalBinary()
	good2, _ := e2.MarshalBinary()
	evseAt := len(good2) - ledger.SignatureSize - 1
	cases := map[string][]byte{
		"version 3":                  func() []byte { c := bytes.Clone(good); c[0] = 3; return c }(),
		"version 2 naming EVSE 0":    func() []byte { c := bytes.Clone(good2); c[evseAt] = 0; return c }(),
		"version 1 with an EVSE":     func() []byte { c := bytes.Clone(good2); c[0] = 1; return c }(),
		"empty":                      nil,
		"short":                      good[:100],
		"trailing byte":              append(bytes.Clone(good), 0),
		"missing byte":               good[:len(good)-1],
		"version 2 without its EVSE": func() []byte { c := bytes.Clone(good); c[0] = 2; return c }(),
		"kind 0":                     func() []byte { c := bytes.Clone(good); c[1] = 0; return c }(),
		"kind 6":                     func() []byte { c := bytes.Clone(good); c[1] = 6; return c }(),
		"time status X":              func() []byte { c := bytes.Clone(good); c[2] = 'X'; return c }(),
		"seq 0":                      func() []byte { c := bytes.Clone(good); copy(c[35:43], make([]byte, 8)); return c }(),
		"long prefix":                func() []byte { c := bytes.Clone(good); c[131] = 200; return c }(),
	}
	for name, b := range cases {
		if _, err := ledger.DecodeEntry(b); !errors.Is(err, ledger.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestRecordValidate(t *testing.T) {
	ok := sampleRecords()[0]
	bad := map[string]func(r *ledger.Record){
		"kind":        func(r *ledger.Record) { r.Kind = 0 },
		"time status": func(r *ledger.Record) { r.TimeStatus = 'x' },
		"zero time":   func(r *ledger.Record) { r.Time = time.Time{} },
		"detail":      func(r *ledger.Record) { r.Detail = strings.Repeat("d", ledger.MaxDetail+1) },
		"session":     func(r *ledger.Record) { r.SessionID = strings.Repeat("s", ledger.MaxSessionID+1) },
		"utf8":        func(r *ledger.Record) { r.MeterSerial = "\xff" },
		"event code":  func(r *ledger.Record) { r.Kind = ledger.KindGap; r.Event = "" },
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid record: %v", err)
	}
	for name, mut := range bad {
		r := ok
		mut(&r)
		if err := r.Validate(); !errors.Is(err, ledger.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	for _, e := range chainOf(ledgertest.Key(f), sampleRecords()) {
		b, _ := e.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ledger.DecodeEntry(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes: the layout is canonical.
		out, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded entry does not marshal: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, out)
		}
		_ = e.Verify()
	})
}
