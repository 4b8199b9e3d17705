package sim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Fault kinds. Wire faults change how one request is answered; value faults change what
// the registers hold while they last; event faults happen once when they start.
const (
	FaultNoReply   = "noreply"   // wire: no answer at all
	FaultLate      = "late"      // wire: answer after Delay (default 2 s: after the client gave up)
	FaultException = "exception" // wire: exception Code (01, 02, 03, 04, 06, ...)
	FaultBadCRC    = "badcrc"    // wire: RTU CRC corrupted; Modbus TCP: byte count corrupted
	FaultTruncate  = "truncate"  // wire: only half the reply is sent (TCP: then the connection closes)
	FaultWrongUnit = "wrongunit" // wire: reply carries another unit ID
	FaultFrozen    = "frozen"    // value: registers stop changing while the load keeps drawing
	FaultAbsent    = "absent"    // value: every register reads 0xFFFF ("meter module absent")
	FaultBackwards = "backwards" // event: import counter goes back by AmountWh (default 1000)
	FaultRollover  = "rollover"  // event: the import counter wraps to zero, serial unchanged
	FaultReplace   = "replace"   // event: meter replaced: new serial, counters reset to zero
	FaultDrop      = "drop"      // wire: the request gets no reply (TCP: the connection is closed instead)
	FaultZeros     = "zeros"     // value: every register reads 0x0000 (identity included)
	FaultStuck     = "stuck"     // value: the energy registers stop while power and current stay live
	FaultJump      = "jump"      // event: import counter goes up by AmountWh (default 1,000 kWh)
)

func faultKinds() []string {
	return []string{FaultNoReply, FaultLate, FaultException, FaultBadCRC, FaultTruncate, FaultWrongUnit,
		FaultFrozen, FaultAbsent, FaultBackwards, FaultRollover, FaultReplace, FaultDrop, FaultZeros, FaultStuck, FaultJump}
}

// Fault is one injected fault. Bus selects the bus by index (default 0, the first); the
// other zero fields mean: every unit, active from now until cleared, every request,
// probability 1. Drop closes every TCP connection of the bus when the fault is injected
// (a meter that rebooted or a gateway that lost its link), so the client's next request
// arrives on a new connection and already meets the fault.
type Fault struct {
	ID          int     `json:"id"`
	Kind        string  `json:"kind"`
	Bus         int     `json:"bus"`
	Unit        uint8   `json:"unit"`
	Code        byte    `json:"code,omitempty"`
	DelayMS     int     `json:"delay_ms,omitempty"`
	AfterMS     int     `json:"after_ms,omitempty"`
	ForMS       int     `json:"for_ms,omitempty"`
	Count       int     `json:"count,omitempty"`
	Probability float64 `json:"probability,omitempty"`
	AmountWh    float64 `json:"amount_wh,omitempty"`
	Drop        bool    `json:"drop,omitempty"`

	start, end time.Time // simulated time
	used       int
	fired      map[*Meter]bool // event faults: applied once per meter
}

func (f *Fault) wire() bool {
	switch f.Kind {
	case FaultNoReply, FaultLate, FaultException, FaultBadCRC, FaultTruncate, FaultWrongUnit, FaultDrop:
		return true
	}
	return false
}

// ParseFault parses the --fault syntax: KIND[,key=value...] with keys unit, bus, code,
// delay, after, for (durations like 500ms or 10s), count, prob, amount (Wh), drop (true or
// false).
//
//	exception,code=4,count=3   late,delay=1500ms,after=10s,for=5s   noreply,prob=0.05
func ParseFault(spec string) (Fault, error) {
	parts := strings.Split(spec, ",")
	f := Fault{Kind: strings.TrimSpace(parts[0])}
	for _, kv := range parts[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return f, fmt.Errorf("fault %q: %q is not key=value", spec, kv)
		}
		var err error
		switch k {
		case "unit", "bus", "code", "count":
			var n int
			n, err = strconv.Atoi(v)
			if err == nil && (n < 0 || n > math.MaxInt32) {
				err = fmt.Errorf("out of range")
			}
			switch k {
			case "unit":
				f.Unit = uint8(min(n, 255))
			case "bus":
				f.Bus = n
			case "code":
				f.Code = byte(min(n, 255))
			case "count":
				f.Count = n
			}
		case "delay", "after", "for":
			var d time.Duration
			d, err = time.ParseDuration(v)
			ms := int(d / time.Millisecond)
			switch k {
			case "delay":
				f.DelayMS = ms
			case "after":
				f.AfterMS = ms
			case "for":
				f.ForMS = ms
			}
		case "prob":
			f.Probability, err = strconv.ParseFloat(v, 64)
		case "amount":
			f.AmountWh, err = strconv.ParseFloat(v, 64)
		case "drop":
			f.Drop, err = strconv.ParseBool(v)
		default:
			err = fmt.Errorf("unknown key")
		}
		if err != nil {
			return f, fmt.Errorf("fault %q: %s: %w", spec, k, err)
		}
	}
	return f, f.validate()
}

