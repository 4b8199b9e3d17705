package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/chargegate/chargegate/gateway/config"
	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/periph"
	"github.com/chargegate/chargegate/hal/sim"
)

// cmdHal runs "chargegate hal check [--config FILE] [--backend periph|sim]":
// the installer's wiring check. It prints one PASS/FAIL line per pin and
// exits 0 when all pass, 1 when a pin fails, 2 on usage or setup errors.
// With the sim backend, --sim-fault shows what a failing board reports.
func cmdHal(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: chargegate hal check [--config FILE] [--backend periph|sim] [--cycles N] [--sim-fault estop|rcd|weld|stuck]")
		return 2
	}
	fs := newFlagSet("hal check", "hal check [--config FILE] [--backend periph|sim] [--cycles N] [--sim-fault estop|rcd|weld|stuck]", stderr)
	configPath := fs.String("config", "", "gateway configuration file (YAML); only its hal: section is read")
	backend := fs.String("backend", "periph", "pin backend: periph (real GPIO) or sim (simulated board)")
	cycles := fs.Int("cycles", 3, "relay close/open cycles")
	level := fs.logLevel("warn")
	simFault := fs.String("sim-fault", "", "with --backend sim: start with a fault (estop, rcd, weld, stuck)")
	if code, ok := fs.parse(args[1:], 0); !ok {
		return code
	}
	lvl, err := level()
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: hal check:", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	var cfg hal.Config
	switch {
	case *configPath != "":
		c, err := readHalConfig(*configPath)
		if err != nil {
			fmt.Fprintf(stderr, "chargegate: hal check: %v\n", err)
			return 2
		}
		cfg = c
	case *backend == "sim":
		cfg = sim.DefaultConfig()
	default:
		fmt.Fprintln(stderr, "chargegate: hal check: --config is required with the periph backend")
		return 2
	}

	if *simFault != "" && *backend != "sim" {
		fmt.Fprintln(stderr, "chargegate: hal check: --sim-fault needs --backend sim")
		return 2
	}
	var pins hal.Pins
	switch *backend {
	case "periph":
		h, err := periph.Open()
		if err != nil {
			fmt.Fprintf(stderr, "chargegate: hal check: %v\n", err)
			return 2
		}
		pins = h
	case "sim":
		sb := sim.New(sim.Options{})
		defer sb.Close()
		if err := injectSimFault(sb, *simFault); err != nil {
			fmt.Fprintf(stderr, "chargegate: hal check: %v\n", err)
			return 2
		}
		pins = sb
	default:
		fmt.Fprintf(stderr, "chargegate: hal check: unknown backend %q (periph or sim)\n", *backend)
		return 2
	}

	board, err := hal.Open(cfg, pins, logger)
	if err != nil {
		fmt.Fprintf(stderr, "chargegate: hal check: %v\n", err)
		return 2
	}
	defer func() { _ = board.Halt() }()
	fmt.Fprintf(stdout, "chargegate hal check: backend %s\n", *backend)
	rep, err := hal.Check(ctx, board, hal.CheckOptions{Cycles: *cycles})
	if err != nil {
		fmt.Fprintf(stderr, "chargegate: hal check: %v\n", err)
		return 2
	}
	if _, err := rep.WriteTo(stdout); err != nil {
		return 2
	}
	if !rep.Pass() {
		return 1
	}
	return 0
}

// readHalConfig reads the gateway's configuration file with the same loader and validation as
// chargegate run, so a file hal check passes is one run accepts, and returns its pins.
func readHalConfig(path string) (hal.Config, error) {
	c, err := config.Load(path)
	if err != nil {
		return hal.Config{}, err
	}
	if len(c.EVSEs) > 0 && c.HAL.Backend != "sim" {
		return c.EVSEBoard(0), nil // EVSE 1's contactor with the box's inputs
	}
	if c.HAL.Backend == "sim" && c.HAL.Relay.Name == "" {
		def := sim.DefaultConfig()
		def.FeedbackTimeout, def.Debounce = c.HAL.FeedbackTimeout, c.HAL.Debounce
		return def, nil
	}
	return c.HAL.Config, nil
}

// injectSimFault prepares a simulated board with one of the faults the
// check must find.
func injectSimFault(sb *sim.Board, fault string) error {
	switch fault {
	case "":
	case "estop":
		sb.PressEStop(true)
	case "rcd":
		sb.TripRCD(true)
	case "stuck":
		sb.StickOpen(true)
	case "weld":
		sb.OnContacts(func(closed bool) {
			if closed {
				sb.Weld(true)
			}
		})
	default:
		return fmt.Errorf("unknown --sim-fault %q (estop, rcd, weld, stuck)", fault)
	}
	return nil
}
