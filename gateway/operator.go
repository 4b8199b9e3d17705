package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chargegate/chargegate/gateway/access"
	"github.com/chargegate/chargegate/ledger"
)

// Command validity limits for signed commands.
const (
	// MaxCommandValidity is the longest window between issued_at and expires_at an operator may
	// give a signed command.
	MaxCommandValidity = 24 * time.Hour
	// CommandClockSkew is how far the operator's and the charger's clocks may disagree.
	CommandClockSkew = 5 * time.Minute
)

// ReplayGuard remembers executed request IDs durably until they expire. RememberCommand reports
// false when requestID was already executed (a replay).
type ReplayGuard interface {
	RememberCommand(ctx context.Context, requestID string, expires time.Time) (fresh bool, err error)
}

// Updater is what the operator's update commands need of the update agent.
type Updater interface {
	Update(ctx context.Context, url string) error
	Cancel(ctx context.Context) error
	Repair(ctx context.Context) error
	Status() any
}

// Authorizer decides whether a presented token may start a session (gateway/access). Release
// gives back a single-use token whose session did not begin.
type Authorizer interface {
	Authorize(ctx context.Context, req access.Request) access.Decision
	Release(d access.Decision) error
	// AllowList is the operator's local allow-list, which the allow_list command changes.
	AllowList() *access.AllowList
}

// LoadManager takes the limit and mode commands (gateway/site, wired by the appliance). Limit
// sets the operator's limit on EVSE n (0: on the sum of every EVSE) — a positive current a
// ceiling, 0 a pause, nil lifting it — until the given time (zero: until lifted); Mode sets
// grid or pv for EVSE n (0: every EVSE). Both fail with ErrBadCommand for what the site
// refuses.
type LoadManager interface {
	Limit(ctx context.Context, n uint8, amps *float64, until time.Time) (Result, error)
	Mode(ctx context.Context, n uint8, mode string) (Result, error)
}

// SessionCommander runs session commands in the control loop (Controller.Do).
type SessionCommander interface {
	Do(ctx context.Context, c Command) (Result, error)
}

// OperatorOptions are the parts an Operator needs. Only Controller is required.
type OperatorOptions struct {
	Controller SessionCommander
	// EVSEs are the control loops of a box with several charging points, by number (1..N,
	// EVSE 1 being Controller); session commands go to the one their evse field names. Nil on
	// a box with one.
	EVSEs map[uint8]SessionCommander
	// Verifier, when set, requires every command to be signed by an operator key and to carry
	// issued_at and expires_at; Replay must then be set too.
	Verifier *CommandVerifier
	Replay   ReplayGuard
	// Updater answers update, cancel_update and repair_update; nil answers "unavailable".
	Updater Updater
	// Access verifies signed capability tokens presented with start and authorize; nil refuses
	// commands that carry one.
	Access Authorizer
	// Refused, when set, is told of every refused token so it can be recorded in the chain
	// (rate-limited by the caller: access.RefusalGate).
	Refused func(ctx context.Context, d access.Decision)
	// Record, when set, writes a signed event entry (an allow-list change, ledger.EventAllowList).
	Record func(ctx context.Context, code, detail string) error
	// Load answers limit and mode; nil answers "unavailable" (no load management).
	Load LoadManager
	// Config answers the config command with the redacted configuration.
	Config func() any
	Now    func() time.Time
	Logger *slog.Logger
}

// Operator executes operator commands from any link: it opens the signed envelope, checks the
// validity window and the replay memory, decodes the command strictly and hands it to the part
// that runs it. Malformed, unknown, replayed or refused commands change nothing.
type Operator struct {
	o OperatorOptions
}

