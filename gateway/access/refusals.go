package access

import (
	"sync"
	"time"
)

// RefusalGate rate-limits the refusal events the gateway records in the chain, so a card held
// against the reader, or a script replaying a token, cannot fill the store: at most Burst
// records per Window; the refusals dropped in between are counted and reported with the next
// record that passes. It is safe for concurrent use.
type RefusalGate struct {
	window time.Duration
	burst  int

	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

// NewRefusalGate returns a gate letting burst records through per window.
func NewRefusalGate(window time.Duration, burst int) *RefusalGate {
	return &RefusalGate{window: window, burst: max(burst, 1)}
}

// Allow reports whether a refusal at now is to be recorded, and how many refusals were dropped
// since the last one recorded (to be written into its detail, e.g. "suppressed=12").
func (g *RefusalGate) Allow(now time.Time) (ok bool, suppressed int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Sub(g.start) >= g.window || now.Before(g.start) {
		g.start, g.n = now, 0
	}
	if g.n >= g.burst {
		g.suppressed++
		return false, 0
	}
	g.n++
	s := g.suppressed
	g.suppressed = 0
	return true, s
}
