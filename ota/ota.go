package ota

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/chargegate/chargegate/ota/durable"
)

// Inhibitor tells the agent whether a charging session runs. The gateway implements it.
type Inhibitor interface {
	// ChargingActive reports true while a charging session runs; the agent does not
	// activate an update then.
	ChargingActive() bool
}

// Slots is a slot backend: slot.Tryboot (Raspberry Pi A/B) or slot.Dirs (app-only). Slots
// are named; the agent only ever writes the one that is not booted.
type Slots interface {
	// Booted reports the running slot, the other one, and whether this start is a one-shot
	// trial of the running slot.
	Booted(ctx context.Context) (current, other string, trial bool, err error)
	// OpenTarget opens where a payload of type typ ("rootfs", "app") goes in slot for
	// reading and writing. It refuses the booted slot and types the backend cannot hold.
	OpenTarget(ctx context.Context, slot, typ string) (durable.File, error)
	// TryBoot starts slot once; any later restart returns to the default slot. On success
	// the system (or service) is going down.
	TryBoot(ctx context.Context, slot string) error
	// Commit makes slot, running as a trial, the default.
	Commit(ctx context.Context, slot string) error
	// RebootDefault restarts into the default slot.
	RebootDefault(ctx context.Context) error
}

// Config is what the agent needs. Zero values mean the documented defaults.
type Config struct {
	StateDir    string                       // agent state (persisted before every side effect)
	Slots       Slots                        // slot backend
	TrustedKeys map[string]ed25519.PublicKey // key ID (bundle.KeyID) → release key
	Hardware    string                       // e.g. "rpi4"; must be in the manifest's compatible list
	Version     string                       // running version
	Window      *MaintenanceWindow           // optional: activate only inside it
	// HealthCheck decides a trial: service up, meter readable, store writable, relay safe.
	// It is retried until it passes or HealthDeadline (default 5 min) runs out.
	HealthCheck    func(ctx context.Context) error
	HealthDeadline time.Duration
	BandwidthLimit int64 // bytes/s, 0 = none
	Logger         *slog.Logger
	Now            func() time.Time

	// FS is where state and slots live; nil is the real filesystem (tests use crashfs).
	FS durable.FS
	// HTTPClient fetches bundles; nil is a client with sane timeouts. Per-request deadlines
	// come from StallTimeout.
	HTTPClient *http.Client
	// StallTimeout aborts a download that received nothing for this long (default 60 s);
	// the download then resumes with a Range request.
	StallTimeout time.Duration
	// RetryDelay is the first back-off after a failed download attempt (default 2 s); it
	// doubles up to 5 min, with jitter. MaxAttempts failed attempts in a row without
	// progress fail the update (default 10).
	RetryDelay  time.Duration
	MaxAttempts int
	// PollInterval is how often a waiting update re-checks the charging session and the
	// maintenance window, and how often PollURL is fetched (default 10 s, 1 h for PollURL).
	PollInterval time.Duration
	// PollURL, if set, is checked every PollEvery for a newer bundle.
	PollURL   string
	PollEvery time.Duration
}

// State is a step of the update state machine (see the package doc).
type State string

// The states, in order. Committed, RolledBack and Failed are final; a new update may start.
const (
	StateIdle        State = "idle"
	StateDownloading State = "downloading"
	StateDownloaded  State = "downloaded"
	StateWaiting     State = "waiting"
	StateInstalling  State = "installing"
	StateInstalled   State = "installed"
	StateTrial       State = "trial"
	StateCommitted   State = "committed"
	StateRolledBack  State = "rolled_back"
	StateFailed      State = "failed"
)

func (s State) busy() bool {
	switch s {
	case StateDownloading, StateDownloaded, StateWaiting, StateInstalling, StateInstalled, StateTrial:
		return true
	}
	return false
}

// Status is the agent's progress as reported over MQTT and the local API.
type Status struct {
	State         State     `json:"state"`
	Percent       int       `json:"percent"`
	Version       string    `json:"version"`
	TargetVersion string    `json:"target_version,omitempty"`
	SecurityFloor uint64    `json:"security_floor"`
	Slot          string    `json:"slot,omitempty"`
	Activating    bool      `json:"activating"`
	WaitingFor    string    `json:"waiting_for,omitempty"`
	Error         string    `json:"error,omitempty"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Errors callers branch on.
var (
	ErrBusy          = errors.New("an update is already in progress")
	ErrIncompatible  = errors.New("bundle is not for this hardware")
	ErrDowngrade     = errors.New("bundle security version is below the floor")
	ErrBundleChanged = errors.New("bundle changed on the server during the download")
	ErrStateCorrupt  = errors.New("update state file is corrupt")
	ErrTrialFailed   = errors.New("trial boot failed")
)

// MaintenanceWindow is a daily time range in which updates may activate.
type MaintenanceWindow struct {
	Start, End time.Duration  // offsets from local midnight; End before Start wraps past midnight
	Location   *time.Location // nil is UTC
}

// Open reports whether t lies inside the window.
func (w MaintenanceWindow) Open(t time.Time) bool {
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	off := t.Sub(midnight)
	if w.Start <= w.End {
		return off >= w.Start && off < w.End
	}
	return off >= w.Start || off < w.End
}
