package ota

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
)

// stateFile is the name of the persisted state inside Config.StateDir.
const stateFile = "state.json"

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
	if r.State == "" {
		return record{}, fmt.Errorf("%w: no state", ErrStateCorrupt)
	}
	return r, nil
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
