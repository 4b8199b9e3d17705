package ota

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
)

// stateFile is the name of the persisted state inside Config.StateDir.
const stateFile = "state.json"

// floorFile is the default name of the floor's second copy inside Config.StateDir.
const floorFile = "security-floor"

// floorMagic starts the floor file (see the package doc).
const floorMagic = "chargegate-security-floor/1 "

// record is the persisted state: written atomically (durable.WriteFile) before every side
// effect, so that after a power cut the agent knows what may have happened (see resume).
type record struct {
	State State  `json:"state"`
	Floor uint64 `json:"security_floor"` // raised only when an update commits
	Error string `json:"error,omitempty"`

	URL        string `json:"url,omitempty"`
	Manifest   []byte `json:"manifest,omitempty"`   // raw manifest.json, re-verified on load
	Signatures []byte `json:"signatures,omitempty"` // raw manifest.sig
	From       string `json:"from,omitempty"`       // slot running when the update started
	To         string `json:"to,omitempty"`         // slot being written

	// Download cursor. Total and ETag pin the bundle; a different size or ETag on resume
	// is ErrBundleChanged.
	Total   int64     `json:"total,omitempty"`
	ETag    string    `json:"etag,omitempty"`
	Payload int       `json:"payload"`            // index of the payload being written
	InEntry bool      `json:"in_entry,omitempty"` // Offset is inside the payload's data
	Data    int64     `json:"data,omitempty"`     // bundle offset of the payload's first byte
	Chunk   int64     `json:"chunk"`              // next chunk to write
	Offset  int64     `json:"offset"`             // bundle offset to fetch next
	Written int64     `json:"written"`            // payload bytes written so far (progress)
	Trials  int       `json:"trials,omitempty"`   // trial boots requested
	Updated time.Time `json:"updated"`
}

func (a *Agent) statePath() string { return filepath.Join(a.cfg.StateDir, stateFile) }

// load reads the persisted state; a missing file is a fresh, idle agent.
func (a *Agent) load() (record, error) {
	b, err := durable.ReadFile(a.fs, a.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return record{State: StateIdle}, nil
	}
	if err != nil {
		return record{}, fmt.Errorf("read update state: %w", err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, fmt.Errorf("%w: %v", ErrStateCorrupt, err)
	}
	switch r.State {
	case StateIdle, StateDownloading, StateDownloaded, StateWaiting, StateInstalling, StateInstalled,
		StateTrial, StateCommitted, StateRolledBack, StateFailed:
	case "":
		return record{}, fmt.Errorf("%w: no state", ErrStateCorrupt)
	default:
		return record{}, fmt.Errorf("%w: unknown state %q", ErrStateCorrupt, r.State)
	}
	return r, nil
}

// floorMin is the floor known from outside state.json.
func (a *Agent) floorMin() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.floor
}

// readFloor reads the floor file; a missing or damaged one counts as 0 (state.json and
// Config.SecurityFloor still hold the floor) and is logged.
func (a *Agent) readFloor() uint64 {
	b, err := durable.ReadFile(a.fs, a.cfg.FloorPath)
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err == nil {
		var n uint64
		if n, err = parseFloor(b); err == nil {
			return n
		}
	}
	a.log.Warn("security floor file unusable", "path", a.cfg.FloorPath, "err", err)
	return 0
}

// parseFloor reads "chargegate-security-floor/1 N\n".
func parseFloor(b []byte) (uint64, error) {
	s, ok := strings.CutPrefix(string(b), floorMagic)
	s, ok2 := strings.CutSuffix(s, "\n")
	if !ok || !ok2 {
		return 0, errors.New("parse security floor: bad format")
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("parse security floor: bad number %q", s)
	}
	return n, nil
}

// formatFloor is the floor file's content for floor n.
func formatFloor(n uint64) []byte {
	return []byte(floorMagic + strconv.FormatUint(n, 10) + "\n")
}

// raiseFloor makes the floor file hold at least n, durably. It never lowers it.
func (a *Agent) raiseFloor(n uint64) error {
	if cur := a.readFloor(); cur >= n {
		a.mu.Lock()
		a.floor = max(a.floor, cur)
		a.mu.Unlock()
		return nil
	}
	if err := a.fs.MkdirAll(filepath.Dir(a.cfg.FloorPath), 0o700); err != nil {
		return fmt.Errorf("create security floor directory: %w", err)
	}
	if err := durable.WriteFile(a.fs, a.cfg.FloorPath, formatFloor(n), 0o600); err != nil {
		return fmt.Errorf("save security floor: %w", err)
	}
	a.mu.Lock()
	a.floor = max(a.floor, n)
	a.mu.Unlock()
	return nil
}

// save persists r and makes it current.
func (a *Agent) save(r record) error {
	r.Updated = a.cfg.Now().UTC()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode update state: %w", err)
	}
	if err := durable.WriteFile(a.fs, a.statePath(), b, 0o600); err != nil {
		return fmt.Errorf("save update state: %w", err)
	}
	a.mu.Lock()
	a.rec = r
	a.mu.Unlock()
	return nil
}

// manifest re-verifies the manifest stored in r: the state file is outside bytes too.
func (a *Agent) manifest(r record) (bundle.Manifest, error) {
	m, _, err := bundle.VerifyManifest(r.Manifest, r.Signatures, a.cfg.TrustedKeys)
	if err != nil {
		return bundle.Manifest{}, fmt.Errorf("stored manifest: %w", err)
	}
	return m, nil
}
