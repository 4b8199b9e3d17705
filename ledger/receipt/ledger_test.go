package receipt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/ledgertest"
	"github.com/chargegate/chargegate/ledger/node"
	"github.com/chargegate/chargegate/ledger/ocmf"
	"github.com/chargegate/chargegate/ledger/receipt"
	"github.com/chargegate/chargegate/ledger/sqlite"
	"github.com/chargegate/chargegate/ledger/stardust"
)

// TestReceiptFromStoreAndNode makes a session in a real store (ledger/sqlite), anchors it on a
// ledger node served over loopback HTTP with the real publisher (begin and end in different
// anchors), builds the receipt from the store with both chargegate-proofs, and checks it:
// valid offline under the node's coordinator keys and against the node; undecided with neither,
// and once the node is gone; invalid with the proofs swapped.
func TestReceiptFromStoreAndNode(t *testing.T) {
	ctx := context.Background()
	key := ledgertest.NamedKey(t, "receipt store")
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{Key: key, Logger: slog.New(slog.DiscardHandler), Ballast: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ocmfKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)
	const id = "feedbeef00000001"
	var recs []ledger.Record
	var ocmfRec string
	imp := int64(500_000_000)
	for i := range 12 {
		r := ledger.Record{Time: t0.Add(time.Duration(i) * time.Minute), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindReading, MeterSerial: "EM-7", ImportMWh: imp, ExportMWh: 10}
		switch {
		case i == 3:
			r.Kind, r.SessionID, r.Detail = ledger.KindSessionBegin, id, "id_token=CAFE0001"
		case i > 3 && i < 9:
			r.SessionID = id
		}
		if i == 9 {
			payload, err := ocmf.BuildPayload(ocmf.Session{GatewayID: "chargegate", GatewaySerial: "t", MeterSerial: "EM-7", Readings: []ocmf.Reading{
				{Time: recs[3].Time, TimeStatus: 'S', TX: "B", EnergyMWh: recs[3].ImportMWh},
				{Time: r.Time, TimeStatus: 'S', TX: "E", EnergyMWh: imp},
			}}, 1, 3)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := ocmf.SignPayload(payload, ocmfKey)
			if err != nil {
				t.Fatal(err)
			}
			r.Kind, r.SessionID, r.Event, r.Attachment = ledger.KindSessionEnd, id, ledger.EndLocal, ocmf.Digest(rec)
			ocmfRec = rec
		}
		recs = append(recs, r)
		imp += 1_234_567
	}
	if _, err := st.Append(ctx, recs...); err != nil {
		t.Fatal(err)
	}

	nodeDir := t.TempDir()
	n, err := node.New(node.Config{Dir: nodeDir, NoPoW: true, MilestoneInterval: 20 * time.Millisecond, CoordinatorKeys: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	nctx, stopNode := context.WithCancel(ctx)
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- n.Run(nctx) }()
	halt := func() {
		if stopNode != nil {
			stopNode()
			<-nodeDone
			srv.Close()
			n.Close()
			stopNode = nil
		}
	}
	defer halt()

	proofDir := t.TempDir()
	pub, err := stardust.NewPublisher(st, key, stardust.Config{
		NodeURL: srv.URL, BatchSize: 6, BatchAge: time.Millisecond, PollInterval: 10 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond, CallTimeout: 2 * time.Second, ProofDir: proofDir, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stopPub := context.WithCancel(ctx)
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(pctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for pub.Status().Proofs < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("not anchored with proofs after 30 s: %+v", pub.Status())
		}
		time.Sleep(20 * time.Millisecond) // polling interval of the wait loop, not a wait for an event
	}
	stopPub()
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}

	begin, end, err := receipt.FindSession(ctx, st, id)
	if err != nil || begin.Seq != 4 || end.Seq != 10 {
		t.Fatalf("find session: %d %d %v", begin.Seq, end.Seq, err)
	}
	proofFor := func(seq uint64) *anchor.Proof {
		rec, err := st.AnchorFor(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		ap, err := anchor.ReadAnchorProof(proofDir, rec.First, rec.Last)
		if err != nil {
			t.Fatal(err)
		}
		p, err := anchor.ProofFor(ctx, st, seq, ap.PoI)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	spki, _ := x509.MarshalPKIXPublicKey(&ocmfKey.PublicKey)
	sess := receipt.Session{EVSEID: "DE*CGT*E0007*1", Begin: begin, End: end, OCMF: ocmfRec, OCMFKey: spki,
		BeginProof: proofFor(begin.Seq), EndProof: proofFor(end.Seq)}
	if sess.BeginProof.BlockID == sess.EndProof.BlockID {
		t.Fatalf("begin and end in one anchor; the test wants two")
	}
	keysFile, err := os.ReadFile(filepath.Join(nodeDir, node.KeysFileName))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := anchor.ParseCoordinatorKeys(keysFile)
	if err != nil {
		t.Fatal(err)
	}
	client := nodeclient.New(srv.URL)
	for _, r := range []receipt.Rendering{receipt.RenderVC, receipt.RenderCDR} {
		doc, err := receipt.Build(sess, r, key, receipt.CPO{CountryCode: "DE", PartyID: "CGT", Currency: "EUR"}, end.Time)
		if err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]struct {
			opt  receipt.Options
			want receipt.Verdict
		}{
			"offline":      {receipt.Options{Keys: keys}, receipt.Valid},
			"node":         {receipt.Options{Node: client}, receipt.Valid},
			"neither":      {receipt.Options{}, receipt.Undecided},
			"foreign keys": {receipt.Options{Keys: otherKeys(t, keys)}, receipt.Invalid},
		} {
			rep := receipt.Verify(ctx, doc, c.opt)
			if rep.Verdict() != c.want || (c.want == receipt.Valid) != rep.Anchored {
				t.Errorf("%s %s: %s (anchored %v) %v, want %s", r, name, rep.Verdict(), rep.Anchored, rep.Err(), c.want)
			}
		}
		swapped := sess
		swapped.BeginProof, swapped.EndProof = sess.EndProof, sess.BeginProof
		bad, err := receipt.Build(swapped, r, key, receipt.CPO{}, end.Time)
		if err != nil {
			t.Fatal(err)
		}
		if rep := receipt.Verify(ctx, bad, receipt.Options{Keys: keys}); rep.Verdict() != receipt.Invalid {
			t.Errorf("%s with swapped proofs: %s", r, rep.Verdict())
		}
	}
	doc, _ := receipt.Build(sess, receipt.RenderVC, key, receipt.CPO{}, end.Time)
	halt()
	if rep := receipt.Verify(ctx, doc, receipt.Options{Node: client}); rep.Verdict() != receipt.Undecided {
		t.Errorf("node gone: %s %v, want undecided", rep.Verdict(), rep.Err())
	}
	if rep := receipt.Verify(ctx, doc, receipt.Options{Keys: keys}); rep.Verdict() != receipt.Valid {
		t.Errorf("node gone, offline: %s %v, want valid", rep.Verdict(), rep.Err())
	}
}

// otherKeys is a coordinator keys file of another network: same shape, other keys.
func otherKeys(t *testing.T, k *anchor.CoordinatorKeys) *anchor.CoordinatorKeys {
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, r := range m["publicKeyRanges"].([]any) {
		r.(map[string]any)["key"] = "0x" + strings.Repeat("11", 32)
	}
	b, _ = json.Marshal(m)
	o, err := anchor.ParseCoordinatorKeys(b)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
