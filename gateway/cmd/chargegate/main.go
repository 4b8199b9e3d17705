// Command chargegate is the charger-side gateway daemon and its command-line tools.
//
// Usage:
//
//	chargegate run [--config FILE]              run the gateway daemon
//	chargegate demo [--duration D]              run the embedded default (simulator, node, gateway)
//	chargegate meter read --url URL ...         read an energy meter
//	chargegate hal check [--config FILE]        check relay and input wiring
//	chargegate keys show --data DIR             print the device ID and public keys
//	chargegate verify --data DIR                verify the stored chain, report quarantined files
//	chargegate quarantine list|export --data DIR  read damaged databases moved aside
//	chargegate ocmf verify --key KEY RECORD     verify an OCMF record
//	chargegate proof --data DIR --seq N         write a self-contained proof of one entry
//	chargegate verify-proof --node URL FILE     verify a proof against a ledger node (or --offline)
//	chargegate witness serve|vkey ...           run a checkpoint witness
//	chargegate token keygen|issue|verify ...    issue and check signed capability tokens
//	chargegate receipt build|verify ...          signed session receipts (W3C VC, OCPI CDR)
//	chargegate version                          print the version
//
// Flags follow the README's command-line convention; every subcommand takes --help. Each
// subcommand lives in a file of its own; main only dispatches.
package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	_ "time/tzdata" // maintenance windows name IANA zones; the box may have no zoneinfo
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

// command runs one subcommand with its arguments and returns the process exit code.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) int

func commands() map[string]command {
	return map[string]command{
		"run":          cmdRun,
		"meter":        cmdMeter,
		"hal":          cmdHal,
		"keys":         cmdKeys,
		"verify":       cmdVerify,
		"quarantine":   cmdQuarantine,
		"ocmf":         cmdOCMF,
		"proof":        cmdProof,
		"receipt":      cmdReceipt,
		"verify-proof": cmdVerifyProof,
		"witness":      cmdWitness,
		"demo":         cmdDemo,
		"token":        cmdToken,
		"version": func(_ context.Context, _ []string, stdout, _ io.Writer) int {
			fmt.Fprintln(stdout, "chargegate", version)
			return 0
		},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		usage(stderr)
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "chargegate: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	names := slices.Sorted(maps.Keys(commands()))
	fmt.Fprintf(w, "usage: chargegate COMMAND [--flags]\ncommands: %s\n'chargegate COMMAND --help' lists a command's flags.\n", strings.Join(names, ", "))
}
