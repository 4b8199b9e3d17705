package ledger_test

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

func TestParseHole(t *testing.T) {
	for _, tc := range []struct {
		detail   string
		from, to uint64
		ok       bool
	}{
		{ledger.HoleDetail(20, 22, "salvage"), 20, 22, true},
		{"seq 7-7", 7, 7, true},
		{"seq 8-7: backwards", 0, 0, false},
		{"seq 0-3: zero", 0, 0, false},
		{"seq 5: no range", 0, 0, false},
		{"lost 5-6", 0, 0, false},
		{"seq 5-x", 0, 0, false},
	} {
		from, to, ok := ledger.ParseHole(tc.detail)
		if from != tc.from || to != tc.to || ok != tc.ok {
			t.Errorf("ParseHole(%q) = %d, %d, %v; want %d, %d, %v", tc.detail, from, to, ok, tc.from, tc.to, tc.ok)
		}
	}
}

// event signs an event entry with seq and prev.
func event(t *testing.T, seq uint64, prev [32]byte, code, detail string) ledger.Entry {
	e := ledger.Entry{Version: ledger.Version, Seq: seq, Prev: prev, Record: ledger.Record{
		Time: time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindEvent, Event: code, Detail: detail}}
	e.Sign(ledgertest.Key(t))
	return e
}

// TestDeclaredHoles: a jump is accepted when, and only when, a signed event declares exactly it.
func TestDeclaredHoles(t *testing.T) {
	key := ledgertest.Key(t)
	base := chainOf(key, readings(10, time.Second)) // seqs 1..10
	lostHole := func(from, to uint64) []ledger.Entry {
		// Entries 4..5 missing; the event after the tail declares from-to.
		es := append(append([]ledger.Entry{}, base[:3]...), base[5:]...)
		return append(es, event(t, 11, base[9].Hash(), ledger.EventEntriesLost, ledger.HoleDetail(from, to, "damaged rows skipped")))
	}
	skipped := func(prev [32]byte, detail string) []ledger.Entry {
		return append(append([]ledger.Entry{}, base...), event(t, 1035, prev, ledger.EventSeqSkipped, detail))
	}
	tests := []struct {
		name      string
		es        []ledger.Entry
		wantErr   error
		wantSeq   uint64
		wantHoles []ledger.Hole
	}{
		{"entries_lost declares the hole", lostHole(4, 5), nil, 0, []ledger.Hole{{From: 4, To: 5, Event: ledger.EventEntriesLost, DeclaredBy: 11}}},
		{"entries_lost names another range", lostHole(4, 6), ledger.ErrSeqGap, 6, nil},
		{"no declaration", lostHole(4, 5)[:8], ledger.ErrSeqGap, 6, nil},
		{"seq_skipped names the jump", skipped(base[9].Hash(), ledger.HoleDetail(11, 1034, "unclean shutdown")), nil, 0,
			[]ledger.Hole{{From: 11, To: 1034, Event: ledger.EventSeqSkipped, DeclaredBy: 1035}}},
		{"seq_skipped names less than the jump", skipped(base[9].Hash(), ledger.HoleDetail(11, 1000, "x")), ledger.ErrSeqGap, 1035, nil},
		{"seq_skipped that does not link", skipped(base[8].Hash(), ledger.HoleDetail(11, 1034, "x")), ledger.ErrSeqGap, 1035, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := ledger.VerifyChain(slicesSeq(tc.es), ledger.ChainOptions{Key: key.Public().(ed25519.PublicKey)})
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(st.Holes) != len(tc.wantHoles) || (len(st.Holes) > 0 && st.Holes[0] != tc.wantHoles[0]) {
					t.Fatalf("holes = %+v, want %+v", st.Holes, tc.wantHoles)
				}
				return
			}
			var ce *ledger.ChainError
			if !errors.Is(err, tc.wantErr) || !errors.As(err, &ce) || ce.Seq != tc.wantSeq {
				t.Fatalf("err = %v, want %v at seq %d", err, tc.wantErr, tc.wantSeq)
			}
		})
	}
}
