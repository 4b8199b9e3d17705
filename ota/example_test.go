package ota_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/bundle"
	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/slot"
)

// noSession stands for the gateway, which knows whether a car is charging.
type noSession struct{}

func (noSession) ChargingActive() bool { return false }

// The gateway's wiring, here with app-only slots in a temporary directory.
func Example() {
	root, _ := os.MkdirTemp("", "ota-example")
	defer os.RemoveAll(root)
	slots := &slot.Dirs{FS: durable.OS{}, Root: filepath.Join(root, "slots")}
	os.MkdirAll(slots.Root, 0o755)
	slots.Launch() // done by images/chargegate-launch before the service starts

	// In real use: bundle.ReadTrustedKeys("/etc/chargegate/trusted-keys/release.pub").
	releaseKey := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)

	agent, err := ota.NewAgent(ota.Config{
		StateDir:       filepath.Join(root, "ota"),
		Slots:          slots,
		TrustedKeys:    map[string]ed25519.PublicKey{bundle.KeyID(releaseKey): releaseKey},
		Hardware:       "rpi4",
		Version:        "1.0.0",
		HealthCheck:    func(context.Context) error { return nil },
		HealthDeadline: time.Minute,
	}, noSession{})
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
