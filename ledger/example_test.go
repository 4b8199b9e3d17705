package ledger_test

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

// A device signs two chained entries; a verifier checks them from their bytes.
func Example() {
	key := ledgertest.Key(nil)
	first := ledger.Entry{Version: ledger.Version, Seq: 1, Record: ledger.Record{
		Time: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC), TimeStatus: ledger.TimeSynchronised,
		Kind: ledger.KindReading, MeterSerial: "EM-1", ImportMWh: 1_500_000,
	}}
	first.Sign(key)
	second := ledger.Entry{Version: ledger.Version, Seq: 2, Prev: first.Hash(), Record: first.Record}
	second.Time = second.Time.Add(time.Second)
	second.ImportMWh += 3_000
	second.Sign(key)

	var wire [][]byte
	for _, e := range []ledger.Entry{first, second} {
		b, _ := e.MarshalBinary()
		wire = append(wire, b)
	}

	v := ledger.Verifier{Opts: ledger.ChainOptions{Key: key.Public().(ed25519.PublicKey)}}
	for _, b := range wire {
		e, err := ledger.DecodeEntry(b)
		if err != nil {
			fmt.Println(err)
			return
		}
		if err := v.Add(&e); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Seq, e.Kind, e.ImportMWh, "mWh")
	}
	fmt.Println("entries verified:", v.Stats().Entries)
	// Output:
	// 1 reading 1500000 mWh
	// 2 reading 1503000 mWh
	// entries verified: 2
}
