package ota_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/slot"
)

// controlLoop stands for the gateway's control loop: it refuses new sessions while the
// agent holds it, and refuses the hold while a session runs, in one atomic step.
type controlLoop struct {
	mu      sync.Mutex
	session bool
	held    bool
}

func (c *controlLoop) Hold(context.Context) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session {
		return nil, ota.ErrCharging
	}
	c.held = true
	return func() { c.mu.Lock(); c.held = false; c.mu.Unlock() }, nil
}

// The gateway's wiring, here with app-only slots in a temporary directory.
func Example() {
	root, _ := os.MkdirTemp("", "ota-example")
	defer os.RemoveAll(root)
	slots := &slot.Dirs{FS: durable.OS{}, Root: filepath.Join(root, "slots")}
	os.MkdirAll(slots.Root, 0o755)
	slots.Launch() // done by images/chargegate-launch before the service starts

	// In real use: bundle.ReadTrustedKeys("/etc/chargegate/trusted-keys/release.pub").
	releaseKey := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)

	agent, err := ota.New(ota.Config{
		StateDir:       filepath.Join(root, "ota"),
		Slots:          slots,
		TrustedKeys:    map[string]ed25519.PublicKey{bundle.KeyID(releaseKey): releaseKey},
		Hardware:       "rpi4",
		Version:        "1.0.0",
		HealthCheck:    func(context.Context) error { return nil },
		HealthDeadline: time.Minute,
		FloorPath:      filepath.Join(root, "security-floor"), // elsewhere on the data partition
		SecurityFloor:  0,                                     // the highest update_committed in the chain
		OnCommit: func(version string, securityVersion uint64) {
			// the gateway appends an update_committed event to its signed chain
		},
	}, &controlLoop{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	go agent.Run(ctx) // the gateway waits for it in its errgroup
	defer cancel()
	s := agent.Status()
	fmt.Println(s.State, s.Version, agent.Activating())
	// Output: idle 1.0.0 false
}
