package ota

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/chargegate/chargegate/ota/durable"
)

// Inhibitor is the gateway's control loop, which owns the decision "no session runs, so
// the update may activate" together with "start a session": both must be one atomic step,
// or a session that starts while the agent reboots is cut off.
type Inhibitor interface {
	// Hold refuses new charging sessions until release is called. It fails with an error
	// wrapping ErrCharging, holding nothing, if a session runs; with another error if the
	// control loop cannot answer (ctx ended, loop stopped); it must not block past ctx.
	// The agent takes the hold right before it activates an update (read-back of the
	// slot, then the switch), in a trial boot before the health check (until commit or
	// fallback), and before a repeated fallback reboot. It does not release it when the
	// switch or the reboot succeeded: the process is going down. release may be called
	// more than once.
	Hold(ctx context.Context) (release func(), err error)
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
	// HTTPClient fetches bundles; nil is a client with sane timeouts. The agent uses a
	// copy whose redirect policy refuses non-HTTP schemes (file://) and https→http
	// (ErrRedirect); a CheckRedirect set here still runs after that policy.
	HTTPClient *http.Client
	// StallTimeout is the window over which download progress is measured (default 60 s):
	// a request that receives nothing in a window (no headers, no byte) is abandoned and
	// resumed with a Range request; one that receives fewer than MinRate × StallTimeout
	// bytes in two windows in a row fails the update with ErrTooSlow. Windows are not
	// pushed out by each byte, so a server dripping a byte at a time cannot hold a
	// download for ever: it fails after two windows.
	StallTimeout time.Duration
	// MinRate is the slowest average rate accepted over each StallTimeout window, in
	// bytes/s (default 1024, or half of BandwidthLimit if that is lower). It must not
	// exceed BandwidthLimit.
	MinRate int64
	// RetryDelay is the first back-off after a failed download attempt (default 2 s); it
	// doubles up to 5 min, with ±50 % jitter (cenkalti/backoff). MaxAttempts failed
	// attempts in a row without progress fail the update (default 10). Permanent errors
	// (ErrRedirect, ErrCertificate, ErrTooSlow, a bad bundle, HTTP 4xx) fail it at once.
	RetryDelay  time.Duration
	MaxAttempts int
	// PollInterval is how often a waiting update re-checks the charging session and the
	// maintenance window (default 10 s).
	PollInterval time.Duration
	// PollURL, if set, is checked every PollEvery (default 1 h) for a newer bundle.
	PollURL   string
	PollEvery time.Duration

	// FloorPath is the second copy of the security-version floor, so that losing or
	// damaging StateDir/state.json does not let an older bundle in again (default
	// StateDir/security-floor; better on another directory of the persistent partition).
	// Format: see the package doc.
	FloorPath string
	// SecurityFloor is a floor known from elsewhere: the gateway passes the highest
	// security version of the update_committed events in its signed chain. The agent's
	// floor is the highest of this, the floor file and the state file.
	SecurityFloor uint64
	// OnCommit, if set, is called when an update commits, before the committed state is
	// saved: the gateway records an update_committed event (version, security version) in
	// its signed chain. After a power cut at the wrong moment it may be called again for
	// the same commit (at least once).
	OnCommit func(version string, securityVersion uint64)
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
	// StateBroken is not saved: the state file could not be read or the saved state
	// could not be resolved. Charging goes on; updates are refused with ErrBroken until
	// Agent.Repair.
	StateBroken State = "broken"
)

func (s State) busy() bool {
	switch s {
	case StateDownloading, StateDownloaded, StateWaiting, StateInstalling, StateInstalled, StateTrial:
		return true
	}
	return false
}

// activation reports the states past the point of no return: Cancel cannot stop them.
func (s State) activation() bool {
	return s == StateInstalling || s == StateInstalled || s == StateTrial
}

// Status is the agent's progress as reported over MQTT and the local API.
type Status struct {
	State         State  `json:"state"`
	Percent       int    `json:"percent"`
	Version       string `json:"version"`
	TargetVersion string `json:"target_version,omitempty"`
	SecurityFloor uint64 `json:"security_floor"`
	Slot          string `json:"slot,omitempty"`
	Activating    bool   `json:"activating"`
	WaitingFor    string `json:"waiting_for,omitempty"`
	Error         string `json:"error,omitempty"` // why the last update failed or rolled back
	// LastError is the latest problem while the agent carries on: a download attempt
	// that failed and will be retried, an inhibitor that did not answer, why it is broken.
	LastError string    `json:"last_error,omitempty"`
	Attempts  int       `json:"attempts,omitempty"` // failed download attempts in a row
	UpdatedAt time.Time `json:"updated_at"`
}

// Errors callers branch on.
var (
	ErrBusy          = errors.New("an update is already in progress")
	ErrIncompatible  = errors.New("bundle is not for this hardware")
	ErrDowngrade     = errors.New("bundle security version is below the floor")
	ErrBundleChanged = errors.New("bundle changed on the server during the download")
	ErrStateCorrupt  = errors.New("update state file is corrupt")
	ErrTrialFailed   = errors.New("trial boot failed")

	// ErrCharging is what Inhibitor.Hold wraps when a charging session runs.
	ErrCharging = errors.New("a charging session is running")
	// ErrBroken: the updater cannot trust its state; Repair it. Charging is unaffected.
	ErrBroken = errors.New("updater is broken")
	// ErrActivating: the update is past the point where it can be cancelled (installing,
	// rebooting, on trial).
	ErrActivating = errors.New("an update is being activated")
	// ErrCancelled is the error of an update ended by Cancel.
	ErrCancelled = errors.New("update cancelled")

	// Permanent download errors: retrying cannot help, the update fails at once.

	// ErrRedirect: the server redirected to a non-HTTP scheme (file://) or from https
	// to http.
	ErrRedirect = errors.New("refused redirect")
	// ErrCertificate: the server's TLS certificate did not verify.
	ErrCertificate = errors.New("server certificate not trusted")
	// ErrTooSlow: the server sent less than Config.MinRate in two StallTimeout windows in
	// a row.
	ErrTooSlow = errors.New("bundle server too slow")
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

// ParseMaintenanceWindow reads the configuration form "HH:MM-HH:MM" or "HH:MM-HH:MM
// Zone/Name" (an IANA time zone; UTC if absent), e.g. "02:00-04:00 Europe/Berlin". An end
// before the start wraps past midnight. The empty string is no window (nil).
func ParseMaintenanceWindow(s string) (*MaintenanceWindow, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	span, zone, _ := strings.Cut(s, " ")
	from, to, ok := strings.Cut(span, "-")
	if !ok {
		return nil, fmt.Errorf("maintenance window %q: want HH:MM-HH:MM [Zone/Name]", s)
	}
	var w MaintenanceWindow
	for i, part := range []string{from, to} {
		t, err := time.Parse("15:04", part)
		if err != nil {
			return nil, fmt.Errorf("maintenance window %q: bad time %q", s, part)
		}
		off := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
		if i == 0 {
			w.Start = off
		} else {
			w.End = off
		}
	}
	if w.Start == w.End {
		return nil, fmt.Errorf("maintenance window %q: empty (start equals end)", s)
	}
	if zone = strings.TrimSpace(zone); zone != "" {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			return nil, fmt.Errorf("maintenance window %q: time zone: %w", s, err)
		}
		w.Location = loc
	}
	return &w, nil
}