// NewOperator returns an Operator over the given parts.
func NewOperator(o OperatorOptions) (*Operator, error) {
	if o.Controller == nil {
		return nil, fmt.Errorf("operator: a controller is required")
	}
	if o.Verifier != nil && o.Replay == nil {
		return nil, fmt.Errorf("operator: signed commands need a replay guard")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Operator{o: o}, nil
}

// Execute runs command name with its payload as received (the signed envelope when commands are
// signed). It returns the result and, on failure, the reply code from ErrorCode.
func (op *Operator) Execute(ctx context.Context, name string, payload []byte) (any, string, error) {
	return op.ExecuteFrom(ctx, "", name, payload)
}

// ExecuteFrom is Execute for a link that knows who sent the command (source: "web/admin",
// say): the entries the command causes record it as by=source.
func (op *Operator) ExecuteFrom(ctx context.Context, source, name string, payload []byte) (any, string, error) {
	res, err := op.execute(ctx, source, name, payload)
	if err != nil {
		op.o.Logger.Info("command refused", "command", name, "code", ErrorCode(err), "err", err)
		return nil, ErrorCode(err), err
	}
	return res, "", nil
}

func (op *Operator) execute(ctx context.Context, source, name string, payload []byte) (any, error) {
	signed := op.o.Verifier != nil
	if signed {
		inner, err := op.o.Verifier.Open(name, payload)
		if err != nil {
			return nil, err
		}
		payload = inner
	}
	c, err := ParseCommand(name, payload)
	if err != nil {
		return nil, err
	}
	c.Source = source
	if err := op.checkWindow(c, signed); err != nil {
		return nil, err
	}
	if signed {
		fresh, err := op.o.Replay.RememberCommand(ctx, c.RequestID, c.ExpiresAt.Add(CommandClockSkew))
		if err != nil {
			return nil, fmt.Errorf("remember request %q: %w", c.RequestID, err)
		}
		if !fresh {
			return nil, fmt.Errorf("%w: request_id %q", ErrReplayed, c.RequestID)
		}
	}
	switch c.Name {
	case CmdUpdate, CmdCancelUpdate, CmdRepairUpdate:
		return op.update(ctx, c)
	case CmdStart, CmdAuthorize:
		if c.Token != "" {
			return op.startWithToken(ctx, c)
		}
	case CmdAllowList:
		return op.allowList(ctx, c)
	case CmdConfig:
		if op.o.Config == nil {
			return nil, fmt.Errorf("%w: configuration", ErrUnavailable)
		}
		return op.o.Config(), nil
	case CmdClearFault:
		if c.EVSE == 0 && len(op.o.EVSEs) > 1 {
			return op.clearEvery(ctx, c)
		}
	case CmdLimit, CmdMode:
		return op.load(ctx, c)
	}
	ctl, err := op.controller(c.EVSE)
	if err != nil {
		return nil, err
	}
	return ctl.Do(ctx, c)
}

// controller returns the control loop of EVSE n (0: EVSE 1); an EVSE the box does not have is
// a bad request.
func (op *Operator) controller(n uint8) (SessionCommander, error) {
	if op.o.EVSEs == nil {
		if n <= 1 {
			return op.o.Controller, nil
		}
		return nil, fmt.Errorf("%w: this box has one EVSE, not EVSE %d", ErrBadCommand, n)
	}
	if n == 0 {
		n = 1
	}
	if c, ok := op.o.EVSEs[n]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("%w: this box has %d EVSEs, not EVSE %d", ErrBadCommand, len(op.o.EVSEs), n)
}

// clearEvery runs clear_fault on every EVSE in turn (an e-stop latches them all) and answers
// what each cleared; the first failure (the e-stop still pressed, say) is the answer, after
// every EVSE has been tried.
func (op *Operator) clearEvery(ctx context.Context, c Command) (any, error) {
	var all []string
	var first error
	for n := uint8(1); int(n) <= len(op.o.EVSEs); n++ {
		ctl, ok := op.o.EVSEs[n]
		if !ok {
			continue
		}
		c.EVSE = n
		res, err := ctl.Do(ctx, c)
		if err != nil {
			if first == nil {
				first = fmt.Errorf("EVSE %d: %w", n, err)
			}
			continue
		}
		if cl, ok := res["cleared"].([]string); ok {
			for _, a := range cl {
				all = append(all, fmt.Sprintf("%d:%s", n, a))
			}
		}
	}
	if first != nil {
		return nil, first
	}
	return Result{"cleared": all}, nil
}

// checkWindow enforces issued_at/expires_at: required on signed commands, at most
// MaxCommandValidity apart, and now inside them give or take CommandClockSkew.
func (op *Operator) checkWindow(c Command, signed bool) error {
	if c.IssuedAt.IsZero() && c.ExpiresAt.IsZero() && !signed {
		return nil
	}
	if c.IssuedAt.IsZero() || c.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: issued_at and expires_at are required", ErrBadCommand)
	}
	if !c.ExpiresAt.After(c.IssuedAt) || c.ExpiresAt.Sub(c.IssuedAt) > MaxCommandValidity {
		return fmt.Errorf("%w: expires_at must be after issued_at and at most %v later", ErrBadCommand, MaxCommandValidity)
	}
	now := op.o.Now()
	if now.Before(c.IssuedAt.Add(-CommandClockSkew)) {
		return fmt.Errorf("%w: issued_at %s is in the future (now %s)", ErrExpired, c.IssuedAt.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if now.After(c.ExpiresAt.Add(CommandClockSkew)) {
		return fmt.Errorf("%w: expired at %s (now %s)", ErrExpired, c.ExpiresAt.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	return nil
}

func (op *Operator) update(ctx context.Context, c Command) (any, error) {
	u := op.o.Updater
	if u == nil {
		return nil, fmt.Errorf("%w: the update agent is not enabled", ErrUnavailable)
	}
	var err error
	switch c.Name {
	case CmdUpdate:
		err = u.Update(ctx, c.URL)
	case CmdCancelUpdate:
		err = u.Cancel(ctx)
	case CmdRepairUpdate:
		err = u.Repair(ctx)
	}
	if err != nil {
		return nil, err
	}
	return u.Status(), nil
}

// startWithToken verifies the command's capability token outside the control loop (an online
// check may take seconds), then starts the session with the decision, which the begin entry
// records and whose limits bound the session.
func (op *Operator) startWithToken(ctx context.Context, c Command) (any, error) {
	if op.o.Access == nil {
		return nil, fmt.Errorf("%w: this device trusts no token issuer", ErrUnauthorized)
	}
	d := op.o.Access.Authorize(ctx, access.Request{IDToken: c.IDToken, Token: c.Token})
	if !d.Allowed {
		if op.o.Refused != nil {
			op.o.Refused(ctx, d)
		}
		return nil, fmt.Errorf("%w: token refused: %s", ErrUnauthorized, d.Reason)
	}
	c.Decision = &d
	ctl, err := op.controller(c.EVSE)
	if err != nil {
		return nil, err
	}
	res, err := ctl.Do(ctx, c)
	if err != nil {
		if rerr := op.o.Access.Release(d); rerr != nil {
			op.o.Logger.Error("give back the single-use token", "err", rerr)
		}
		return nil, err
	}
	return res, nil
}

// allowList runs the allow_list command: get answers the list; a change is applied, saved and
// recorded in the chain (version, operation, size — never an id_token).
func (op *Operator) allowList(ctx context.Context, c Command) (any, error) {
	if op.o.Access == nil {
		return nil, fmt.Errorf("%w: no access component", ErrUnavailable)
	}
	l := op.o.Access.AllowList()
	if c.Op == "get" {
		entries := l.List("")
		if entries == nil {
			entries = []access.ListEntry{}
		}
		return Result{"version": l.Version(), "entries": entries}, nil
	}
	if err := l.Apply(c.Op, c.Version, c.Entries); err != nil {
		if errors.Is(err, access.ErrListVersion) || errors.Is(err, access.ErrListFull) {
			return nil, fmt.Errorf("%w: %v", ErrBadCommand, err)
		}
		return nil, fmt.Errorf("apply the allow-list change: %w", err)
	}
	size := len(l.List(""))
	if op.o.Record != nil {
		detail := fmt.Sprintf("op=%s version=%d entries=%d size=%d request=%s", c.Op, c.Version, len(c.Entries), size, c.RequestID)
		if err := op.o.Record(ctx, ledger.EventAllowList, detail); err != nil {
			op.o.Logger.Error("record the allow-list change", "err", err)
		}
	}
	return Result{"version": c.Version, "size": size}, nil
}

// load runs limit and mode on the load manager, for an EVSE the box has (or the whole box).
func (op *Operator) load(ctx context.Context, c Command) (any, error) {
	if op.o.Load == nil {
		return nil, fmt.Errorf("%w: no load management (site: and current_control in the configuration)", ErrUnavailable)
	}
	if c.EVSE != 0 {
		if _, err := op.controller(c.EVSE); err != nil {
			return nil, err
		}
	}
	var res Result
	var err error
	if c.Name == CmdLimit {
		res, err = op.o.Load.Limit(ctx, c.EVSE, c.Amps, c.Until)
	} else {
		res, err = op.o.Load.Mode(ctx, c.EVSE, c.Mode)
	}
	if err != nil {
		return nil, err
	}
	op.o.Logger.Info("load management command", "command", c.Name, "evse", c.EVSE, "by", c.source())
	return res, nil
}
