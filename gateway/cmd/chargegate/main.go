// Command chargegate is the charger-side gateway daemon and its command-line tools.
//
// Usage:
//
//	chargegate run -config FILE          run the gateway daemon
//	chargegate meter read --url URL ...  read an energy meter
//	chargegate hal check [--config FILE] check relay and input wiring
//	chargegate keys show --data DIR      print the device ID and public keys
//	chargegate verify --data DIR         verify the stored chain
//	chargegate ocmf verify --key KEY REC verify an OCMF record
//	chargegate proof --data DIR --seq N  write a self-contained proof of one entry
//	chargegate verify-proof --node URL F verify a proof against a ledger node (or --offline)
//	chargegate witness serve|vkey ...    run a checkpoint witness
//	chargegate demo [-duration D]        run the embedded default (simulator, node, gateway)
//	chargegate version                   print the version
//
// Each subcommand lives in a file of its own; main only dispatches.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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
		"ocmf":         cmdOCMF,
		"proof":        cmdProof,
		"verify-proof": cmdVerifyProof,
		"witness":      cmdWitness,
		"demo":         cmdDemo,
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
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "chargegate: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: chargegate run|demo|meter|hal|keys|verify|ocmf|proof|verify-proof|witness|version [flags]")
}
