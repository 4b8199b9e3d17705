// Command ledgernode runs a small IOTA Stardust-compatible node (package ledger/node): the core
// REST API v2 subset chargegate and its verifiers use, its own signed milestones, persistence in
// SQLite, and fault injection for tests.
//
// Usage:
//
//	ledgernode --listen 127.0.0.1:0 --data DIR [--min-pow-score 1500] [--milestone-interval 2s]
//	           [--error-rate R] [--lost-response-rate R] [--orphan-rate R] [--latency D]
//	           [--outage START+DURATION]... [--peerless-health] [--seed N] [--log-level info]
//
// Once it listens it prints exactly one JSON line to stdout, {"api":"http://HOST:PORT"}, and logs
// to stderr. SIGINT or SIGTERM stop it cleanly. DIR/coordinator-keys.json holds the public keys
// that sign its milestones (for chargegate verify-proof --offline --coordinator-keys); the PoI
// routes (/api/poi/v1/...) serve milestone inclusion proofs as the inx-poi plugin does.
//
// Flags follow the project's command-line convention (README): --seed 1 is the default and
// makes fault injection repeatable, --seed 0 draws a random seed and logs it; -v is a hidden
// alias for --log-level debug.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/chargegate/chargegate/ledger/node"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// outages collects repeated --outage START+DURATION flags.
type outages []node.Outage

func (o *outages) String() string {
	if len(*o) == 0 {
		return ""
	}
	return fmt.Sprint(*o)
}

func (o *outages) Set(s string) error {
	start, dur, ok := strings.Cut(s, "+")
	if !ok {
		return errors.New("want START+DURATION, e.g. 10s+5s")
	}
	a, err := time.ParseDuration(start)
	if err != nil {
		return fmt.Errorf("outage start: %w", err)
	}
	b, err := time.ParseDuration(dur)
	if err != nil {
		return fmt.Errorf("outage duration: %w", err)
	}
	*o = append(*o, node.Outage{Start: a, Duration: b})
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ledgernode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:14265", "`ADDR` to listen on (port 0 picks a free port)")
	dir := fs.String("data", "", "`DIR` for the node's database (required)")
	minPoW := fs.Uint("min-pow-score", node.DefaultMinPoWScore, "minimum PoW `SCORE`; 0 disables PoW")
	interval := fs.Duration("milestone-interval", 2*time.Second, "time `D` between milestones")
	errRate := fs.Float64("error-rate", 0, "fraction `R` of requests answered 500")
	lostRate := fs.Float64("lost-response-rate", 0, "fraction `R` of submissions stored but answered 500")
	orphanRate := fs.Float64("orphan-rate", 0, "fraction `R` of blocks left out of tips and milestones")
	latency := fs.Duration("latency", 0, "latency `D` added to every request")
	peerless := fs.Bool("peerless-health", false, "answer /health with 503 like a node without peers")
	seed := fs.Uint64("seed", 1, "`N` seeds fault injection; 0 draws a random seed and logs it")
	level := fs.String("log-level", "info", "log `LEVEL`: debug, info, warn or error")
	verbose := fs.Bool("v", false, "") // hidden: --log-level debug, as in the other programs
	var outs outages
	fs.Var(&outs, "outage", "`START+DURATION` after start during which connections are dropped (repeatable)")
	fs.Usage = func() { usage(fs, stderr, "ledgernode --data DIR [flags]", "v") }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *dir == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "ledgernode: --data DIR is required; no positional arguments")
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(stderr, "ledgernode: --log-level:", err)
		return 2
	}
	if *verbose {
		lvl = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	if *seed == 0 {
		*seed = rand.Uint64() | 1 // never 0, which the node would read as "pick one" without saying which
		log.Info("random seed", "seed", *seed)
	}
	n, err := node.New(node.Config{
		Dir:               *dir,
		MinPoWScore:       uint32(*minPoW),
		NoPoW:             *minPoW == 0,
		MilestoneInterval: *interval,
		PeerlessHealth:    *peerless,
		Faults: node.Faults{
			ErrorRate: *errRate, LostResponseRate: *lostRate, OrphanRate: *orphanRate,
			Latency: *latency, Outages: outs, Seed: *seed,
		},
		Logger: log,
	})
	if err != nil {
		fmt.Fprintln(stderr, "ledgernode:", err)
		return 1
	}
	defer n.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "ledgernode: listen:", err)
		return 1
	}
	srv := &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	line, _ := json.Marshal(map[string]string{"api": "http://" + ln.Addr().String()})
	fmt.Fprintln(stdout, string(line))
	log.Info("listening", "api", "http://"+ln.Addr().String())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msDone := make(chan error, 1)
	go func() { msDone <- n.Run(ctx) }()
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(ln) }()

	code := 0
	select {
	case <-ctx.Done():
	case err := <-srvDone:
		log.Error("serve", "err", err)
		code = 1
	}
	cancel()
	shutCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Error("shutdown", "err", err)
	}
	<-msDone
	if err := n.Close(); err != nil {
		log.Error("close", "err", err)
		code = 1
	}
	log.Info("stopped")
	return code
}

// usage prints the flags GNU-style (--name), leaving out the hidden old spellings.
func usage(fs *flag.FlagSet, w io.Writer, synopsis string, hidden ...string) {
	fmt.Fprintf(w, "usage: %s\n", synopsis)
	fs.VisitAll(func(f *flag.Flag) {
		if slices.Contains(hidden, f.Name) {
			return
		}
		arg, text := flag.UnquoteUsage(f)
		dashes := "--"
		if len(f.Name) == 1 {
			dashes = "-"
		}
		if arg != "" {
			arg = " " + arg
		}
		fmt.Fprintf(w, "  %s%s%s\n    \t%s", dashes, f.Name, arg, text)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "false" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}
