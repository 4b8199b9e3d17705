package hal

import (
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// SharedPins lets several Boards watch the same input lines: a box with several charging
// points has one contactor per point but one emergency stop, one RCD and one lid, and each
// point's Board must see them — an e-stop opens every contactor, each Board latching its own
// fault and reporting it to its own control loop. A line can be claimed once from the kernel;
// SharedPins claims it once and hands each caller of Pin a view of it.
//
// A view reads the line itself (Read is the truth) and is woken by the line's edges, which one
// goroutine per input line waits for and fans out to every view. Board never depends on seeing
// every edge: it re-reads the level after each wake-up and at least every half second, so the
// fan-out may coalesce edges as periph's contract allows. Outputs (relays, the LED) pass
// through unshared: naming an output twice is a configuration error the caller refuses.
//
// Close stops the fan-out goroutines; views wait no more after it.
type SharedPins struct {
	pins Pins

	mu     sync.Mutex
	lines  map[string]*sharedLine
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

// ShareInputs wraps a backend so that its input lines can be watched by several Boards.
func ShareInputs(pins Pins) *SharedPins {
	return &SharedPins{pins: pins, lines: map[string]*sharedLine{}, closed: make(chan struct{})}
}

// sharedLine is one claimed line and its views.
type sharedLine struct {
	pin gpio.PinIO

	mu    sync.Mutex
	in    bool // configured as an input with edges; the fan-out runs
	views []*sharedView
}

// Pin returns a view of the line name, claiming it from the backend on first use.
func (s *SharedPins) Pin(name string) (gpio.PinIO, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lines[name]
	if l == nil {
		p, err := s.pins.Pin(name)
		if err != nil {
			return nil, err
		}
		l = &sharedLine{pin: p}
		s.lines[name] = l
	}
	v := &sharedView{PinIO: l.pin, s: s, line: l, edge: make(chan struct{}, 1), halt: make(chan struct{}, 1)}
	l.mu.Lock()
	l.views = append(l.views, v)
	l.mu.Unlock()
	return v, nil
}

// Close stops watching the lines. It does not release them: the backend owns them.
func (s *SharedPins) Close() error {
	s.once.Do(func() { close(s.closed) })
	s.mu.Lock()
	for _, l := range s.lines {
		l.mu.Lock()
		if l.in {
			_ = l.pin.Halt() // interrupts the fan-out's WaitForEdge
		}
		l.mu.Unlock()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// fanOut waits for the line's edges and wakes every view, until Close.
func (s *SharedPins) fanOut(l *sharedLine) {
	defer s.wg.Done()
	for {
		select {
		case <-s.closed:
			return
		default:
		}
		if !l.pin.WaitForEdge(defaultResync) {
			continue
		}
		l.mu.Lock()
		for _, v := range l.views {
			select {
			case v.edge <- struct{}{}:
			default: // already pending: coalesced
			}
		}
		l.mu.Unlock()
	}
}

// sharedView is one Board's view of a shared line.
type sharedView struct {
	gpio.PinIO // Read, Out, names and the rest go to the line itself
	s          *SharedPins
	line       *sharedLine
	edge       chan struct{}
	halt       chan struct{}
}

// In configures the line on the first call with edges; later calls must ask for the same pull
// (edges are always both: every view gets every wake-up).
func (v *sharedView) In(pull gpio.Pull, edge gpio.Edge) error {
	l := v.line
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.in {
		return nil
	}
	if err := l.pin.In(pull, gpio.BothEdges); err != nil {
		return fmt.Errorf("configure shared input %s: %w", l.pin.Name(), err)
	}
	if edge == gpio.NoEdge {
		return nil
	}
	l.in = true
	v.s.wg.Add(1)
	go v.s.fanOut(l)
	return nil
}

// WaitForEdge waits for the next wake-up of the line, timeout (negative: forever) or Halt.
func (v *sharedView) WaitForEdge(timeout time.Duration) bool {
	select {
	case <-v.edge:
		return true
	default:
	}
	var expired <-chan time.Time
	switch {
	case timeout == 0:
		return false
	case timeout > 0:
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-v.edge:
		return true
	case <-v.halt:
		return false
	case <-expired:
		return false
	case <-v.s.closed:
		return false
	}
}

// Halt interrupts this view's WaitForEdge only; the line goes on serving the other views.
func (v *sharedView) Halt() error {
	select {
	case v.halt <- struct{}{}:
	default:
	}
	return nil
}
