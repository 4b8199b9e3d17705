package chaos_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotaledger/hive.go/serializer/v2"
	iotago "github.com/iotaledger/iota.go/v3"
	_ "github.com/mattn/go-sqlite3"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/anchor"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// deliveries checks what the operator received on the readings topic: every signed entry
// verified, each sequence number once. A reading there is by construction acknowledged: it
// comes from the committed outbox.
type deliveries struct {
	*rig.Operator // for commands
	tb            testing.TB
	mu            sync.Mutex
	seen          map[uint64]string // seq → entry hash (hex)
	order         []uint64          // arrival order of first deliveries
	dups          int
	errs          []string
}

// watchDeliveries connects an operator to b that checks every reading it receives.
func watchDeliveries(tb testing.TB, b *rig.Broker) *deliveries {
	tb.Helper()
	o := &deliveries{tb: tb, seen: map[uint64]string{}}
	o.Operator = rig.ConnectOperator(tb, b, func(suffix string, payload []byte) {
		if suffix == "readings" {
			o.onReading(payload)
		}
	})
	return o
}

func (o *deliveries) onReading(payload []byte) {
	var r struct {
		Seq   uint64 `json:"seq"`
		Hash  string `json:"hash"`
		Entry string `json:"entry"`
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := json.Unmarshal(payload, &r); err != nil {
		o.errs = append(o.errs, fmt.Sprintf("reading %q: %v", payload, err))
		return
	}
	// Check the signed entry itself, not just the JSON around it.
	bin, err := base64.StdEncoding.DecodeString(r.Entry)
	var e ledger.Entry
	if err == nil {
		e, err = ledger.DecodeEntry(bin)
	}
	if err == nil {
		err = e.Verify()
	}
	if h := e.Hash(); err == nil && (e.Seq != r.Seq || hex.EncodeToString(h[:]) != r.Hash) {
		err = fmt.Errorf("entry is seq %d hash %x, JSON says %d %s", e.Seq, h, r.Seq, r.Hash)
	}
	if err != nil {
		o.errs = append(o.errs, fmt.Sprintf("reading seq %d: %v", r.Seq, err))
		return
	}
	if prev, ok := o.seen[r.Seq]; ok {
		o.dups++
		if prev != r.Hash {
			o.errs = append(o.errs, fmt.Sprintf("seq %d delivered twice with different hashes %s and %s", r.Seq, prev, r.Hash))
		}
		return
	}
	o.seen[r.Seq] = r.Hash
	o.order = append(o.order, r.Seq)
}

// delivered returns a copy of what arrived, the highest sequence number and the duplicates.
func (o *deliveries) delivered() (map[uint64]string, uint64, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var max uint64
	m := make(map[uint64]string, len(o.seen))
	for s, h := range o.seen {
		m[s] = h
		max = max2(max, s)
	}
	return m, max, o.dups
}

func (o *deliveries) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

// inversions counts first deliveries that arrived after a higher sequence number.
func (o *deliveries) inversions() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	var max uint64
	for _, s := range o.order {
		if s < max {
			n++
		}
		max = max2(max, s)
	}
	return n
}

func (o *deliveries) check() {
	o.tb.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.errs) > 0 {
		o.tb.Fatalf("%d bad readings, first: %s", len(o.errs), o.errs[0])
	}
}

