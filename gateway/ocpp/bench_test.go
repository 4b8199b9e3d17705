package ocpp

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
)

// BenchmarkSessionNotify measures what the control loop waits for when a session ends: the
// StopTransaction (with an OCMF record) committed to ocpp.db with synchronous=FULL. No CSMS is
// connected, so the queue only grows, as while offline.
func BenchmarkSessionNotify(b *testing.B) {
	ctx := context.Background()
	q, err := OpenQueue(ctx, filepath.Join(b.TempDir(), "ocpp.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	cp, err := New(Config{URL: "ws://127.0.0.1:1/ocpp", Identity: "B", Vendor: "v", Model: "m"}, q, nil)
	if err != nil {
		b.Fatal(err)
	}
	ocmf := "OCMF|" + fmt.Sprintf("%0600d", 0) + "|{}"
	start := time.Now()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("s%d", i)
		cp.Session(gateway.SessionRecord{ID: id, IDToken: "TAG", Start: start, End: start.Add(time.Hour), BeginMWh: 1, EndMWh: 2, Reason: "local", OCMF: ocmf})
	}
	b.StopTimer()
	n, _ := q.Backlog(ctx)
	if n != 2*b.N {
		b.Fatalf("%d queued, want %d (start and stop per session)", n, 2*b.N)
	}
}

// BenchmarkTelemetrySample measures a Telemetry call that queues a sampled MeterValues.
func BenchmarkTelemetrySample(b *testing.B) {
	ctx := context.Background()
	q, err := OpenQueue(ctx, filepath.Join(b.TempDir(), "ocpp.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	cp, err := New(Config{URL: "ws://127.0.0.1:1/ocpp", Identity: "B", Vendor: "v", Model: "m", MeterValueSampleInterval: time.Second}, q, nil)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	cp.SessionStarted(SessionStart{ID: "s", IDTag: "TAG", Time: t0})
	b.ResetTimer()
	for i := range b.N {
		cp.Telemetry(gateway.Telemetry{Time: t0.Add(time.Duration(i+1) * time.Second), SessionID: "s", ImportMWh: int64(i) * 1000, PowerW: 7000})
	}
}
