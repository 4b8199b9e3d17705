package chaos_test

import (
	"os"
	"time"

	"github.com/chargegate/chargegate/gateway/rig"
)

// The chaos tests run the real programs — metersim over Modbus TCP, ledgernode, Mosquitto from
// Debian and `chargegate run` — each on free loopback ports (package rig), and break things
// between them.

// full reports whether the long versions run (CHARGEGATE_CHAOS=full).
func full() bool { return os.Getenv("CHARGEGATE_CHAOS") == "full" }

// pick returns the short or the full value of a scenario parameter.
func pick[T any](short, long T) T {
	if full() {
		return long
	}
	return short
}

// gwOpts are what a chaos scenario chooses of its gateway's configuration.
type gwOpts struct {
	poll      time.Duration // meter poll and record interval while charging (default and minimum 100 ms)
	idle      time.Duration // record interval when idle (default: poll)
	autostart bool          // free sessions that start by themselves
	batchAge  time.Duration // default 500 ms
	batchSize int           // default 10,000
	maxPowerW int64         // meter.max_power_w (default chaosMaxPowerW)
	quotaKB   int64         // ledger.disk_quota_kb (0: none)
	extra     string        // more lines of the sessions section, indented two spaces
}

// Plausibility settings of every chaos gateway: a counter reset is confirmed after 10 s (not
// the default 60 s; package meter accepts no less), and the counter may rise as fast as 1 MW draws, so that the simulator's
// high-power profile (450 kW) is plausible while a 1,000 kWh jump is not.
const (
	chaosResetConfirm = 10 * time.Second
	chaosMaxPowerW    = 1_000_000
)

// chaosConfig renders the gateway configuration of a chaos scenario on the stack s.
func chaosConfig(s *rig.Stack, dataDir string, o gwOpts) string {
	if o.poll == 0 {
		o.poll = 100 * time.Millisecond
	}
	if o.batchAge == 0 {
		o.batchAge = 500 * time.Millisecond
	}
	if o.batchSize == 0 {
		o.batchSize = 10000
	}
	if o.maxPowerW == 0 {
		o.maxPowerW = chaosMaxPowerW
	}
	sessions := "  mode: authorized\n"
	if o.autostart {
		sessions = "  mode: free\n  autostart: true\n"
	}
	return s.Config(dataDir, rig.Config{EVSEID: "DE*CGT*ECHAOS*1", Poll: o.poll, Idle: o.idle, BatchAge: o.batchAge,
		BatchSize: o.batchSize, DiskQuotaKB: o.quotaKB, InFlight: 64, LogLevel: "info", MaxPowerW: o.maxPowerW, ResetConfirm: chaosResetConfirm,
		Sessions: sessions + o.extra})
}
