package hal

import (
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on. Faults are returned wrapped with the pin name,
// so test them with errors.Is.
var (
	// ErrLatched means a latched fault forbids closing the relay; the error
	// also wraps the fault itself (ErrEStop, ErrRCDTrip or ErrWelded).
	ErrLatched = errors.New("a latched fault forbids closing the relay")
	// ErrFailedToClose means the relay was commanded closed but the mirror
	// contact still read open after the feedback timeout (or dropped out
	// later). The relay is driven open again; the fault does not latch.
	ErrFailedToClose = errors.New("contactor failed to close")
	// ErrWelded means the relay was commanded open but the mirror contact
	// still read closed after the feedback timeout. It latches.
	ErrWelded = errors.New("contactor welded")
	// ErrEStop means the emergency stop was pressed. It latches.
	ErrEStop = errors.New("emergency stop pressed")
	// ErrRCDTrip means the residual-current device tripped. It latches.
	ErrRCDTrip = errors.New("rcd tripped")
	// ErrFaultPersists is returned by ClearFault while the cause of the
	// fault is still present; it wraps that cause.
	ErrFaultPersists = errors.New("fault cause still present")
	// ErrHalted means the board was halted and accepts no more commands
	// except opening the relay.
	ErrHalted = errors.New("board halted")
	// ErrNotRunning means the board's Run is not active: the relay may close
	// only while the safety inputs and the feedback are being watched.
	ErrNotRunning = errors.New("board not running (Run watches the inputs)")
)

// EventKind says what an Event reports.
type EventKind int

// Event kinds.
const (
	// EventEStop: the emergency stop changed (Active: pressed).
	EventEStop EventKind = iota + 1
	// EventRCDTrip: the RCD changed (Active: tripped).
	EventRCDTrip
	// EventLid: the lid switch changed (Active: open).
	EventLid
	// EventWelded: the contactor welded; the fault is latched.
	EventWelded
	// EventFailedToClose: the contactor did not close (or dropped out).
	EventFailedToClose
	// EventFaultCleared: an operator cleared the latched fault.
	EventFaultCleared
	// EventRelay: the commanded relay state changed (Active: closed). It is
	// emitted for every change, including the ones hal makes by itself on a
	// fault, so the gateway can end a session.
	EventRelay
)

var eventNames = map[EventKind]string{
	EventEStop:         "estop",
	EventRCDTrip:       "rcd_trip",
	EventLid:           "lid",
	EventWelded:        "welded",
	EventFailedToClose: "failed_to_close",
	EventFaultCleared:  "fault_cleared",
	EventRelay:         "relay",
}

// String returns the kind's stable snake_case name, suitable for logs and
// signed event entries.
func (k EventKind) String() string {
	if s, ok := eventNames[k]; ok {
		return s
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing that happened on the board.
type Event struct {
	Kind EventKind
	// Active is the new state for input and relay events (pressed, tripped,
	// open lid, closed relay); true for fault events.
	Active bool
	// Pin is the configured pin name the event came from.
	Pin string
	// Time is when hal noticed it (wall clock with monotonic reading).
	Time time.Time
	// Err is the fault for fault events (errors.Is works against the
	// sentinels), nil otherwise.
	Err error
}

// String formats the event for logs.
func (e Event) String() string {
	s := fmt.Sprintf("%s active=%t pin=%s", e.Kind, e.Active, e.Pin)
	if e.Err != nil {
		s += " err=" + e.Err.Error()
	}
	return s
}

// LEDPattern is what the status LED shows.
type LEDPattern int

// LED patterns. A latched fault overrides the requested pattern with
// LEDFault until it is cleared.
const (
	// LEDIdle: a short blink every two seconds (heartbeat).
	LEDIdle LEDPattern = iota
	// LEDCharging: steadily lit.
	LEDCharging
	// LEDFault: fast blink, 4 Hz.
	LEDFault
	// LEDUpdating: slow blink, 1 Hz.
	LEDUpdating
)

// String names the pattern.
func (p LEDPattern) String() string {
	switch p {
	case LEDIdle:
		return "idle"
	case LEDCharging:
		return "charging"
	case LEDFault:
		return "fault"
	case LEDUpdating:
		return "updating"
	}
	return fmt.Sprintf("LEDPattern(%d)", int(p))
}

// ledStep is one phase of a pattern.
type ledStep struct {
	on  bool
	dur time.Duration
}

// steps returns the pattern as a repeating sequence; a single step means steady.
func (p LEDPattern) steps() []ledStep {
	switch p {
	case LEDCharging:
		return []ledStep{{true, time.Hour}}
	case LEDFault:
		return []ledStep{{true, 125 * time.Millisecond}, {false, 125 * time.Millisecond}}
	case LEDUpdating:
		return []ledStep{{true, 500 * time.Millisecond}, {false, 500 * time.Millisecond}}
	default:
		return []ledStep{{true, 100 * time.Millisecond}, {false, 1900 * time.Millisecond}}
	}
}
