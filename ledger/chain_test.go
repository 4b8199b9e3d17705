package ledger_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"iter"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

func slicesSeq(es []ledger.Entry) iter.Seq2[ledger.Entry, error] {
	return func(yield func(ledger.Entry, error) bool) {
		for _, e := range es {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func readings(n int, every time.Duration) []ledger.Record {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]ledger.Record, n)
	for i := range out {
		out[i] = ledger.Record{Time: t0.Add(time.Duration(i) * every), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindReading, MeterSerial: "M1", ImportMWh: int64(i) * 1000}
	}
	return out
}

func TestVerifyChainFailures(t *testing.T) {
	key := ledgertest.Key(t)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name    string
		mutate  func([]ledger.Entry) []ledger.Entry
		opts    ledger.ChainOptions
		wantSeq uint64
		want    error
	}{
		{"ok", func(es []ledger.Entry) []ledger.Entry { return es }, ledger.ChainOptions{}, 0, nil},
		{"altered value", func(es []ledger.Entry) []ledger.Entry { es[4].ImportMWh++; return es }, ledger.ChainOptions{}, 5, ledger.ErrBadSignature},
		{"deleted entry", func(es []ledger.Entry) []ledger.Entry { return append(es[:3], es[4:]...) }, ledger.ChainOptions{}, 5, ledger.ErrSeqGap},
		// 4 after 2 is a jump that could still be declared; 3 after 4 goes backwards.
		{"reordered", func(es []ledger.Entry) []ledger.Entry { es[2], es[3] = es[3], es[2]; return es }, ledger.ChainOptions{}, 3, ledger.ErrSeqGap},
		{"relinked", func(es []ledger.Entry) []ledger.Entry {
			es[6].Prev[0] ^= 1
			es[6].Sign(key)
			return es
		}, ledger.ChainOptions{}, 7, ledger.ErrBrokenLink},
		{"foreign key", func(es []ledger.Entry) []ledger.Entry { es[8].Sign(other); return es }, ledger.ChainOptions{}, 9, ledger.ErrKeyChanged},
		{"expected key", func(es []ledger.Entry) []ledger.Entry { return es }, ledger.ChainOptions{Key: other.Public().(ed25519.PublicKey)}, 1, ledger.ErrKeyChanged},
		{"undeclared gap", func(es []ledger.Entry) []ledger.Entry {
			for i := 5; i < len(es); i++ {
				es[i].Time = es[i].Time.Add(time.Minute)
				es[i].Sign(key)
			}
			return relink(key, es)
		}, ledger.ChainOptions{MaxReadingInterval: 3 * time.Second}, 6, ledger.ErrUndeclaredGap},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es := tc.mutate(chainOf(key, readings(10, time.Second)))
			_, err := ledger.VerifyChain(slicesSeq(es), tc.opts)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var ce *ledger.ChainError
			if !errors.As(err, &ce) || !errors.Is(err, tc.want) || ce.Seq != tc.wantSeq {
				t.Fatalf("err = %v, want seq %d: %v", err, tc.wantSeq, tc.want)
			}
		})
	}
}

// relink re-signs es so that links are consistent again after a mutation.
func relink(key ed25519.PrivateKey, es []ledger.Entry) []ledger.Entry {
	for i := 1; i < len(es); i++ {
		es[i].Prev = es[i-1].Hash()
		es[i].Sign(key)
	}
	return es
}

func TestDeclaredGapAndReplacement(t *testing.T) {
	key := ledgertest.Key(t)
	recs := readings(6, time.Second)
	recs[3] = ledger.Record{Time: recs[2].Time.Add(30 * time.Second), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindGap, MeterSerial: "M1", Event: ledger.EventPollMissed}
	for i := 4; i < 6; i++ {
		recs[i].Time = recs[i].Time.Add(40 * time.Second)
	}
	es := chainOf(key, recs)
	// A store_replaced event continues after a reserved block with the last known head.
	repl := ledger.Entry{Version: ledger.Version, Seq: 1030, Prev: es[3].Hash(), Record: ledger.Record{
		Time: recs[5].Time.Add(time.Second), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindEvent, Event: ledger.EventStoreReplaced, Detail: "test"}}
	repl.Sign(key)
	next := ledger.Entry{Version: ledger.Version, Seq: 1031, Prev: repl.Hash(), Record: recs[5]}
	next.Sign(key)
	es = append(es, repl, next)
	st, err := ledger.VerifyChain(slicesSeq(es), ledger.ChainOptions{MaxReadingInterval: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if st.Gaps != 1 || st.Entries != 8 || st.Last != 1031 || len(st.Replacements) != 1 || st.Replacements[0] != 1030 {
		t.Fatalf("stats = %+v", st)
	}
	if st.Head != next.Hash() {
		t.Fatal("head is not the last entry's hash")
	}
	// The same jump without the event is a sequence gap.
	plain := next
	plain.Prev = es[5].Hash()
	plain.Sign(key)
	if _, err := ledger.VerifyChain(slicesSeq(append(es[:6:6], plain)), ledger.ChainOptions{}); !errors.Is(err, ledger.ErrSeqGap) {
		t.Fatalf("err = %v, want ErrSeqGap", err)
	}
	if _, err := ledger.VerifyChain(slicesSeq(nil), ledger.ChainOptions{}); !errors.Is(err, ledger.ErrEmptyChain) {
		t.Fatalf("empty: %v", err)
	}
}

// TestVerifyChainBatches crosses the parallel batch boundaries: the first bad entry is named,
// not a later one that a faster goroutine found.
func TestVerifyChainBatches(t *testing.T) {
	key := ledgertest.Key(t)
	es := chainOf(key, readings(3000, time.Second))
	if st, err := ledger.VerifyChain(slicesSeq(es), ledger.ChainOptions{}); err != nil || st.Entries != 3000 || st.Head != es[2999].Hash() {
		t.Fatalf("clean chain: %+v %v", st, err)
	}
	es[2900].Signature[0] ^= 1
	es[2500].ImportMWh++
	_, err := ledger.VerifyChain(slicesSeq(es), ledger.ChainOptions{})
	var ce *ledger.ChainError
	if !errors.As(err, &ce) || ce.Seq != 2501 || !errors.Is(err, ledger.ErrBadSignature) {
		t.Fatalf("err = %v, want seq 2501", err)
	}
}
