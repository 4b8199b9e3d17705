package ota_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/slot"
)

// The gateway's wiring, here with app-only slots in a temporary directory.
func Example() {
	root, _ := os.MkdirTemp("", "ota-example")
	defer os.RemoveAll(root)
	slots := &slot.Dirs{FS: durable.OS{}, Root: filepath.Join(root, "slots")}
	os.MkdirAll(slots.Root, 0o755)
	slots.Launch() // done by images/chargegate-launch before the service starts

	agent, err := ota.NewAgent(ota.Config{
		StateDir:       filepath.Join(root, "ota"),
		Slots:          slots,
		TrustedKeys:    trusted(testKey("release")), // bundle.ReadTrustedKeys in real use
		Hardware:       "rpi4",
		Version:        "1.0.0",
		HealthCheck:    func(context.Context) error { return nil },
		HealthDeadline: time.Minute,
	}, &charging{})
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
