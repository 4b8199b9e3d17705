package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// History is the power chart's data: one mean power per Step over the last hour, oldest first.
// Points[i] is [unix seconds at the end of the step, watts].
type History struct {
	Step   int          `json:"step_s"`
	Points [][2]float64 `json:"points"`
}

// ring keeps the last hour of power as means over fixed steps, so a page opened at any time
// draws the hour at once without asking the store.
type ring struct {
	mu     sync.Mutex
	step   time.Duration
	points [][2]float64 // circular, len ≤ cap
	next   int
	full   bool
	sum    float64
	n      int
	start  time.Time
}

func newRing(step, span time.Duration) *ring {
	return &ring{step: step, points: make([][2]float64, 0, int(span/step))}
}

// add takes one sample; it returns the finished point when a step ends.
func (r *ring) add(t time.Time, w float64) ([2]float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() {
		r.start = t
	}
	r.sum += w
	r.n++
	if t.Sub(r.start) < r.step {
		return [2]float64{}, false
	}
	p := [2]float64{float64(t.Unix()), float64(int64(r.sum/float64(r.n)*10)) / 10}
	if len(r.points) < cap(r.points) {
		r.points = append(r.points, p)
	} else {
		r.points[r.next] = p
		r.next = (r.next + 1) % len(r.points)
	}
	r.sum, r.n, r.start = 0, 0, t
	return p, true
}

// history returns the points oldest first.
func (r *ring) history() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][2]float64, 0, len(r.points))
	out = append(out, r.points[r.next:]...)
	out = append(out, r.points[:r.next]...)
	return History{Step: int(r.step / time.Second), Points: out}
}

// hub fans the sampled status and the chart's points out to the open event streams.
type hub struct {
	mu      sync.Mutex
	clients map[chan event]struct{}
	max     int
}

type event struct {
	name string
	data []byte
}

func newHub(max int) *hub { return &hub{clients: map[chan event]struct{}{}, max: max} }

// join registers a stream; false when there are already max streams.
func (h *hub) join() (chan event, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) >= h.max {
		return nil, false
	}
	c := make(chan event, 8)
	h.clients[c] = struct{}{}
	return c, true
}

func (h *hub) leave(c chan event) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

// send delivers to every stream that keeps up; a stream whose buffer is full misses the event
// (the next status supersedes it), so a slow browser never holds up the others.
func (h *hub) send(e event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		select {
		case c <- e:
		default:
		}
	}
}

// Run samples the status once a second for the event streams and the chart, until ctx ends;
// call it once.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.o.SampleInterval)
	defer t.Stop()
	// The streams end with Run, so a shutdown does not wait for browsers to leave.
	defer close(s.stopped)
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			st := s.live(ctx)
			if b, err := json.Marshal(st); err == nil {
				s.hub.send(event{"status", b})
			}
			if p, ok := s.ring.add(now, st.Meter.PowerW); ok {
				b, _ := json.Marshal(p)
				s.hub.send(event{"point", b})
			}
		}
	}
}

// Live is what the Live page shows: the snapshot with the running session's authorization and
// limits.
type Live struct {
	Snapshot
	Auth *SessionAuth `json:"session_auth,omitempty"`
}

// SessionAuth is how the running session was authorized: its begin entry's detail (the
// access decision, or the id_token) and who started it. The limits are in the Status.
type SessionAuth struct {
	Authorization string `json:"authorization"`
}

func (s *Server) live(ctx context.Context) Live {
	l := Live{Snapshot: s.o.Snapshot()}
	if l.Session != nil && l.Session.BeginSeq != 0 && s.o.Box != nil {
		l.Auth = s.o.Box.SessionAuth(ctx, l.Session.BeginSeq)
	}
	return l
}

// events serves GET /api/v1/events: server-sent events. On connect "history" (History) and
// "status" (Live); then "status" every sample and "point" ([unix, W]) as each chart step ends.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	c, ok := s.hub.join()
	if !ok {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "busy: too many live views open", http.StatusServiceUnavailable)
		return
	}
	defer s.hub.leave(c)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	write := func(e event) error {
		// The server's WriteTimeout would end the stream; each event gets its own deadline.
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.name, e.data); err != nil {
			return err
		}
		return rc.Flush()
	}
	fmt.Fprint(w, "retry: 3000\n\n")
	h, _ := json.Marshal(s.ring.history())
	st, _ := json.Marshal(s.live(r.Context()))
	if write(event{"history", h}) != nil || write(event{"status", st}) != nil {
		return
	}
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stopped:
			return
		case e := <-c:
			if write(e) != nil {
				return
			}
		case <-keepalive.C:
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}
