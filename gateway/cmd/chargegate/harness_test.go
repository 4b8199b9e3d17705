package main

import (
	"path/filepath"
	"time"

	"testing"

	"github.com/chargegate/chargegate/gateway/rig"
)

// The end-to-end tests run the real programs (package rig): metersim over Modbus TCP,
// ledgernode, a Mosquitto broker from Debian, and chargegate itself, each on free loopback
// ports.

// testConfig renders the configuration of these tests on the stack s: polls every 200 ms,
// idle readings every second; extra YAML (a sessions section, say) is appended.
func testConfig(s *rig.Stack, dataDir, extra string) string {
	return s.Config(dataDir, rig.Config{Idle: time.Second, Extra: extra})
}

// startGateway writes config as dir/config.yaml and runs the daemon on it; its data lives in
// dir/data (what testConfig was given).
func startGateway(t *testing.T, dir, config string) *rig.Gateway {
	t.Helper()
	return rig.StartGateway(t, filepath.Join(dir, "data"), rig.WriteConfig(t, dir, config))
}
