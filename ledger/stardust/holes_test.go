package stardust_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/node"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// crashCopy copies a store's files while it is open, as a crash (or power cut) leaves them.
func crashCopy(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	for _, name := range []string{sqlite.DBFileName, sqlite.DBFileName + "-wal", sqlite.DBFileName + "-shm", "head"} {
		b, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// asIfRebooted rewrites the boot ID in both slots of the head file in dir (layout in
// ledger/sqlite/doc.go) to another boot's: the files now look as a power cut leaves them.
func asIfRebooted(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, "head")
	b, err := os.ReadFile(p)
	if err != nil || len(b) != 256 {
		t.Fatalf("head file: %d bytes, %v", len(b), err)
	}
	for off := 0; off < 256; off += 128 {
		slot := b[off : off+128]
		if string(slot[:4]) != "CGHD" || slot[4] != 2 {
			continue
		}
		for i := 64; i < 80; i++ {
			slot[i] = 0xEE
		}
		binary.BigEndian.PutUint32(slot[80:], crc32.Checksum(slot[:80], crc32.MakeTable(crc32.Castagnoli)))
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestPublisherAnchorsAcrossDeclaredHoles: a store whose chain has every kind of declared hole —
// an entry lost to damage (entries_lost), the jump of a replaced store (store_replaced) and the
// numbers skipped after an unclean shutdown (seq_skipped) — is anchored to its head, each anchor
// over consecutive entries only; the anchor chain on the ledger verifies given the declared holes
// and not without them; proofs on both sides of each hole verify.
func TestPublisherAnchorsAcrossDeclaredHoles(t *testing.T) {
	ctx := context.Background()
	key := deviceKey("holes")
	dirA := t.TempDir()
	a := openStore(t, dirA, key, 40)
	e20, err := a.Entry(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	// A crash copy with entry 20's signature damaged in place: salvage keeps 1..19 and 21..40.
	dirB := crashCopy(t, dirA)
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dirB, sqlite.DBFileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	p := filepath.Join(dirB, sqlite.DBFileName)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sig := e20.Signature
	data = bytes.ReplaceAll(data, sig[:16], append([]byte{sig[0] ^ 1}, sig[1:16]...))
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b := openStore(t, dirB, key, 10)
	// A power cut: the copy of B resumes after a seq_skipped event.
	dirC := crashCopy(t, dirB)
	asIfRebooted(t, dirC)
	st := openStore(t, dirC, key, 5)
	b.Close()

	stats, err := ledger.VerifyChain(st.All(ctx), ledger.ChainOptions{Key: key.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, h := range stats.Holes {
		kinds[h.Event] = true
	}
	if !kinds[ledger.EventEntriesLost] || !kinds[ledger.EventStoreReplaced] || !kinds[ledger.EventSeqSkipped] {
		t.Fatalf("holes %+v: want one of each kind", stats.Holes)
	}

	tn := startNode(t, node.Config{NoPoW: true, MilestoneInterval: 20 * time.Millisecond})
	_, stop := startPublisher(t, st, key, fastPublisher(tn.srv.URL, 1000))
	waitAnchored(t, st, 20*time.Second)
	stop()

	// Every anchor covers consecutive stored entries; anchors and holes together cover 1..head.
	as, err := st.Anchors(ctx, ledger.AnchorConfirmed)
	if err != nil {
		t.Fatal(err)
	}
	next := uint64(1)
	for _, an := range as {
		if an.First != next {
			if h, err := st.DeclaredHole(ctx, next); err != nil || h.To+1 < an.First {
				t.Fatalf("anchor starts at %d, %d..%d not declared missing: %+v %v", an.First, next, an.First-1, h, err)
			}
		}
		es, err := st.Entries(ctx, an.First, int(an.Last-an.First+1))
		if err != nil || uint64(len(es)) != an.Last-an.First+1 {
			t.Fatalf("anchor %d..%d covers missing entries (%d stored, %v)", an.First, an.Last, len(es), err)
		}
		next = an.Last + 1
	}
	if next != stats.Last+1 {
		t.Fatalf("anchors end at %d, head %d", next-1, stats.Last)
	}
	client := nodeclient.New(tn.srv.URL)
	pub := key.Public().(ed25519.PublicKey)
	last := as[len(as)-1]
	res, err := anchor.VerifyChain(ctx, client, pub, last.BlockID, stats.Holes...)
	if err != nil || res.Anchors != len(as) || res.Through != stats.Last || len(res.Skipped) == 0 {
		t.Fatalf("ledger chain with the declared holes: %+v, %v", res, err)
	}
	if _, err := anchor.VerifyChain(ctx, client, pub, last.BlockID); !errors.Is(err, anchor.ErrChain) {
		t.Fatalf("ledger chain without the declared holes: %v, want ErrChain", err)
	}
	verifyProofs(t, st, tn.srv.URL, 1, 19, 21, 40, stats.Holes[len(stats.Holes)-1].To+1, stats.Last)
	t.Logf("%d anchors over %d entries, across holes %+v", len(as), stats.Entries, res.Skipped)
}
