package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chargegate/chargegate/gateway/access"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ota"
)

// Command is one operator command, decoded and validated by ParseCommand.
type Command struct {
	Name      string `json:"-"`
	RequestID string `json:"request_id"`
	IDToken   string `json:"id_token,omitempty"` // start, authorize
	// Token is a signed capability token (gateway/access, compact JWS) presented for start or
	// authorize: the Operator verifies it and hands the Controller the Decision.
	Token string `json:"token,omitempty"`
	URL   string `json:"url,omitempty"` // update
	// IssuedAt and ExpiresAt bound when the command may run; required on signed commands.
	IssuedAt  time.Time `json:"issued_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Op, Version and Entries are the allow_list command's change of the local allow-list
	// (gateway/access AllowList.Apply): op add, remove, replace or get.
	Op      string             `json:"op,omitempty"`
	Version int64              `json:"version,omitempty"`
	Entries []access.ListEntry `json:"entries,omitempty"`
	// EVSE names the charging point a session command is for, on a box with several (1..N);
	// 0 (absent) is EVSE 1, or for clear_fault every EVSE. An EVSE the box does not have is a
	// bad request.
	EVSE uint8 `json:"evse,omitempty"`
	// Amps is the limit command's current per phase (0 pauses; absent lifts the operator's
	// limit), Until its optional end; Mode the mode command's grid or pv.
	Amps  *float64  `json:"amps,omitempty"`
	Until time.Time `json:"until,omitzero"`
	Mode  string    `json:"mode,omitempty"`
	// Decision is how the start was authorized (set by the Operator, never from the wire).
	Decision *access.Decision `json:"-"`
	// Source says who asked, for the chain's events ("mqtt", "ocpp", "web", ...; set by the
	// transport, never from the wire); empty reads as "operator".
	Source string `json:"-"`
}

// Result is what a command answers on success.
type Result map[string]any

// Command names the gateway understands. The Controller runs the session commands; the
// Operator answers the update commands and config itself.
const (
	CmdStart        = "start"
	CmdStop         = "stop"
	CmdAuthorize    = "authorize"
	CmdClearFault   = "clear_fault"
	CmdPause        = "pause"
	CmdResume       = "resume"
	CmdUpdate       = "update"
	CmdCancelUpdate = "cancel_update"
	CmdRepairUpdate = "repair_update"
	CmdConfig       = "config"
	// CmdAllowList changes or reads the local allow-list (gateway/access); the Operator runs it.
	CmdAllowList = "allow_list"
	// CmdLimit sets or lifts the operator's current limit on an EVSE or the box; CmdMode
	// chooses grid or PV-surplus charging (gateway/site, through the Operator's LoadManager).
	CmdLimit = "limit"
	CmdMode  = "mode"
)

const maxCommandSize = 4096

// MaxLimitAmps bounds the limit command's current: per EVSE 80 A is the most a control pilot can
// offer; a box-wide limit (no evse) is on the sum of its EVSEs.
const MaxLimitAmps = 1000

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
	if c.IDToken != "" {
		if err := ValidIDToken(c.IDToken); err != nil {
			return c, fmt.Errorf("%w: %v", ErrBadCommand, err)
		}
	}
	switch name {
	case CmdStart, CmdAuthorize:
		if len(c.Token) > access.MaxTokenSize {
			return c, fmt.Errorf("%w: token of %d bytes exceeds %d", ErrBadCommand, len(c.Token), access.MaxTokenSize)
		}
		if name == CmdAuthorize && c.IDToken == "" && c.Token == "" {
			return c, fmt.Errorf("%w: authorize needs id_token", ErrBadCommand)
		}
		if c.URL != "" {
			return c, fmt.Errorf("%w: %s takes no url", ErrBadCommand, name)
		}
	case CmdStop, CmdClearFault, CmdConfig, CmdCancelUpdate, CmdRepairUpdate, CmdPause, CmdResume:
		if c.IDToken != "" || c.URL != "" || c.Token != "" {
			return c, fmt.Errorf("%w: %s takes no arguments", ErrBadCommand, name)
		}
	case CmdUpdate:
		if c.Token != "" {
			return c, fmt.Errorf("%w: update takes no token", ErrBadCommand)
		}
		if !strings.HasPrefix(c.URL, "https://") && !strings.HasPrefix(c.URL, "http://") {
			return c, fmt.Errorf("%w: update needs an http(s) url", ErrBadCommand)
		}
	case CmdAllowList:
		if err := checkAllowList(c); err != nil {
			return c, fmt.Errorf("%w: %v", ErrBadCommand, err)
		}
	case CmdLimit:
		if c.IDToken != "" || c.URL != "" || c.Token != "" || c.Mode != "" {
			return c, fmt.Errorf("%w: limit takes amps, until and evse", ErrBadCommand)
		}
		if c.Amps != nil && (*c.Amps < 0 || *c.Amps > MaxLimitAmps) {
			return c, fmt.Errorf("%w: amps must be 0..%d", ErrBadCommand, MaxLimitAmps)
		}
		if c.Amps == nil && !c.Until.IsZero() {
			return c, fmt.Errorf("%w: until goes with amps", ErrBadCommand)
		}
	case CmdMode:
		if c.IDToken != "" || c.URL != "" || c.Token != "" || c.Amps != nil || !c.Until.IsZero() {
			return c, fmt.Errorf("%w: mode takes mode and evse", ErrBadCommand)
		}
		if c.Mode != "grid" && c.Mode != "pv" {
			return c, fmt.Errorf("%w: mode must be grid or pv, not %q", ErrBadCommand, c.Mode)
		}
	default:
		return c, fmt.Errorf("%w: unknown command %q", ErrBadCommand, name)
	}
	switch name {
	case CmdStart, CmdAuthorize, CmdStop, CmdClearFault, CmdPause, CmdResume, CmdLimit, CmdMode:
	default:
		if c.EVSE != 0 {
			return c, fmt.Errorf("%w: %s is for the whole box and takes no evse", ErrBadCommand, name)
		}
	}
	if name != CmdLimit && (c.Amps != nil || !c.Until.IsZero()) {
		return c, fmt.Errorf("%w: amps and until belong to limit", ErrBadCommand)
	}
	if name != CmdMode && c.Mode != "" {
		return c, fmt.Errorf("%w: mode belongs to the mode command", ErrBadCommand)
	}
	if name != CmdAllowList && (c.Op != "" || c.Version != 0 || c.Entries != nil) {
		return c, fmt.Errorf("%w: op, version and entries belong to allow_list", ErrBadCommand)
	}
	return c, nil
}

// source names who sent the command, for the chain's events.
func (c Command) source() string {
	if c.Source == "" {
		return "operator"
	}
	return c.Source
}

// request is a function to run inside the control loop, with where to send its answer.
type request struct {
	fn    func(ctx context.Context) (Result, error)
	reply chan reply
}

type reply struct {
	res Result
	err error
}

// Do hands a session command to the control loop and waits for its answer.
func (g *Controller) Do(ctx context.Context, c Command) (Result, error) {
	return g.inLoop(ctx, func(ctx context.Context) (Result, error) { return g.handle(ctx, c) })
}

// Hold stops new sessions from starting, atomically with the check that none runs, so that an
// update can activate (ota.Inhibitor). It fails with ErrSessionRunning while a session runs;
// release lets sessions start again.
func (g *Controller) Hold(ctx context.Context) (release func(), err error) {
	_, err = g.inLoop(ctx, func(context.Context) (Result, error) {
		if g.session != nil {
			return nil, fmt.Errorf("session %s: %w (%w)", g.session.ID, ErrSessionRunning, ota.ErrCharging)
		}
		g.held = true
		g.updateLED()
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			// The loop may be gone (shutdown); then nothing starts anyway.
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			g.inLoop(rctx, func(context.Context) (Result, error) { g.held = false; g.updateLED(); return nil, nil })
		})
	}, nil
}

// inLoop runs fn inside the control loop and waits for its answer.
func (g *Controller) inLoop(ctx context.Context, fn func(ctx context.Context) (Result, error)) (Result, error) {
	req := request{fn: fn, reply: make(chan reply, 1)}
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
func (g *Controller) handle(ctx context.Context, c Command) (Result, error) {
	g.by = c.Source
	defer func() { g.by = "" }()
	switch c.Name {
	case CmdStart, CmdAuthorize:
		s, err := g.startSession(ctx, c.IDToken, c.Decision)
		if err != nil {
			return nil, err
		}
		return Result{"session_id": s.ID, "begin_seq": s.BeginSeq}, nil
	case CmdStop:
		if g.session == nil {
			return nil, ErrNoSession
		}
		id := g.session.ID
		g.stopSession(ctx, ledger.EndRemote)
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
		var cleared []string
		for _, a := range []string{AlarmRelay, AlarmEStop, AlarmRCD, AlarmCounterReset, AlarmMeterReplaced} {
			if g.alarms[a] != "" {
				cleared = append(cleared, a)
				delete(g.alarms, a)
			}
		}
		if len(cleared) > 0 {
			g.event(ctx, ledger.EventFaultCleared, "cleared "+strings.Join(cleared, ",")+g.byDetail())
		}
		g.updateLED()
		return Result{"cleared": cleared}, nil
	case CmdPause:
		return g.pauseSession(ctx, c.source())
	case CmdResume:
		return g.resumeSession(ctx, c.source())
	}
	return nil, fmt.Errorf("%w: %q is not a session command", ErrBadCommand, c.Name)
}

// MaxIDTokenLength is OCPP's limit for an IdToken (OCPP 1.6 IdToken: CiString20Type; OCPP 2.0.1
// IdTokenType.idToken: string[0..36]); chargegate accepts the longer of the two.
const MaxIDTokenLength = 36

// ValidIDToken checks an id token against OCPP's IdToken rules: 1 to 36 characters of printable
// ASCII (0x20..0x7E), case-insensitive identifier. Anything else never reaches a signed entry.
func ValidIDToken(tok string) error {
	if tok == "" || len(tok) > MaxIDTokenLength {
		return fmt.Errorf("id_token must be 1..%d characters, got %d", MaxIDTokenLength, len(tok))
	}
	for i := 0; i < len(tok); i++ {
		if b := tok[i]; b < 0x20 || b > 0x7e {
			return fmt.Errorf("id_token byte %d is 0x%02x: only printable ASCII is allowed", i, b)
		}
	}
	return nil
}

// checkAllowList validates an allow_list command: an op, a positive version with a change, and
// entries whose id_tokens are valid and named once.
func checkAllowList(c Command) error {
	if c.IDToken != "" || c.Token != "" || c.URL != "" {
		return fmt.Errorf("allow_list takes op, version and entries")
	}
	switch c.Op {
	case "get":
		if c.Version != 0 || c.Entries != nil {
			return fmt.Errorf("get takes no version or entries")
		}
		return nil
	case access.ListAdd, access.ListRemove, access.ListReplace:
	default:
		return fmt.Errorf("op must be add, remove, replace or get, not %q", c.Op)
	}
	if c.Version <= 0 {
		return fmt.Errorf("a change needs a version above 0")
	}
	seen := map[string]bool{}
	for i, e := range c.Entries {
		if err := ValidIDToken(e.IDToken); err != nil {
			return fmt.Errorf("entries[%d]: %v", i, err)
		}
		if seen[e.IDToken] {
			return fmt.Errorf("entries[%d]: id_token named twice", i)
		}
		seen[e.IDToken] = true
		switch e.Status {
		case "", "Accepted", "Blocked", "Expired", "Invalid":
		default:
			return fmt.Errorf("entries[%d]: status %q is not Accepted, Blocked, Expired or Invalid", i, e.Status)
		}
	}
	return nil
}
