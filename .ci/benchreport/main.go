// Command benchreport runs chargegate's benchmarks (or reads `go test -bench` output on stdin)
// and prints one table — each figure, its number, the comparison measured in the same run, and
// the command that reproduces it — and writes it to var/bench/report.txt. It is `make bench`.
//
//	go run ./.ci/benchreport [-quick] [-out var/bench/report.txt]
//	go test -run '^$' -bench . ./meter/ | go run ./.ci/benchreport -in -
//
// -quick leaves out the 10^7-entry daemon run and shortens the CPU window to 10 s.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// run is one `go test -bench` invocation; its benchmarks run side by side, so their figures
// compare within the same run.
type run struct {
	pkg   string   // ./meter
	bench string   // -bench regexp
	args  []string // more go test flags
	env   []string // KEY=VALUE
}

func (r run) command() string {
	var b strings.Builder
	for _, e := range r.env {
		b.WriteString(e + " ")
	}
	fmt.Fprintf(&b, "go test -run '^$' -bench '%s'", r.bench)
	for _, a := range r.args {
		b.WriteString(" " + a)
	}
	b.WriteString(" " + r.pkg)
	return b.String()
}

// metrics holds the reported values: package import path suffix + benchmark name → unit → value.
type metrics map[string]map[string]float64

func (m metrics) get(pkg, name, unit string) (float64, bool) {
	v, ok := m[strings.TrimPrefix(pkg, "./")+" "+name][unit]
	return v, ok
}

// figure is one row of the report.
type figure struct {
	name string
	run  *run
	// row returns the number and the comparison; ok false when the benchmark did not report.
	row func(m metrics, pkg string) (number, compare string, ok bool)
}

func metric(name, unit string, format string) func(m metrics, pkg string) (string, bool) {
	return func(m metrics, pkg string) (string, bool) {
		v, ok := m.get(pkg, name, unit)
		if !ok {
			return "", false
		}
		return fmt.Sprintf(format, v), true
	}
}

// two formats two metrics of one benchmark into one cell.
func two(name, u1, u2, format string) func(m metrics, pkg string) (string, bool) {
	return func(m metrics, pkg string) (string, bool) {
		a, ok1 := m.get(pkg, name, u1)
		b, ok2 := m.get(pkg, name, u2)
		return fmt.Sprintf(format, a, b), ok1 && ok2
	}
}

// both joins a number and a comparison that must both be present.
func both(n, c func(metrics, string) (string, bool)) func(metrics, string) (string, string, bool) {
	return func(m metrics, pkg string) (string, string, bool) {
		a, ok1 := n(m, pkg)
		b, ok2 := c(m, pkg)
		return a, b, ok1 && ok2
	}
}

