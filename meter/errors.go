package meter

import (
	"errors"
	"fmt"
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

// ReplacementError reports that the meter's serial number changed: a meter replacement
// event, not a reading. The Meter adopts the new serial and a fresh energy baseline, so
// the next Read succeeds.
type ReplacementError struct {
	OldSerial, NewSerial string
}

// Error names both serial numbers.
func (e *ReplacementError) Error() string {
	return fmt.Sprintf("meter replaced: serial %q became %q", e.OldSerial, e.NewSerial)
}

// CounterResetError reports that the energy counters went backwards and stayed there for
// ResetConfirmations polls in a row: the meter was reset or its counter rolled over. Like a
// replacement it is an event, not a reading: the Meter adopts the new values as its baseline,
// so the next Read succeeds, and the caller records the event and ends any running session.
// A single backwards reading is only implausible (a glitch must not move the baseline).
type CounterResetError struct {
	OldImportMWh, NewImportMWh int64
	OldExportMWh, NewExportMWh int64
}

// Error names the old and new counter values.
func (e *CounterResetError) Error() string {
	return fmt.Sprintf("meter counters reset: import %d → %d mWh, export %d → %d mWh",
		e.OldImportMWh, e.NewImportMWh, e.OldExportMWh, e.NewExportMWh)
}

// ImplausibleError says which quantity failed which check. It matches ErrImplausible.
type ImplausibleError struct {
	Quantity Quantity
	Reason   string
}

// Error says which quantity failed which check.
func (e *ImplausibleError) Error() string {
	return fmt.Sprintf("implausible %s: %s", e.Quantity, e.Reason)
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
