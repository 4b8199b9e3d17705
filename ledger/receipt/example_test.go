package receipt_test

import (
	"context"
	"fmt"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ledgertest"
	"github.com/chargegate/chargegate/ledger/receipt"
)

// A session's begin and end entries become a signed Verifiable Credential, which anyone can
// check with nothing but the receipt itself (here it carries no OCMF record and no proofs).
func Example() {
	key := ledgertest.NamedKey(nil, "receipt example")
	t0 := time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)
	begin := ledger.Entry{Version: ledger.Version, Seq: 1, Record: ledger.Record{Time: t0, TimeStatus: ledger.TimeSynchronised,
		Kind: ledger.KindSessionBegin, SessionID: "s1", MeterSerial: "EM-1", ImportMWh: 1_000_000, Detail: "id_token=04AABBCC"}}
	begin.Sign(key)
	end := ledger.Entry{Version: ledger.Version, Seq: 2, Prev: begin.Hash(), Record: ledger.Record{Time: t0.Add(time.Hour),
		TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindSessionEnd, SessionID: "s1", MeterSerial: "EM-1", ImportMWh: 12_500_000, Event: ledger.EndLocal}}
	end.Sign(key)
	doc, err := receipt.Build(receipt.Session{EVSEID: "DE*CGT*E0001*1", Begin: begin, End: end}, receipt.RenderVC, key, receipt.CPO{}, end.Time)
	if err != nil {
		fmt.Println(err)
		return
	}
	rep := receipt.Verify(context.Background(), doc, receipt.Options{})
	fmt.Println(rep.Verdict(), rep.Evidence.EnergyImportMWh, "mWh")
	for _, c := range rep.Checks {
		if c.Skip {
			fmt.Println("skipped:", c.Name)
		}
	}
	// Output:
	// valid 11500000 mWh
	// skipped: ocmf
	// skipped: ledger
}