func figures(quick bool) []figure {
	meterTCP := &run{pkg: "./meter", bench: "^(BenchmarkPollSDM630TCP|BenchmarkPollVsLibmodbus|BenchmarkRTUPTY9600_40Regs)$"}
	store := &run{pkg: "./ledger/sqlite", bench: "^(BenchmarkDurableAppend|BenchmarkGroupCommit)$"}
	anchor := &run{pkg: "./ledger/stardust", bench: "^BenchmarkAnchorBacklog$", args: []string{"-benchtime", "1x", "-timeout", "60m"}}
	hal := &run{pkg: "./hal/sim", bench: "^BenchmarkEStopToCoilOff$"}
	e2e := &run{pkg: "./gateway/chaos", bench: "^(BenchmarkEndToEndReadings|BenchmarkVerifyChain)$", args: []string{"-benchtime", "1x"}}
	daemon := &run{pkg: "./gateway/chaos", bench: "^BenchmarkDaemon$", args: []string{"-benchtime", "1x", "-timeout", "60m"},
		env: []string{"CHARGEGATE_BENCH_HUGE=1"}}
	cpu := &run{pkg: "./gateway/chaos", bench: "^BenchmarkDaemonCPU$", args: []string{"-benchtime", "1x"}}
	size := &run{pkg: "./gateway/chaos", bench: "^BenchmarkBinarySize$", args: []string{"-benchtime", "1x"}}
	proofs := &run{pkg: "./ledger/anchor", bench: "^(BenchmarkVerifyOffline|BenchmarkChainOffline)$", args: []string{"-benchtime", "2s"}}
	nodeProof := &run{pkg: "./ledger/stardust", bench: "^BenchmarkProofFromNode$", args: []string{"-benchtime", "2s"}}
	if quick {
		daemon.env = nil
		cpu.env = []string{"CHARGEGATE_BENCH_CPU_SECONDS=10"}
	}
	rss := func(n string) func(metrics, string) (string, string, bool) {
		return both(metric("BenchmarkDaemon/entries="+n, "RSS_MiB", "%.1f MiB RSS"),
			metric("BenchmarkDaemon/entries=0", "RSS_MiB", "%.1f MiB with an empty store"))
	}
	return []figure{
		{"meter polls/s, Modbus TCP (SDM630, metersim)", meterTCP, both(metric("BenchmarkPollSDM630TCP", "polls/s", "%.0f polls/s"),
			func(m metrics, pkg string) (string, bool) {
				// Measured side by side (same moment, same load): the ratio is the figure.
				g, ok1 := m.get(pkg, "BenchmarkPollVsLibmodbus", "go-polls/s")
				c, ok2 := m.get(pkg, "BenchmarkPollVsLibmodbus", "libmodbus-polls/s")
				r, ok3 := m.get(pkg, "BenchmarkPollVsLibmodbus", "go/libmodbus")
				return fmt.Sprintf("side by side: %.0f vs libmodbus C client %.0f polls/s, ratio %.2f× (goal ≥ 1.0×)", g, c, r), ok1 && ok2 && ok3
			})},
		{"RTU poll period, 9600 Bd, 40 registers (pty)", meterTCP, both(metric("BenchmarkRTUPTY9600_40Regs", "ms/poll", "%.1f ms/poll"),
			two("BenchmarkRTUPTY9600_40Regs", "wire-ms", "period/wire", "wire-time limit %.1f ms (ratio %.2f)"))},
		{"durable appends/s (1 entry per commit, synchronous=FULL)", store, both(metric("BenchmarkDurableAppend", "store_appends/s", "%.0f entries/s"),
			two("BenchmarkDurableAppend", "raw_inserts/s", "ratio", "raw SQLite %.0f inserts/s (ratio %.2f)"))},
		{"group commit entries/s", store, both(metric("BenchmarkGroupCommit", "entries/s", "%.0f entries/s"),
			metric("BenchmarkDurableAppend", "store_appends/s", "%.0f entries/s one per commit"))},
		{"end-to-end recorded readings/s (poll → entry → signature → commit)", e2e, both(metric("BenchmarkEndToEndReadings", "readings/s", "%.0f readings/s"),
			two("BenchmarkEndToEndReadings", "polls/s", "appends/s", "meter alone %.0f polls/s, store alone %.0f appends/s"))},
		{"604,800 entries (a week at 1 Hz) anchored to the local node", anchor, func(m metrics, pkg string) (string, string, bool) {
			w, ok1 := m.get(pkg, "BenchmarkAnchorBacklog", "wall-s/op")
			bl, ok2 := m.get(pkg, "BenchmarkAnchorBacklog", "blocks/op")
			p, ok3 := m.get(pkg, "BenchmarkAnchorBacklog", "pow-s/op")
			return fmt.Sprintf("%.1f s wall, %.0f blocks, %.1f s PoW", w, bl, p), "goal ≤ 60 s on 2 cores", ok1 && ok2 && ok3
		}},
		{"chain verification rate (read + signature + link)", e2e, both(metric("BenchmarkVerifyChain", "verified/s", "%.0f entries/s"),
			two("BenchmarkVerifyChain", "raw_ed25519/s", "ratio", "raw Ed25519 on one core %.0f verifies/s (ratio %.2f)"))},
		{"daemon RSS, 10^3 entries stored", daemon, rss("1000")},
		{"daemon RSS, 10^5 entries stored", daemon, rss("100000")},
		{"daemon RSS, 10^7 entries stored", daemon, skippedIf(quick, rss("10000000"))},
		{"daemon CPU at a 1 s poll", cpu, both(metric("BenchmarkDaemonCPU", "cpu_%", "%.2f %% of one core"),
			two("BenchmarkDaemonCPU", "cpu_ms/reading", "metersim_cpu_%", "%.2f ms CPU per reading; metersim %.2f %%"))},
		{"binary size linux/amd64 (chargegate, -s -w)", size, both(metric("BenchmarkBinarySize", "amd64_MiB", "%.1f MiB"),
			metric("BenchmarkBinarySize", "arm64_MiB", "linux/arm64 %.1f MiB"))},
		{"binary size linux/arm64 (chargegate, -s -w)", size, both(metric("BenchmarkBinarySize", "arm64_MiB", "%.1f MiB"),
			metric("BenchmarkBinarySize", "amd64_MiB", "linux/amd64 %.1f MiB"))},
		{"process start → first recorded reading (1 s interval)", daemon, both(metric("BenchmarkDaemon/entries=0", "ms_to_first_reading", "%.0f ms"),
			metric("BenchmarkDaemon/entries=0", "ms_to_api", "local API up after %.0f ms"))},
		{"offline proof verification (/2: batch 10^4, 1000 blocks under the milestone, 3 keys)", proofs,
			both(two("BenchmarkVerifyOffline/batch=10000/blocks=1000/keys=3", "ms/proof", "proof_bytes", "%.2f ms/proof, %.0f B"),
				two("BenchmarkVerifyOffline/batch=10/blocks=2/keys=1", "ms/proof", "proof_bytes", "smallest: %.2f ms, %.0f B"))},
		{"/2 proof from ledgernode as chargegate proof writes it (batch 10^4, 2 keys)", nodeProof,
			both(metric("BenchmarkProofFromNode", "proof_bytes", "%.0f B"), metric("BenchmarkProofFromNode", "ms/proof", "verified offline in %.2f ms"))},
		{"verify-proof --offline --chain over 10^5 entries (100 anchors of 10^3)", proofs,
			both(metric("BenchmarkChainOffline/entries=100000/batch=1000", "ms/chain", "%.1f ms"),
				metric("BenchmarkChainOffline/entries=100000/batch=10000", "ms/chain", "10 anchors of 10^4: %.1f ms"))},
		{"e-stop edge → contactor coil off (hal, simulated pins)", hal, both(metric("BenchmarkEStopToCoilOff", "trip-p50-ns", "%.0f ns median"),
			two("BenchmarkEStopToCoilOff", "trip-ns/op", "trip-max-ns", "mean %.0f ns, worst %.0f ns"))},
	}
}

