package receipt

import (
	"context"
	"errors"
	"fmt"

	"github.com/chargegate/chargegate/ledger"
)

// Entries is what FindSession reads: the device's store (ledger/sqlite's Store and Reader).
type Entries interface {
	// Entries returns up to max entries with Seq >= from in ascending order.
	Entries(ctx context.Context, from uint64, max int) ([]ledger.Entry, error)
}

// ErrNoSession means the store has no begin and end entry of the session.
var ErrNoSession = errors.New("no such ended session")

// FindSession scans the store from seq 1 for the begin and end entries of session id (the
// appliance, which knows both sequence numbers, reads them directly instead). The last begin
// before the session's end entry wins.
func FindSession(ctx context.Context, src Entries, id string) (begin, end ledger.Entry, err error) {
	const page = 1000
	var haveBegin bool
	for from := uint64(1); ; {
		es, err := src.Entries(ctx, from, page)
		if err != nil {
			return begin, end, fmt.Errorf("read entries from %d: %w", from, err)
		}
		for _, e := range es {
			if e.SessionID != id {
				continue
			}
			switch e.Kind {
			case ledger.KindSessionBegin:
				begin, haveBegin = e, true
			case ledger.KindSessionEnd:
				if !haveBegin {
					return begin, end, fmt.Errorf("session %q ends at seq %d without a begin entry: %w", id, e.Seq, ErrNoSession)
				}
				return begin, e, nil
			}
		}
		if len(es) < page {
			if haveBegin {
				return begin, end, fmt.Errorf("session %q began at seq %d and has not ended: %w", id, begin.Seq, ErrNoSession)
			}
			return begin, end, fmt.Errorf("session %q: %w", id, ErrNoSession)
		}
		from = es[len(es)-1].Seq + 1
	}
}
