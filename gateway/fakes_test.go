package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/meter"
)

// The fakes below stand in for the parts behind the Controller's interfaces, so the session
// state machine can be driven in milliseconds with testing/synctest. Each fails the way the real
// part does: the board refuses to close on a latched fault, the store refuses with an error and
// commits nothing, the meter returns the driver's typed errors.

// fakeMeter is an energy meter whose counter rises at powerW while the relay is closed.
type fakeMeter struct {
	mu       sync.Mutex
	board    *fakeBoard
	serial   string
	mwh      float64
	powerW   float64
	last     time.Time
	fail     error // returned by Read while set
	reads    int
	nextRead func(r *meter.Reading) error // one-shot override of the next reading
}

func newFakeMeter(b *fakeBoard) *fakeMeter {
	return &fakeMeter{board: b, serial: "SIM-1", mwh: 1_000_000, powerW: 11_000}
}

func (m *fakeMeter) Read(ctx context.Context) (meter.Reading, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if !m.last.IsZero() && m.board.RelayClosed() {
		m.mwh += m.powerW * now.Sub(m.last).Hours() * 1000
	}
	m.last = now
	m.reads++
	if m.fail != nil {
		return meter.Reading{}, m.fail
	}
	r := meter.Reading{Time: now, Model: "fake", Serial: m.serial, ImportMWh: int64(m.mwh), PowerW: m.powerW}
	if f := m.nextRead; f != nil {
		m.nextRead = nil
		if err := f(&r); err != nil {
			return meter.Reading{}, err
		}
	}
	return r, nil
}

func (m *fakeMeter) setFail(err error) { m.mu.Lock(); m.fail = err; m.mu.Unlock() }

// fakeBoard is a contactor with feedback and latched faults, like hal.Board.
type fakeBoard struct {
	mu        sync.Mutex
	closed    bool
	fault     error
	failClose error // CloseRelay fails with this (a contactor that does not pull in)
	events    chan hal.Event
	led       hal.LEDPattern
}

func newFakeBoard() *fakeBoard { return &fakeBoard{events: make(chan hal.Event, 16)} }

func (b *fakeBoard) CloseRelay(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fault != nil {
		return fmt.Errorf("close relay: %w: %w", hal.ErrLatched, b.fault)
	}
	if b.failClose != nil {
		return b.failClose
	}
	b.closed = true
	return nil
}

func (b *fakeBoard) OpenRelay(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = false
	return nil
}

func (b *fakeBoard) RelayClosed() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.closed }
func (b *fakeBoard) Fault() error      { b.mu.Lock(); defer b.mu.Unlock(); return b.fault }
func (b *fakeBoard) ClearFault() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fault = nil
	return nil
}
func (b *fakeBoard) Events() <-chan hal.Event { return b.events }
func (b *fakeBoard) SetLED(p hal.LEDPattern)  { b.mu.Lock(); b.led = p; b.mu.Unlock() }
func (b *fakeBoard) Halt() error              { return b.OpenRelay(context.Background()) }

// trip latches a fault and opens the relay by itself, as hal does, then reports it.
func (b *fakeBoard) trip(kind hal.EventKind, fault error) {
	b.mu.Lock()
	b.fault, b.closed = fault, false
	b.mu.Unlock()
	b.events <- hal.Event{Kind: kind, Active: true, Time: time.Now(), Err: fault}
	b.events <- hal.Event{Kind: hal.EventRelay, Active: false, Time: time.Now()}
}

// errDiskFull is what the fake store refuses ordinary entries with while full.
var errDiskFull = errors.New("disk full")

// fakeStore keeps entries and state in memory. While full it refuses ordinary entries and
// commits only the kinds that close something (gap, session end, event), as the real store does
// from its reserve; with broken set it refuses everything.
type fakeStore struct {
	mu       sync.Mutex
	entries  []ledger.Entry
	state    map[string][]byte
	full     bool
	broken   bool
	admitErr error
}

func newFakeStore() *fakeStore { return &fakeStore{state: map[string][]byte{}} }

func (s *fakeStore) refuses(recs []ledger.Record) error {
	if s.broken {
		return errors.New("I/O error")
	}
	if !s.full {
		return nil
	}
	for _, r := range recs {
		switch r.Kind {
		case ledger.KindGap, ledger.KindSessionEnd, ledger.KindEvent:
		default:
			return errDiskFull
		}
	}
	return nil
}

func (s *fakeStore) appendLocked(recs []ledger.Record) ([]ledger.Entry, error) {
	if err := s.refuses(recs); err != nil {
		return nil, err
	}
	var out []ledger.Entry
	for _, r := range recs {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("fake store: %w", err)
		}
		e := ledger.Entry{Seq: uint64(len(s.entries)) + 1, Record: r}
		s.entries = append(s.entries, e)
		out = append(out, e)
	}
	return out, nil
}

func (s *fakeStore) Append(ctx context.Context, recs ...ledger.Record) ([]ledger.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appendLocked(recs)
}

func (s *fakeStore) AppendState(ctx context.Context, recs []ledger.Record, key string, value []byte) ([]ledger.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	es, err := s.appendLocked(recs)
	if err != nil {
		return nil, err
	}
	if value == nil {
		delete(s.state, key)
	} else {
		s.state[key] = value
	}
	return es, nil
}

func (s *fakeStore) Admit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full {
		return errDiskFull
	}
	return s.admitErr
}

func (s *fakeStore) PutState(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return errors.New("I/O error")
	}
	s.state[key] = value
	return nil
}

func (s *fakeStore) GetState(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state[key], nil
}

func (s *fakeStore) Entry(ctx context.Context, seq uint64) (ledger.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq == 0 || seq > uint64(len(s.entries)) {
		return ledger.Entry{}, errors.New("no such entry")
	}
	return s.entries[seq-1], nil
}

func (s *fakeStore) Head() (uint64, [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint64(len(s.entries)), [32]byte{}
}

// all returns a copy of the entries.
func (s *fakeStore) all() []ledger.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ledger.Entry(nil), s.entries...)
}

// kinds filters entries by kind and, when code is not empty, by event code.
func (s *fakeStore) find(kind ledger.Kind, code string) []ledger.Entry {
	var out []ledger.Entry
	for _, e := range s.all() {
		if e.Kind == kind && (code == "" || e.Event == code) {
			out = append(out, e)
		}
	}
	return out
}

// recordingNotifier keeps what the control loop published.
type recordingNotifier struct {
	mu       sync.Mutex
	sessions []SessionRecord
}

func (n *recordingNotifier) Telemetry(Telemetry) {}
func (n *recordingNotifier) Session(s SessionRecord) {
	n.mu.Lock()
	n.sessions = append(n.sessions, s)
	n.mu.Unlock()
}
func (n *recordingNotifier) all() []SessionRecord {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]SessionRecord(nil), n.sessions...)
}