// waitDelivered waits until every sequence number 1..through arrived (allowing for the given
// declared holes, e.g. a store replacement's jump).
func (o *deliveries) waitDelivered(tb testing.TB, limit time.Duration, through uint64, holes func(uint64) bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		seen, _, _ := o.delivered()
		missing := uint64(0)
		var first uint64
		for s := uint64(1); s <= through; s++ {
			if _, ok := seen[s]; !ok && (holes == nil || !holes(s)) {
				if first == 0 {
					first = s
				}
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v, %d of readings 1..%d never arrived (first missing: %d)", limit, missing, through, first)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func max2(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// snapshot copies a stopped gateway's database files to a new directory, so that reading them
// does not change them: the store's Reader, as the last connection, would checkpoint and delete
// the WAL on close (see the chaosbugs tests), hiding exactly what a crash left behind.
func snapshot(tb testing.TB, dataDir string) string {
	tb.Helper()
	dst := tb.TempDir()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(filepath.Join(dataDir, sqlite.DBFileName+suffix))
		if err != nil {
			if os.IsNotExist(err) && suffix != "" {
				continue
			}
			tb.Fatalf("snapshot: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dst, sqlite.DBFileName+suffix), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return dst
}

// storedHashes reads every entry of a stopped gateway's data directory (from a snapshot):
// seq → hash.
func storedHashes(tb testing.TB, dataDir string) map[uint64][32]byte {
	tb.Helper()
	ctx := context.Background()
	r, err := sqlite.OpenReader(ctx, snapshot(tb, dataDir))
	if err != nil {
		tb.Fatalf("open store for reading: %v", err)
	}
	defer r.Close()
	out := map[uint64][32]byte{}
	for e, err := range r.All(ctx) {
		if err != nil {
			tb.Fatalf("read stored entries: %v", err)
		}
		out[e.Seq] = e.Hash()
	}
	return out
}

// storedEntries reads every entry of a stopped gateway's data directory (from a snapshot) in order.
func storedEntries(tb testing.TB, dataDir string) []ledger.Entry {
	tb.Helper()
	return rig.Entries(tb, snapshot(tb, dataDir), 0)
}

// assertKept requires every acknowledged entry (seq → hex hash) to be stored unchanged.
func assertKept(tb testing.TB, dataDir string, acked map[uint64]string) {
	tb.Helper()
	stored := storedHashes(tb, dataDir)
	lost, changed := 0, 0
	var example string
	for seq, h := range acked {
		got, ok := stored[seq]
		switch {
		case !ok:
			lost++
			example = fmt.Sprintf("seq %d missing", seq)
		case hex.EncodeToString(got[:]) != h:
			changed++
			example = fmt.Sprintf("seq %d hash %x, acknowledged as %s", seq, got, h)
		}
	}
	if lost+changed > 0 {
		tb.Fatalf("%d acknowledged entries lost and %d changed (of %d); e.g. %s", lost, changed, len(acked), example)
	}
}

// anchorReport is what the ledger side holds for one device.
type anchorReport struct {
	StoreAnchors int // anchors recorded in the gateway's store
	Blocks       int // anchor blocks of the device on the node
	Distinct     int // distinct anchor payloads among them
	Reattached   int // blocks carrying a payload another block already carries
	Referenced   int // blocks referenced by a milestone
	Through      uint64
}

// assertAnchoredOnce checks that no sequence range is anchored twice: the store's anchors do not
// overlap, and on the node no two different anchor payloads of the device cover the same
// sequence number (a reattached block repeats the same payload and is counted, not failed).
func assertAnchoredOnce(tb testing.TB, dataDir, nodeDir, device string) anchorReport {
	tb.Helper()
	var rep anchorReport
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dataDir, "chargegate.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT first, last FROM anchors ORDER BY first`)
	if err != nil {
		tb.Fatalf("read anchors: %v", err)
	}
	var prevLast uint64
	for rows.Next() {
		var f, l uint64
		if err := rows.Scan(&f, &l); err != nil {
			tb.Fatal(err)
		}
		if f <= prevLast {
			tb.Fatalf("store anchors overlap: [%d..] starts at or before the previous one's end %d", f, prevLast)
		}
		prevLast = l
		rep.StoreAnchors++
	}
	rows.Close()
	if nodeDir == "" {
		return rep
	}
	tag, err := anchor.Tag(device)
	if err != nil {
		tb.Fatal(err)
	}
	ndb, err := sql.Open("sqlite3", "file:"+filepath.Join(nodeDir, "node.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		tb.Fatal(err)
	}
	defer ndb.Close()
	nrows, err := ndb.Query(`SELECT data, ref_ms FROM blocks ORDER BY seq`)
	if err != nil {
		tb.Fatalf("read node blocks: %v", err)
	}
	defer nrows.Close()
	type rng struct{ first, last uint64 }
	payloads := map[string]rng{}
	for nrows.Next() {
		var data []byte
		var ref int64
		if err := nrows.Scan(&data, &ref); err != nil {
			tb.Fatal(err)
		}
		blk := &iotago.Block{}
		if _, err := blk.Deserialize(data, serializer.DeSeriModeNoValidation, nil); err != nil {
			tb.Fatalf("node block: %v", err)
		}
		td, ok := blk.Payload.(*iotago.TaggedData)
		if !ok || !bytes.Equal(td.Tag, tag) {
			continue
		}
		a, err := anchor.Decode(td.Data)
		if err != nil {
			tb.Fatalf("anchor block on the node: %v", err)
		}
		rep.Blocks++
		if ref > 0 {
			rep.Referenced++
		}
		if _, ok := payloads[string(td.Data)]; ok {
			rep.Reattached++
			continue
		}
		payloads[string(td.Data)] = rng{a.First, a.Last}
	}
	rs := make([]rng, 0, len(payloads))
	for _, r := range payloads {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].first < rs[j].first })
	for i := 1; i < len(rs); i++ {
		if rs[i].first <= rs[i-1].last {
			tb.Fatalf("range anchored twice on the node: [%d..%d] and [%d..%d]", rs[i-1].first, rs[i-1].last, rs[i].first, rs[i].last)
		}
	}
	rep.Distinct = len(rs)
	if len(rs) > 0 {
		rep.Through = rs[len(rs)-1].last
	}
	return rep
}

// countEvents counts stored entries by kind/event, e.g. "gap/poll_missed", "event/started".
func countEvents(entries []ledger.Entry) map[string]int {
	m := map[string]int{}
	for _, e := range entries {
		k := e.Kind.String()
		if e.Event != "" {
			k += "/" + e.Event
		}
		m[k]++
	}
	return m
}

func summary(m map[string]int) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func hexHash(h [32]byte) string { return hex.EncodeToString(h[:]) }
