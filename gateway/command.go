package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Command is one operator command, decoded and validated by ParseCommand.
type Command struct {
	Name      string `json:"-"`
	RequestID string `json:"request_id"`
	IDToken   string `json:"id_token,omitempty"` // start, authorize
	URL       string `json:"url,omitempty"`      // update
}

// Result is what a command answers on success.
type Result map[string]any

// Command names the gateway understands. update and config are answered by the composition
// (App), which owns the update agent and the configuration.
const (
	CmdStart      = "start"
	CmdStop       = "stop"
	CmdAuthorize  = "authorize"
	CmdClearFault = "clear_fault"
	CmdUpdate     = "update"
	CmdConfig     = "config"
)

// ErrBadCommand marks a command that is malformed or unknown; it changes nothing.
var ErrBadCommand = errors.New("bad command")

const maxCommandSize = 4096

// ParseCommand decodes the JSON payload of command name strictly: unknown fields, oversized
// payloads, a missing request_id or arguments that do not belong to the command are errors.
func ParseCommand(name string, payload []byte) (Command, error) {
	var c Command
	if len(payload) > maxCommandSize {
		return c, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrBadCommand, len(payload), maxCommandSize)
	}
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	if dec.More() {
		return c, fmt.Errorf("%w: trailing data after the JSON object", ErrBadCommand)
	}
	c.Name = name
	if c.RequestID == "" || len(c.RequestID) > 64 {
		return c, fmt.Errorf("%w: request_id must be 1..64 characters", ErrBadCommand)
	}
	if len(c.IDToken) > 64 {
		return c, fmt.Errorf("%w: id_token longer than 64 characters", ErrBadCommand)
	}
	switch name {
	case CmdStart, CmdAuthorize:
		if name == CmdAuthorize && c.IDToken == "" {
			return c, fmt.Errorf("%w: authorize needs id_token", ErrBadCommand)
		}
		if c.URL != "" {
			return c, fmt.Errorf("%w: %s takes no url", ErrBadCommand, name)
		}
	case CmdStop, CmdClearFault, CmdConfig:
		if c.IDToken != "" || c.URL != "" {
			return c, fmt.Errorf("%w: %s takes no arguments", ErrBadCommand, name)
		}
	case CmdUpdate:
		if !strings.HasPrefix(c.URL, "https://") && !strings.HasPrefix(c.URL, "http://") {
			return c, fmt.Errorf("%w: update needs an http(s) url", ErrBadCommand)
		}
	default:
		return c, fmt.Errorf("%w: unknown command %q", ErrBadCommand, name)
	}
	return c, nil
}

type request struct {
	cmd   Command
	reply chan reply
}

type reply struct {
	res Result
	err error
}

// Do hands a session command to the control loop and waits for its answer.
func (g *Gateway) Do(ctx context.Context, c Command) (Result, error) {
	req := request{cmd: c, reply: make(chan reply, 1)}
	select {
	case g.cmds <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// handle runs in the control loop.
func (g *Gateway) handle(ctx context.Context, c Command) (Result, error) {
	switch c.Name {
	case CmdStart, CmdAuthorize:
		s, err := g.startSession(ctx, c.IDToken)
		if err != nil {
			return nil, err
		}
		return Result{"session_id": s.ID, "begin_seq": s.BeginSeq}, nil
	case CmdStop:
		if g.session == nil {
			return nil, ErrNoSession
		}
		id := g.session.ID
		g.stopSession(ctx, ReasonRemote)
		res := Result{"session_id": id}
		if g.lastSession != nil && g.lastSession.ID == id {
			res["energy_mwh"] = g.lastSession.EnergyMWh
			res["end_seq"] = g.lastSession.EndSeq
		}
		return res, nil
	case CmdClearFault:
		if err := g.board.ClearFault(); err != nil {
			return nil, fmt.Errorf("clear fault: %w", err)
		}
		delete(g.alarms, AlarmRelay)
		delete(g.alarms, AlarmEStop)
		delete(g.alarms, AlarmRCD)
		g.updateLED()
		return Result{}, nil
	}
	return nil, fmt.Errorf("%w: %q is not a session command", ErrBadCommand, c.Name)
}

// errorCode is the one place that maps errors to the codes operators see in command replies.
func errorCode(err error) string {
	switch {
	case errors.Is(err, ErrBadCommand):
		return "bad_request"
	case errors.Is(err, ErrSessionRunning):
		return "session_running"
	case errors.Is(err, ErrNoSession):
		return "no_session"
	case errors.Is(err, ErrStoreRefused):
		return "store_full"
	case errors.Is(err, ErrHardwareFault):
		return "hardware_fault"
	case errors.Is(err, ErrUpdating):
		return "updating"
	case errors.Is(err, ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timeout"
	}
	return "failed"
}