func (f *Fault) validate() error {
	ok := false
	for _, k := range faultKinds() {
		ok = ok || k == f.Kind
	}
	if !ok {
		return fmt.Errorf("fault kind %q: not one of %s", f.Kind, strings.Join(faultKinds(), ", "))
	}
	if f.Kind == FaultException && f.Code == 0 {
		return fmt.Errorf("fault exception: code missing")
	}
	if f.Probability < 0 || f.Probability > 1 {
		return fmt.Errorf("fault probability %v: outside 0..1", f.Probability)
	}
	if f.DelayMS < 0 || f.AfterMS < 0 || f.ForMS < 0 || f.Count < 0 || f.AmountWh < 0 || math.IsNaN(f.AmountWh) {
		return fmt.Errorf("fault %s: negative value", f.Kind)
	}
	return nil
}

// AddFault injects f (its schedule counts from now) and returns its ID.
func (s *Sim) AddFault(f Fault) (int, error) {
	if err := f.validate(); err != nil {
		return 0, err
	}
	if f.Bus < 0 || f.Bus >= len(s.buses) {
		return 0, fmt.Errorf("fault %s: no bus %d", f.Kind, f.Bus)
	}
	now := s.clock.Now()
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.nextID++
	f.ID = s.nextID
	f.start = now.Add(time.Duration(f.AfterMS) * time.Millisecond)
	if f.ForMS > 0 {
		f.end = f.start.Add(time.Duration(f.ForMS) * time.Millisecond)
	}
	f.fired = map[*Meter]bool{}
	s.faults = append(s.faults, &f)
	s.log.Info("fault injected", "id", f.ID, "kind", f.Kind, "bus", f.Bus, "unit", f.Unit)
	if f.Drop {
		s.buses[f.Bus].dropConns()
	}
	return f.ID, nil
}

// ClearFault removes one fault (id > 0) or all (id == 0); it reports whether any was removed.
func (s *Sim) ClearFault(id int) bool {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	n := len(s.faults)
	if id == 0 {
		s.faults = nil
		return n > 0
	}
	out := s.faults[:0]
	for _, f := range s.faults {
		if f.ID != id {
			out = append(out, f)
		}
	}
	s.faults = out
	return len(out) < n
}

// Faults lists the faults currently injected.
func (s *Sim) Faults() []Fault {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	out := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		out = append(out, *f)
	}
	return out
}

// effects is what the faults active for one request do.
type effects struct {
	wire                         *Fault // at most one wire fault per request
	frozen, absent, zeros, stuck bool
	events                       []*Fault
}

// activeFaults evaluates the faults for a request to m at now, consuming counts.
func (s *Sim) activeFaults(m *Meter, now time.Time) effects {
	var e effects
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if len(s.faults) == 0 {
		return e
	}
	keep := s.faults[:0]
	for _, f := range s.faults {
		expired := !f.end.IsZero() && now.After(f.end)
		if expired || (f.Count > 0 && f.used >= f.Count) {
			continue
		}
		keep = append(keep, f)
		if now.Before(f.start) || f.Bus != m.bus || (f.Unit != 0 && f.Unit != m.unit) {
			continue
		}
		switch {
		case f.wire():
			if e.wire != nil || (f.Probability > 0 && s.rng.Float64() >= f.Probability) {
				continue
			}
			e.wire = f
			f.used++
		case f.Kind == FaultFrozen:
			e.frozen = true
		case f.Kind == FaultAbsent:
			e.absent = true
		case f.Kind == FaultZeros:
			e.zeros = true
		case f.Kind == FaultStuck:
			e.stuck = true
		default:
			if !f.fired[m] {
				f.fired[m] = true
				e.events = append(e.events, f)
				f.used++
			}
		}
	}
	s.faults = keep
	return e
}

// applyEvent changes the meter's state for a one-shot fault. Called with m.mu held.
func (m *Meter) applyEvent(f *Fault) {
	switch f.Kind {
	case FaultBackwards:
		amount := f.AmountWh
		if amount == 0 {
			amount = 1000
		}
		m.load.importWh = math.Max(0, m.load.importWh-amount)
	case FaultJump:
		amount := f.AmountWh
		if amount == 0 {
			amount = 1_000_000
		}
		m.load.importWh += amount
	case FaultRollover:
		m.load.importWh = 0
	case FaultReplace:
		m.load.importWh, m.load.exportWh = 0, 0
		if n, err := strconv.ParseUint(m.serial, 10, 32); err == nil {
			m.serial = strconv.FormatUint((n+500000)%4_000_000_000, 10)
		} else {
			m.serial += "R"
		}
	}
}
