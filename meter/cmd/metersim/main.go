// Command metersim simulates Modbus energy meters: any model of package meter, over Modbus
// TCP, RTU over TCP or RTU on a serial device, with load physics, an HTTP control interface
// and injectable faults. See package meter/sim for the control API and fault syntax.
//
// Usage:
//
//	metersim --model NAME --listen URL [--unit N] [--serial S] [--meters N] [--control ADDR]
//	         [--speed X] [--seed N] [--reply-delay D] [--fault SPEC]... [--log-level LEVEL]
//
// Flags follow the project's command-line convention (README): --seed 1 is the default and
// makes runs repeatable, --seed 0 draws a random seed and logs it; --log-level is debug, info,
// warn or error (-v is a hidden alias for --log-level debug).
//
// Once everything listens it prints one JSON line to stdout, e.g.
//
//	{"modbus":"tcp://127.0.0.1:40123","control":"http://127.0.0.1:40124","buses":["tcp://127.0.0.1:40123"]}
//
// Logs go to stderr. SIGINT and SIGTERM stop it cleanly.
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
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/chargegate/chargegate/meter/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type faultFlags []sim.Fault

func (f *faultFlags) String() string { return fmt.Sprint(len(*f)) }
func (f *faultFlags) Set(s string) error {
	ft, err := sim.ParseFault(s)
	if err != nil {
		return err
	}
	*f = append(*f, ft)
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("metersim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "sdm630", "meter model `NAME`: "+strings.Join(sim.ModelNames(), ", "))
	listen := fs.String("listen", "tcp://127.0.0.1:0", "`URL` to serve: tcp://HOST:PORT, rtuovertcp://HOST:PORT or rtu:///dev/ttyX?baud=9600&parity=none&stop=1")
	unit := fs.Uint("unit", 1, "unit `ID` of the first meter")
	serial := fs.String("serial", "", "serial number `S` of the first meter (numeric serials count up)")
	meters := fs.Int("meters", 1, "`N` meters; more than 247 open further TCP ports")
	control := fs.String("control", "", "HTTP control `ADDR` on loopback, e.g. 127.0.0.1:0 (empty: none)")
	speed := fs.Float64("speed", 1, "simulated time runs `X` times faster than the wall clock")
	seed := fs.Uint64("seed", 1, "`N` seeds noise and random faults; 0 draws a random seed and logs it")
	level := fs.String("log-level", "info", "log `LEVEL`: debug (every fault and connection), info, warn or error")
	verbose := fs.Bool("v", false, "") // hidden: the old spelling of --log-level debug
	replyDelay := fs.Duration("reply-delay", 0, "meter turnaround `D` before every reply (e.g. 40ms for Carlo Gavazzi)")
	var faults faultFlags
	fs.Var(&faults, "fault", "inject a fault `SPEC`: KIND[,unit=N][,bus=N][,code=N][,delay=D][,after=D][,for=D][,count=N][,prob=P][,amount=WH][,drop=true] (repeatable; kinds and lie modes: see package meter/sim)")
	fs.Usage = func() { usage(fs, stderr, "metersim [flags]", "v") }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(stderr, "metersim: no positional arguments")
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(stderr, "metersim: --log-level:", err)
		return 2
	}
	if *verbose {
		lvl = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	if *seed == 0 {
		*seed = rand.Uint64() | 1 // never 0, which the library would read as 1
		log.Info("random seed", "seed", *seed)
	}
	if *unit < 1 || *unit > 247 {
		fmt.Fprintln(stderr, "metersim: --unit must be 1..247")
		return 2
	}
	if *speed <= 0 {
		fmt.Fprintln(stderr, "metersim: --speed must be positive")
		return 2
	}
	s, err := sim.New(sim.Options{
		Model: *model, Unit: uint8(*unit), Meters: *meters, Serial: *serial,
		Clock: sim.ScaledClock(*speed), Seed: *seed, Logger: log, ReplyDelay: *replyDelay,
	})
	if err != nil {
		fmt.Fprintln(stderr, "metersim:", err)
		return 2
	}
	for _, f := range faults {
		if _, err := s.AddFault(f); err != nil {
			fmt.Fprintln(stderr, "metersim:", err)
			return 2
		}
	}
	if err := serve(ctx, s, *listen, *control, stdout, log); err != nil {
		fmt.Fprintln(stderr, "metersim:", err)
		return 1
	}
	return 0
}

// serve opens every listener, prints the JSON line, and serves until ctx ends.
func serve(ctx context.Context, s *sim.Sim, listen, control string, stdout io.Writer, log *slog.Logger) (err error) {
	u, err := url.Parse(listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	if control != "" {
		host, _, err := net.SplitHostPort(control)
		if err != nil {
			return fmt.Errorf("--control: %w", err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("--control %s: must be a loopback address (the interface has no authentication)", control)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	started := false
	defer func() {
		if !started { // a set-up step failed: stop what already runs
			cancel()
			_ = g.Wait()
		}
	}()
	var urls []string
	switch u.Scheme {
	case "tcp", "rtuovertcp":
		host, portStr, err := net.SplitHostPort(u.Host)
		if err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return fmt.Errorf("--listen port: %w", err)
		}
		for i, b := range s.Buses() {
			p := 0
			if port != 0 {
				p = port + i
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
			if err != nil {
				return fmt.Errorf("listen for bus %d: %w", i, err)
			}
			urls = append(urls, u.Scheme+"://"+ln.Addr().String())
			g.Go(func() error {
				if u.Scheme == "tcp" {
					return b.ServeTCP(ctx, ln)
				}
				return b.ServeRTUOverTCP(ctx, ln)
			})
		}
	case "rtu":
		if len(s.Buses()) > 1 {
			return errors.New("--listen rtu: one serial line carries at most 247 meters")
		}
		q := u.Query()
		sc := sim.SerialConfig{Path: u.Path, Parity: q.Get("parity")}
		if v := q.Get("baud"); v != "" {
			if sc.Baud, err = strconv.Atoi(v); err != nil {
				return fmt.Errorf("--listen baud: %w", err)
			}
		}
		if v := q.Get("stop"); v != "" {
			if sc.Stop, err = strconv.Atoi(v); err != nil {
				return fmt.Errorf("--listen stop: %w", err)
			}
		}
		b := s.Buses()[0]
		// Open before printing the line, so a reader of the line finds the device served.
		ready := make(chan error, 1)
		g.Go(func() error { return b.ServeSerialReady(ctx, sc, ready) })
		if err := <-ready; err != nil {
			return err
		}
		urls = append(urls, listen)
	default:
		return fmt.Errorf("--listen: scheme %q is not tcp, rtuovertcp or rtu", u.Scheme)
	}
	line := map[string]any{"modbus": urls[0], "buses": urls}
	if control != "" {
		ln, err := net.Listen("tcp", control)
		if err != nil {
			return fmt.Errorf("--control: %w", err)
		}
		srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
		line["control"] = "http://" + ln.Addr().String()
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
		return err
	}
	started = true
	log.Info("metersim ready", "modbus", urls[0], "buses", len(urls), "control", line["control"])
	err = g.Wait()
	log.Info("metersim stopped", "requests", s.Requests())
	return err
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
