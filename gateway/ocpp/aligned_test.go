package ocpp_test

import (
	"context"
	"testing"
	"time"
)

// With ClockAlignedDataInterval 2 s and sampled values off, a session's MeterValues are the
// clock-aligned ones: context Sample.Clock, stamped on even seconds, one per boundary.
func TestClockAlignedMeterValues(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	g := newStandIn(t)
	cp, q, _ := startCP(t, c, g, t.TempDir())
	c.WaitFor("online", cp.Online)
	for k, v := range map[string]string{"MeterValueSampleInterval": "0", "ClockAlignedDataInterval": "2"} {
		if got := c.Status("ChangeConfiguration", map[string]string{"key": k, "value": v}); got != "Accepted" {
			t.Fatalf("%s: %s", k, got)
		}
	}
	g.startLocal("TAG")
	// The session begins at s; ticks at s+2 … s+6 (Start's own tick at s+1 precedes the
	// begin) cover the boundaries in (s, s+6]: three even seconds, whatever the parity of s.
	for range 5 {
		g.tick(100_000)
	}
	c.WaitFor("the outbox to empty", func() bool { n, _ := q.Backlog(context.Background()); return n == 0 })
	mvs := c.Calls("MeterValues")
	if len(mvs) != 3 {
		t.Fatalf("%d MeterValues over 6 s, want 3 (one per 2 s boundary)", len(mvs))
	}
	var last time.Time
	for _, l := range mvs {
		m := params[struct {
			MeterValue []meterValue `json:"meterValue"`
		}](t, l)
		mv := m.MeterValue[0]
		ts, err := time.Parse(time.RFC3339Nano, mv.Timestamp)
		if err != nil || ts.Second()%2 != 0 || ts.Nanosecond() != 0 || !ts.After(last) {
			t.Errorf("aligned timestamp %s after %s: want rising even seconds", mv.Timestamp, last)
		}
		last = ts
		if sv := mv.SampledValue[0]; sv.Context != "Sample.Clock" || sv.Measurand != "Energy.Active.Import.Register" {
			t.Errorf("aligned value %+v", sv)
		}
	}
}
