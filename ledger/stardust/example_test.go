package stardust_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/node"
	"github.com/chargegate/chargegate/ledger/sqlite"
	"github.com/chargegate/chargegate/ledger/stardust"
)

// Anchor the entries of a store on a (local) node, then read the publisher's status.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	key := deviceKey("example")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{Key: key, Ballast: -1})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		st.Append(ctx, ledger.Record{Time: t0.Add(time.Duration(i) * time.Second), TimeStatus: ledger.TimeSynchronised,
			Kind: ledger.KindReading, MeterSerial: "EM-1", ImportMWh: int64(i)})
	}

	n, _ := node.New(node.Config{NoPoW: true, MilestoneInterval: 20 * time.Millisecond})
	defer n.Close()
	srv := httptest.NewServer(n.Handler())
	defer srv.Close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go n.Run(runCtx)

	p, err := stardust.NewPublisher(st, key, stardust.Config{NodeURL: srv.URL, BatchAge: time.Millisecond, PollInterval: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	go p.Run(runCtx)
	for p.Status().Last.State != ledger.AnchorConfirmed {
		time.Sleep(10 * time.Millisecond) // poll the status
	}
	s := p.Status()
	fmt.Printf("anchored %d..%d: %s\n", s.Last.First, s.Last.Last, s.Last.State)
	// Output:
	// anchored 1..3: confirmed
}
