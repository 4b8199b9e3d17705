package gateway

import (
	"context"
	"errors"

	"github.com/chargegate/chargegate/ota"
)

// Errors a command can be refused with; callers branch on them with errors.Is, and ErrorCode
// turns each into the code the operator sees.
var (
	ErrBadCommand       = errors.New("bad command")
	ErrCommandSignature = errors.New("command signature")
	ErrReplayed         = errors.New("command already executed")
	ErrExpired          = errors.New("command outside its validity window")
	ErrSessionRunning   = errors.New("a session is already running")
	ErrNoSession        = errors.New("no session is running")
	ErrStoreRefused     = errors.New("store refuses new sessions")
	ErrHardwareFault    = errors.New("hardware fault latched")
	ErrAlarmLatched     = errors.New("an alarm is latched until clear_fault")
	ErrUpdating         = errors.New("an update is being activated")
	ErrUnauthorized     = errors.New("id token required in authorized mode")
	ErrUnavailable      = errors.New("not available on this device")
	ErrMeterUnreadable  = errors.New("meter not readable")
	ErrSessionUnclosed  = errors.New("an earlier session could not be closed yet")
	ErrSessionState     = errors.New("the session is not in a state that allows this")
)

// errorCodes is the one table from errors to the reply codes documented in gateway/mqtt/doc.go.
// The first match wins, so specific errors come before general ones.
var errorCodes = []struct {
	err  error
	code string
}{
	{ErrBadCommand, "bad_request"},
	{ErrCommandSignature, "unauthorized"},
	{ErrReplayed, "replayed"},
	{ErrExpired, "expired"},
	{ErrSessionRunning, "session_running"},
	{ErrNoSession, "no_session"},
	{ErrStoreRefused, "store_full"},
	{ErrHardwareFault, "hardware_fault"},
	{ErrAlarmLatched, "alarm_latched"},
	{ErrUpdating, "updating"},
	{ErrUnauthorized, "unauthorized"},
	{ErrUnavailable, "unavailable"},
	{ErrMeterUnreadable, "meter_unreadable"},
	{ErrSessionUnclosed, "session_unclosed"},
	{ErrSessionState, "session_state"},
	{ota.ErrBusy, "busy"},
	{ota.ErrBroken, "update_broken"},
	{ota.ErrActivating, "updating"},
	{context.DeadlineExceeded, "timeout"},
	{context.Canceled, "timeout"},
}

// ErrorCode maps an error to the reply code an operator sees: "" for nil, "failed" for anything
// without a code of its own.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "failed"
}

// ErrorCodes lists every code ErrorCode can return, for documentation and tests.
func ErrorCodes() []string {
	seen := map[string]bool{}
	var codes []string
	for _, c := range errorCodes {
		if !seen[c.code] {
			seen[c.code] = true
			codes = append(codes, c.code)
		}
	}
	return append(codes, "failed")
}
