package anchor_test

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotaledger/hive.go/serializer/v2"
	iotago "github.com/iotaledger/iota.go/v3"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// chain signs n readings into a chain starting at seq 1 with fixed times.
func chain(key ed25519.PrivateKey, n int) []ledger.Entry {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	out := make([]ledger.Entry, n)
	var prev [32]byte
	for i := range out {
		e := ledger.Entry{Version: ledger.Version, Seq: uint64(i + 1), Prev: prev, Record: ledger.Record{
			Time: t0.Add(time.Duration(i) * time.Second), TimeStatus: ledger.TimeSynchronised,
			Kind: ledger.KindReading, MeterSerial: "EM-1", ImportMWh: int64(i) * 1000,
		}}
		e.Sign(key)
		prev = e.Hash()
		out[i] = e
	}
	return out
}

func leavesOf(es []ledger.Entry) [][32]byte {
	l := make([][32]byte, len(es))
	for i := range es {
		l[i] = es[i].Hash()
	}
	return l
}

// signedAnchor anchors entries with key, chained to prev.
func signedAnchor(t testing.TB, key ed25519.PrivateKey, es []ledger.Entry, prev [32]byte) (anchor.Anchor, []byte) {
	t.Helper()
	l := leavesOf(es)
	a := anchor.Anchor{First: es[0].Seq, Last: es[len(es)-1].Seq, Root: anchor.Root(l), LastHash: l[len(l)-1], Prev: prev}
	a.Sign(key)
	b, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// blockFor builds the block carrying payload for the device of key, as the publisher does
// (without PoW: the offline checks get minScore 0).
func blockFor(t testing.TB, key ed25519.PrivateKey, payload []byte) *iotago.Block {
	t.Helper()
	tag, err := anchor.Tag(ledger.DeviceID(key.Public().(ed25519.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	return &iotago.Block{ProtocolVersion: 2, Parents: iotago.BlockIDs{{1}, {2}}, Payload: &iotago.TaggedData{Tag: tag, Data: payload}, Nonce: 42}
}

func TestPayloadRoundTripAndSignature(t *testing.T) {
	key := ledgertest.NamedKey(t, "anchor")
	es := chain(key, 5)
	a, b := signedAnchor(t, key, es, [32]byte{9})
	if len(b) != anchor.PayloadSize {
		t.Fatalf("payload %d bytes, want %d", len(b), anchor.PayloadSize)
	}
	got, err := anchor.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != a {
		t.Errorf("round trip: %+v != %+v", got, a)
	}
	if err := got.Verify(key.Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("verify: %v", err)
	}
	if err := got.Verify(ledgertest.NamedKey(t, "other").Public().(ed25519.PublicKey)); !errors.Is(err, anchor.ErrSignature) {
		t.Errorf("other key: %v, want ErrSignature", err)
	}
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 1
		d, err := anchor.Decode(c)
		if err != nil {
			continue // version or range broken: rejected by the decoder
		}
		if err := d.Verify(key.Public().(ed25519.PublicKey)); err == nil {
			t.Fatalf("flipping a bit of byte %d still verifies", i)
		}
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], append(append([]byte{}, b...), 0)} {
		if _, err := anchor.Decode(bad); !errors.Is(err, anchor.ErrFormat) {
			t.Errorf("decode %d bytes: %v, want ErrFormat", len(bad), err)
		}
	}
}

func TestTagFitsAndBlockStaysSmall(t *testing.T) {
	key := ledgertest.NamedKey(t, "anchor")
	tag, err := anchor.Tag(ledger.DeviceID(key.Public().(ed25519.PublicKey)))
	if err != nil || !strings.HasPrefix(string(tag), anchor.TagPrefix) || len(tag) > iotago.TaggedPayloadTagMaxLength {
		t.Fatalf("tag %q %v", tag, err)
	}
	if _, err := anchor.Tag(strings.Repeat("x", 60)); err == nil {
		t.Error("overlong tag accepted")
	}
	// Three parents must keep the block within the ≤354-byte PoW step (3^12 hashes at 1500).
	_, payload := signedAnchor(t, key, chain(key, 3), [32]byte{})
	blk := &iotago.Block{ProtocolVersion: 2, Parents: iotago.BlockIDs{{1}, {2}, {3}}, Payload: &iotago.TaggedData{Tag: tag, Data: payload}}
	data, err := blk.Serialize(serializer.DeSeriModePerformValidation, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 354 {
		t.Errorf("anchor block with 3 parents is %d bytes, want ≤ 354", len(data))
	}
}

func TestPathsForEverySizeAndIndex(t *testing.T) {
	key := ledgertest.NamedKey(t, "anchor")
	es := chain(key, 33)
	for n := 1; n <= len(es); n++ {
		l := leavesOf(es[:n])
		root := anchor.Root(l)
		for i := 0; i < n; i++ {
			p, err := anchor.Path(l, i)
			if err != nil {
				t.Fatal(err)
			}
			if err := anchor.VerifyPath(p, l[i], uint64(i), uint64(n), root); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
			if n > 1 {
				// The same path must not prove another leaf, another index or another size.
				j := (i + 1) % n
				if err := anchor.VerifyPath(p, l[j], uint64(i), uint64(n), root); !errors.Is(err, anchor.ErrPath) {
					t.Fatalf("n=%d i=%d proves leaf %d: %v", n, i, j, err)
				}
				if err := anchor.VerifyPath(p, l[i], uint64(j), uint64(n), root); !errors.Is(err, anchor.ErrPath) && i != j {
					t.Fatalf("n=%d i=%d accepted as index %d: %v", n, i, j, err)
				}
			}
		}
	}
}

// goldenFile holds the frozen vectors of the anchor payload and the proof format.
type goldenFile struct {
	Comment string       `json:"comment"`
	Anchor  goldenAnchor `json:"anchor"`
	BlockID string       `json:"blockId"`
	Proof   anchor.Proof `json:"proof"`
}

type goldenAnchor struct {
	First    uint64 `json:"first"`
	Last     uint64 `json:"last"`
	Root     string `json:"root"`
	LastHash string `json:"lastHash"`
	Prev     string `json:"prev"`
	Payload  string `json:"payload"`
}

func TestGoldenVectors(t *testing.T) {
	key := ledgertest.NamedKey(t, "anchor")
	es := chain(key, 7)
	a, payload := signedAnchor(t, key, es, [32]byte{0xAB})
	blk := blockFor(t, key, payload)
	id := blk.MustID()
	p, err := anchor.NewProof(es[4], leavesOf(es), payload, id, 12, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := goldenFile{
		Comment: "anchor v1 over 7 readings signed with Ed25519 seed SHA-256(\"chargegate anchor test key\"); block: 2 parents 0x01…, 0x02…, nonce 42, no PoW",
		Anchor: goldenAnchor{First: a.First, Last: a.Last, Root: iotago.EncodeHex(a.Root[:]), LastHash: iotago.EncodeHex(a.LastHash[:]),
			Prev: iotago.EncodeHex(a.Prev[:]), Payload: iotago.EncodeHex(payload)},
		BlockID: id.ToHex(),
		Proof:   *p,
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", "golden_v1.json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create): %v", err)
	}
	if string(want) != string(b) {
		t.Fatalf("anchor/proof encoding changed; if intended, run go test -update\n got: %s\nwant: %s", b, want)
	}
	// The stored proof verifies offline against the stored block.
	var g goldenFile
	if err := json.Unmarshal(want, &g); err != nil {
		t.Fatal(err)
	}
	c, err := g.Proof.Check()
	if err != nil {
		t.Fatalf("golden proof: %v", err)
	}
	if err := c.VerifyBlock(blk, 0); err != nil {
		t.Fatalf("golden block: %v", err)
	}
}

// TestTamperedProofs changes one thing at a time and expects the named failure.
func TestTamperedProofs(t *testing.T) {
	key := ledgertest.NamedKey(t, "anchor")
	es := chain(key, 10)
	_, payload := signedAnchor(t, key, es, [32]byte{})
	blk := blockFor(t, key, payload)
	good, err := anchor.NewProof(es[3], leavesOf(es), payload, blk.MustID(), 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Another anchor of the same device, in another block.
	_, payload2 := signedAnchor(t, key, chain(key, 11), [32]byte{})
	blk2 := blockFor(t, key, payload2)

	other := ledgertest.NamedKey(t, "other")
	cases := []struct {
		name   string
		tamper func(p *anchor.Proof)
		block  *iotago.Block
		want   error
	}{
		{"untouched", func(*anchor.Proof) {}, blk, nil},
		{"entry changed", func(p *anchor.Proof) {
			e := es[3]
			e.ImportMWh++
			b, _ := e.MarshalBinary()
			p.Entry = iotago.EncodeHex(b)
		}, blk, anchor.ErrSignature},
		{"entry re-signed by another key", func(p *anchor.Proof) {
			e := es[3]
			e.ImportMWh++
			e.Sign(other)
			b, _ := e.MarshalBinary()
			p.Entry = iotago.EncodeHex(b)
			h := e.Hash()
			p.EntryHash, p.Signature, p.Device = iotago.EncodeHex(h[:]), iotago.EncodeHex(e.Signature), ledger.DeviceID(e.DeviceKey)
			tag, _ := anchor.Tag(p.Device)
			p.Tag = iotago.EncodeHex(tag)
		}, blk, anchor.ErrSignature},
		{"other entry of the batch", func(p *anchor.Proof) {
			b, _ := es[4].MarshalBinary()
			h := es[4].Hash()
			p.Entry, p.EntryHash, p.Signature, p.Seq = iotago.EncodeHex(b), iotago.EncodeHex(h[:]), iotago.EncodeHex(es[4].Signature), 5
		}, blk, anchor.ErrPath},
		{"path sibling changed", func(p *anchor.Proof) {
			s := string(p.Path)
			i := strings.Index(s, `"h":"0x`) + len(`"h":"0x`)
			c := "0"
			if s[i] == '0' {
				c = "1"
			}
			p.Path = json.RawMessage(s[:i] + c + s[i+1:])
		}, blk, anchor.ErrPath},
		{"path truncated", func(p *anchor.Proof) { p.Path = json.RawMessage(`{"value":"` + p.EntryHash + `"}`) }, blk, anchor.ErrPath},
		{"index changed", func(p *anchor.Proof) { p.Index++ }, blk, anchor.ErrPath},
		{"anchor signed by another key", func(p *anchor.Proof) {
			a, _ := anchor.Decode(payload)
			a.Sign(other)
			b, _ := a.MarshalBinary()
			p.Anchor = iotago.EncodeHex(b)
		}, blk, anchor.ErrSignature},
		{"wrong block", func(p *anchor.Proof) { p.BlockID = blk2.MustID().ToHex() }, blk2, anchor.ErrBlock},
		{"block ID of another block", func(*anchor.Proof) {}, blk2, anchor.ErrBlock},
		{"format", func(p *anchor.Proof) { p.Format = "x" }, blk, anchor.ErrFormat},
		{"seq field", func(p *anchor.Proof) { p.Seq = 9 }, blk, anchor.ErrFormat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(good)
			var p anchor.Proof
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			tc.tamper(&p)
			c, err := p.Check()
			if err == nil {
				err = c.VerifyBlock(tc.block, 0)
			}
			if tc.want == nil && err != nil {
				t.Fatalf("good proof rejected: %v", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyBlockChecksPoW(t *testing.T) {
	key := ledgertest.NamedKey(t, "anchor")
	es := chain(key, 2)
	_, payload := signedAnchor(t, key, es, [32]byte{})
	blk := blockFor(t, key, payload)
	p, err := anchor.NewProof(es[0], leavesOf(es), payload, blk.MustID(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Check()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyBlock(blk, 1500); !errors.Is(err, anchor.ErrPoW) {
		t.Errorf("unmined block at 1500: %v, want ErrPoW", err)
	}
}