var suffix = regexp.MustCompile(`-\d+$`)

// parse reads `go test -bench` output: "pkg:" lines, then "BenchmarkX-N  iters  v unit  v unit…".
func parse(r io.Reader, module string, m metrics) {
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(p), module), "/")
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		key := pkg + " " + suffix.ReplaceAllString(f[0], "")
		if m[key] == nil {
			m[key] = map[string]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[key][f[i+1]] = v
			}
		}
	}
}

// root finds the module root (the directory holding go.mod) and the module path.
func root() (string, string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if p, ok := strings.CutPrefix(line, "module "); ok {
					return dir, strings.TrimSpace(p), nil
				}
			}
			return "", "", errors.New("go.mod has no module line")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func main() {
	in := flag.String("in", "", "read `go test -bench` output from this file (- = stdin) instead of running the benchmarks")
	out := flag.String("out", "var/bench/report.txt", "write the report here too (relative to the module root)")
	quick := flag.Bool("quick", false, "leave out the 10^7-entry daemon run and shorten the CPU window")
	flag.Parse()
	dir, module, err := root()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(2)
	}
	figs := figures(*quick)
	m := metrics{}
	failed := map[*run]error{}
	var raw bytes.Buffer
	if *in != "" {
		r := io.Reader(os.Stdin)
		if *in != "-" {
			f, err := os.Open(*in)
			if err != nil {
				fmt.Fprintln(os.Stderr, "benchreport:", err)
				os.Exit(2)
			}
			defer f.Close()
			r = f
		}
		parse(r, module, m)
	} else {
		done := map[*run]bool{}
		for _, f := range figs {
			if done[f.run] {
				continue
			}
			done[f.run] = true
			fmt.Fprintf(os.Stderr, "== %s\n", f.run.command())
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Minute)
			args := append([]string{"test", "-run", "^$", "-bench", f.run.bench}, f.run.args...)
			cmd := exec.CommandContext(ctx, "go", append(args, f.run.pkg)...)
			cmd.Dir, cmd.Env = dir, append(os.Environ(), f.run.env...)
			b, err := cmd.CombinedOutput()
			cancel()
			raw.WriteString("== " + f.run.command() + "\n")
			raw.Write(b)
			if err != nil {
				failed[f.run] = err
				fmt.Fprintf(os.Stderr, "   failed after %v: %v\n%s\n", time.Since(start).Round(time.Second), err, tail(b))
			} else {
				fmt.Fprintf(os.Stderr, "   %v\n", time.Since(start).Round(time.Second))
			}
			parse(bytes.NewReader(b), module, m)
		}
	}
	var tb bytes.Buffer
	fmt.Fprintf(&tb, "chargegate benchmark report — %s, %s\n\n", time.Now().UTC().Format(time.RFC3339), machine())
	w := tabwriter.NewWriter(&tb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "FIGURE\tNUMBER\tCOMPARED WITH (SAME RUN)\tREPRODUCE")
	missing := 0
	for _, f := range figs {
		num, cmp, ok := f.row(m, f.run.pkg)
		if !ok {
			missing++
			num, cmp = "—", "not reported"
			if err := failed[f.run]; err != nil {
				cmp = "run failed: " + err.Error()
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.name, num, cmp, f.run.command())
	}
	w.Flush()
	os.Stdout.Write(tb.Bytes())
	if *out != "" {
		path := *out
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		err := os.MkdirAll(filepath.Dir(path), 0o755)
		if err == nil {
			err = os.WriteFile(path, tb.Bytes(), 0o644)
		}
		if err == nil && raw.Len() > 0 {
			err = os.WriteFile(strings.TrimSuffix(path, filepath.Ext(path))+"-raw.txt", raw.Bytes(), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchreport: write report:", err)
			os.Exit(1)
		}
	}
	if missing > 0 {
		fmt.Fprintf(os.Stderr, "benchreport: %d of %d figures missing\n", missing, len(figs))
		os.Exit(1)
	}
}

// skippedIf marks a figure that -quick leaves out, so that a quick report is complete.
func skippedIf(quick bool, row func(metrics, string) (string, string, bool)) func(metrics, string) (string, string, bool) {
	if !quick {
		return row
	}
	return func(metrics, string) (string, string, bool) {
		return "left out by -quick", "make bench (without QUICK) runs it, ~6 min", true
	}
}

// machine describes where the figures were taken.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	out, _ := exec.Command("go", "env", "GOOS", "GOARCH").Output()
	return fmt.Sprintf("%s, %s", model, strings.Join(strings.Fields(string(out)), "/"))
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}
