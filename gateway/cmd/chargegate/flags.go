package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
)

// The command-line convention (README "Command-line convention"): long flags shown with two
// dashes, the same names for the same things in every program, hidden aliases for old spellings,
// --help exits 0 and a wrong command line exits 2.

// flagSet is a subcommand's flags with its synopsis and the names hidden from --help.
type flagSet struct {
	*flag.FlagSet
	synopsis string
	hidden   []string
	stderr   io.Writer
}

// newFlagSet returns the flags of "chargegate <synopsis>".
func newFlagSet(name, synopsis string, stderr io.Writer) *flagSet {
	f := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), synopsis: synopsis, stderr: stderr}
	f.SetOutput(stderr)
	f.Usage = f.usage
	return f
}

// alias registers old as a hidden second name of the flag called name.
func (f *flagSet) alias(old, name string) {
	fl := f.Lookup(name)
	f.Var(fl.Value, old, "")
	f.hidden = append(f.hidden, old)
}

// logLevel adds --log-level (and -v, hidden, for debug) and returns a function giving the level.
func (f *flagSet) logLevel(def string) func() (slog.Level, error) {
	level := f.String("log-level", def, "log `LEVEL`: debug, info, warn or error")
	verbose := f.Bool("v", false, "")
	f.hidden = append(f.hidden, "v")
	return func() (slog.Level, error) {
		if *verbose {
			return slog.LevelDebug, nil
		}
		var l slog.Level
		if err := l.UnmarshalText([]byte(*level)); err != nil {
			return 0, fmt.Errorf("--log-level: %w", err)
		}
		return l, nil
	}
}

// parse parses args and says how to exit when the command line ends the command: 0 after
// --help, 2 for a wrong command line; ok is false then. Positional arguments are refused
// unless maxArgs allows them.
func (f *flagSet) parse(args []string, maxArgs int) (code int, ok bool) {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if f.NArg() > maxArgs {
		fmt.Fprintf(f.stderr, "chargegate %s: unexpected argument %q\n", f.Name(), f.Arg(maxArgs))
		return 2, false
	}
	return 0, true
}

// usage prints the synopsis and the visible flags, GNU-style.
func (f *flagSet) usage() {
	fmt.Fprintf(f.stderr, "usage: chargegate %s\n", f.synopsis)
	f.VisitAll(func(fl *flag.Flag) {
		if slices.Contains(f.hidden, fl.Name) {
			return
		}
		arg, text := flag.UnquoteUsage(fl)
		if arg != "" {
			arg = " " + arg
		}
		fmt.Fprintf(f.stderr, "  --%s%s\n    \t%s", fl.Name, arg, text)
		if fl.DefValue != "" && fl.DefValue != "0" && fl.DefValue != "0s" && fl.DefValue != "false" {
			fmt.Fprintf(f.stderr, " (default %s)", fl.DefValue)
		}
		fmt.Fprintln(f.stderr)
	})
}
