package meter

import (
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on with errors.Is.
var (
	// ErrTimeout: the meter did not answer within Config.Timeout (after retries).
	ErrTimeout = errors.New("meter timeout")
	// ErrFrame: a reply arrived but was malformed: bad CRC, short or truncated frame, wrong
	// unit ID, transaction ID or protocol ID, or the connection broke mid-frame.
	ErrFrame = errors.New("meter frame error")
	// ErrImplausible: the meter answered but the values cannot be true: a range check
	// failed, energy went backwards, values froze while power flows, or a register held its
	// format's "not available" marker.
	ErrImplausible = errors.New("implausible meter value")
	// ErrUnknownModel: the model name is not known, or "auto" recognised no model.
	ErrUnknownModel = errors.New("unknown meter model")
	// ErrConnect: the transport could not be opened (refused, no such device).
	ErrConnect = errors.New("meter connection failed")
)

// ExceptionError is a Modbus exception reply. Code is the exception code (01 illegal
// function, 02 illegal data address, 03 illegal data value, 04 server device failure,
// 06 server device busy, ...).
type ExceptionError struct {
	Code     byte
	Function byte
	Addr     uint16
}

// Error describes the exception with its code and meaning.
func (e *ExceptionError) Error() string {
	return fmt.Sprintf("modbus exception %02d (%s) to function %02d at 0x%04x", e.Code, exceptionName(e.Code), e.Function, e.Addr)
}

func exceptionName(c byte) string {
	switch c {
	case 1:
		return "illegal function"
	case 2:
		return "illegal data address"
	case 3:
		return "illegal data value"
	case 4:
		return "server device failure"
	case 5:
		return "acknowledge"
	case 6:
		return "server device busy"
	case 8:
		return "memory parity error"
	case 0x0A:
		return "gateway path unavailable"
	case 0x0B:
		return "gateway target failed to respond"
	}
	return "unknown"
}

// ReplacementError reports that the meter's serial number changed (seen when the identity
// is read: at connect, after a failed or implausible poll, every Config.IdentityInterval):
// a meter replacement event, not a reading. The Meter adopts the new serial and a fresh
// energy baseline, so the next Read succeeds.
type ReplacementError struct {
	OldSerial, NewSerial string
}

// Error names both serial numbers.
func (e *ReplacementError) Error() string {
	return fmt.Sprintf("meter replaced: serial %q became %q", e.OldSerial, e.NewSerial)
}

// CounterResetError reports that the energy counters went below the baseline and stayed
// there, consistent among themselves, for Config.ResetConfirm (default 60 s): the meter was
// reset or its counter rolled over. Like a replacement it is an event, not a reading: the
// Meter adopts the new values as its baseline, so the next Read succeeds; the caller records
// the event, ends any running session and latches an alarm. Until then every such reading
// is only implausible (*ImplausibleError with Rule RuleFall): a glitch never moves the
// baseline and nothing is billed from it.
type CounterResetError struct {
	OldImportMWh, NewImportMWh int64
	OldExportMWh, NewExportMWh int64
	// Consistent is how long the lower counters were seen, agreeing, before this was
	// accepted as a reset (at least Config.ResetConfirm).
	Consistent time.Duration
}

// Error names the old and new counter values.
func (e *CounterResetError) Error() string {
	return fmt.Sprintf("meter counters reset: import %d → %d mWh, export %d → %d mWh (consistent for %s)",
		e.OldImportMWh, e.NewImportMWh, e.OldExportMWh, e.NewExportMWh, e.Consistent.Round(time.Millisecond))
}

// Rule names the plausibility rule a reading broke (see doc.go, "Plausibility").
type Rule string

// Plausibility rules. The string values are stable: callers may record them in events.
const (
	RuleRange    Rule = "range"     // V, I, P or f outside its physical range
	RuleMarker   Rule = "marker"    // a register held its format's "not available" marker
	RuleAllZero  Rule = "all_zero"  // every measurement register read 0x0000
	RuleAllOnes  Rule = "all_ones"  // every measurement register read 0xFFFF
	RuleRise     Rule = "rise"      // a counter rose faster than rated power × margin allows
	RuleFall     Rule = "fall"      // a counter went below the baseline
	RuleFrozen   Rule = "frozen"    // power flowed but the counter did not move
	RuleTooLarge Rule = "too_large" // a counter beyond 1 TWh
)

// ImplausibleError says which quantity failed which check. It matches ErrImplausible. For
// the energy rules (rise, fall, frozen, all_zero, all_ones) it carries what was seen, the
// baseline it was compared with and the bound the rule allowed; the baseline was not
// advanced, so nothing may be billed from the reading.
type ImplausibleError struct {
	Quantity Quantity
	Rule     Rule
	Reason   string
	// SeenMWh is the counter the meter reported; BaseMWh the last accepted value;
	// BoundMWh the highest value the rise rule allowed (0 where no bound applies).
	SeenMWh, BaseMWh, BoundMWh int64
	// Elapsed is the monotonic time since the last accepted reading (0 if none).
	Elapsed time.Duration
}

// Error says which quantity failed which check.
func (e *ImplausibleError) Error() string {
	return fmt.Sprintf("implausible %s (%s): %s", e.Quantity, e.Rule, e.Reason)
}

// Is makes errors.Is(err, ErrImplausible) true.
func (e *ImplausibleError) Is(target error) bool { return target == ErrImplausible }

// statusOf maps an error to the Reading status.
func statusOf(err error) Status {
	var ex *ExceptionError
	switch {
	case err == nil:
		return StatusOK
	case errors.Is(err, ErrTimeout):
		return StatusTimeout
	case errors.As(err, &ex):
		return StatusException
	case errors.Is(err, ErrImplausible):
		return StatusImplausible
	case errors.As(err, new(*ReplacementError)), errors.As(err, new(*CounterResetError)):
		return StatusReplaced
	}
	return StatusError
}
