package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// The gateway appends readings, a sink reads its outbox and acknowledges what it delivered.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "chargegate-example")
	defer os.RemoveAll(dir)
	seed := sha256.Sum256([]byte("example device"))

	s, err := sqlite.Open(ctx, dir, sqlite.Options{Key: ed25519.NewKeyFromSeed(seed[:])})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	if err := s.Admit(); err != nil {
		fmt.Println("no new session:", err)
		return
	}
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	entries, err := s.Append(ctx,
		ledger.Record{Time: t0, TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindSessionBegin, SessionID: "s1", MeterSerial: "EM-1", ImportMWh: 1_000_000},
		ledger.Record{Time: t0.Add(time.Second), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindReading, SessionID: "s1", MeterSerial: "EM-1", ImportMWh: 1_003_000},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("committed through seq", entries[len(entries)-1].Seq)

	pending, _ := s.Pending(ctx, ledger.SinkMQTT, 100)
	for _, e := range pending {
		fmt.Println("publish", e.Seq, e.Kind)
	}
	_ = s.Ack(ctx, ledger.SinkMQTT, pending[len(pending)-1].Seq)
	backlog, _ := s.Backlog(ctx, ledger.SinkMQTT)
	fmt.Println("mqtt backlog", backlog)
	// Output:
	// committed through seq 2
	// publish 1 session_begin
	// publish 2 reading
	// mqtt backlog 0
}

// A session ends exactly once: its end entry and the clearing of the persisted session commit
// in one transaction. On a full disk ordinary records are refused (ErrDiskFull) while closing
// ones — the gap and the end — still commit from the reserve.
func ExampleStore_AppendState() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "chargegate-example")
	defer os.RemoveAll(dir)
	seed := sha256.Sum256([]byte("example device"))
	s, err := sqlite.Open(ctx, dir, sqlite.Options{Key: ed25519.NewKeyFromSeed(seed[:])})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	begin := ledger.Record{Time: t0, TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindSessionBegin, SessionID: "s1", MeterSerial: "EM-1"}
	if _, err := s.AppendState(ctx, []ledger.Record{begin}, "session", []byte(`{"id":"s1"}`)); err != nil {
		fmt.Println(err)
		return
	}
	reading := ledger.Record{Time: t0.Add(time.Second), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindReading, SessionID: "s1", MeterSerial: "EM-1", ImportMWh: 3000}
	if _, err := s.Append(ctx, reading); errors.Is(err, sqlite.ErrDiskFull) {
		fmt.Println("disk full: end the session now")
	}
	end := ledger.Record{Time: t0.Add(2 * time.Second), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindSessionEnd,
		SessionID: "s1", MeterSerial: "EM-1", ImportMWh: 3000, Event: ledger.EndRemote}
	fmt.Println("end is closing:", end.Closing())
	es, err := s.AppendState(ctx, []ledger.Record{end}, "session", nil) // nil: delete the key
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = s.GetState(ctx, "session")
	fmt.Println("ended at seq", es[0].Seq, "; session state gone:", errors.Is(err, sqlite.ErrNotFound))

	fresh, _ := s.RememberCommand(ctx, "req-42", time.Now().Add(time.Hour))
	again, _ := s.RememberCommand(ctx, "req-42", time.Now().Add(time.Hour))
	fmt.Println("command fresh:", fresh, "; replayed:", !again)
	// Output:
	// end is closing: true
	// ended at seq 3 ; session state gone: true
	// command fresh: true ; replayed: true
}
