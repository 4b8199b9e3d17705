package mqtt

import (
	"testing"
	"time"
)

// TestRetryPolicy checks the link's one retry policy as configured by New's defaults: delays
// double from 1 s to a 30 s cap, each within ±50 % of its nominal value, and Reset starts over.
func TestRetryPolicy(t *testing.T) {
	l, err := New(Config{Broker: "tcp://127.0.0.1:1", TopicPrefix: "p", Device: "d"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.cfg.RetryMin != time.Second || l.cfg.RetryMax != 30*time.Second {
		t.Fatalf("defaults RetryMin %v, RetryMax %v, want 1s, 30s", l.cfg.RetryMin, l.cfg.RetryMax)
	}
	for round := range 50 {
		b := l.newBackOff()
		nominal := time.Second
		for i := range 10 {
			d := b.NextBackOff()
			if d < nominal/2 || d > nominal*3/2+time.Nanosecond {
				t.Fatalf("round %d, delay %d: %v outside %v ± 50 %%", round, i+1, d, nominal)
			}
			nominal = min(2*nominal, 30*time.Second)
		}
		b.Reset()
		if d := b.NextBackOff(); d > 1500*time.Millisecond {
			t.Fatalf("after Reset: %v, want ≤ 1.5 s", d)
		}
	}
}
