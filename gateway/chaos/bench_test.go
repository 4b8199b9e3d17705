package chaos_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/hal"
	halsim "github.com/chargegate/chargegate/hal/sim"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/sqlite"
	"github.com/chargegate/chargegate/meter"
)

// The whole-gateway figures of `make bench` (see .ci/benchreport). Each reports, beside its
// figure, the comparison measured in the same run.

// BenchmarkEndToEndReadings runs the real control loop in-process — metersim over Modbus TCP,
// the simulated board, the real store (WAL, synchronous=FULL) — with a 50 µs poll interval, so
// that every poll is due, and measures recorded readings per second: poll → entry → signature →
// commit. In the same run it measures the two halves alone on the same meter and disk: meter
// polls per second and durable single-entry appends per second.
func BenchmarkEndToEndReadings(b *testing.B) {
	const n = 2000
	s := rig.StartStack(b, rig.StackOptions{NoNode: true})
	ctx := context.Background()
	open := func() (*sqlite.Store, *meter.Meter) {
		data := b.TempDir()
		keys, err := ledger.LoadOrCreateKeys(data)
		if err != nil {
			b.Fatal(err)
		}
		st, err := sqlite.Open(ctx, data, sqlite.Options{Key: keys.Entry})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		m, err := meter.Open(ctx, meter.Config{URL: s.Metersim["modbus"], Model: "sdm630", Unit: 1,
			Timeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close() })
		return st, m
	}
	var e2e, polls, appends float64
	for b.Loop() {
		st, m := open()
		board, err := hal.Open(halsim.DefaultConfig(), halsim.New(halsim.Options{}), nil)
		if err != nil {
			b.Fatal(err)
		}
		gw, err := gateway.NewController(m, board, st, gateway.Options{
			PollInterval: 50 * time.Microsecond, RecordIntervalCharging: 50 * time.Microsecond, RecordIntervalIdle: 50 * time.Microsecond,
			Policy: gateway.SessionPolicy{Authorized: true},
		})
		if err != nil {
			b.Fatal(err)
		}
		lctx, cancel := context.WithCancel(ctx)
		g, gctx := errgroup.WithContext(lctx)
		g.Go(func() error { return board.Run(gctx) })
		g.Go(func() error { return gw.Run(gctx) })
		rig.WaitFor(b, 30*time.Second, "first reading", func() bool { h, _ := st.Head(); return h >= 2 })
		h0, _ := st.Head()
		start := time.Now()
		rig.WaitFor(b, 5*time.Minute, "readings recorded", func() bool { h, _ := st.Head(); return h >= h0+n })
		el := time.Since(start)
		h1, _ := st.Head()
		cancel()
		g.Wait()
		e2e = float64(h1-h0) / el.Seconds()

		// The halves alone, same meter, same disk.
		st2, m2 := open()
		start = time.Now()
		for range n {
			if _, err := m2.Read(ctx); err != nil {
				b.Fatal(err)
			}
		}
		polls = n / time.Since(start).Seconds()
		start = time.Now()
		for i := range n {
			if _, err := st2.Append(ctx, ledger.Record{Time: time.Now(), TimeStatus: ledger.TimeSynchronised,
				Kind: ledger.KindReading, MeterSerial: "71000042", ImportMWh: int64(i)}); err != nil {
				b.Fatal(err)
			}
		}
		appends = n / time.Since(start).Seconds()
	}
	b.ReportMetric(e2e, "readings/s")
	b.ReportMetric(polls, "polls/s")
	b.ReportMetric(appends, "appends/s")
}

// BenchmarkVerifyChain measures `chargegate verify`'s work — read every entry from the store,
// check signature, link and sequence — against raw Ed25519 verification of the same hashes and
// signatures, over 100,000 entries.
func BenchmarkVerifyChain(b *testing.B) {
	const n = 100_000
	data := b.TempDir()
	preload(b, data, n)
	ctx := context.Background()
	r, err := sqlite.OpenReader(ctx, data)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var entries []ledger.Entry
	for e, err := range r.All(ctx) {
		if err != nil {
			b.Fatal(err)
		}
		entries = append(entries, e)
	}
	hashes := make([][32]byte, len(entries))
	for i := range entries {
		hashes[i] = entries[i].Hash()
	}
	rawRate := func() float64 {
		start := time.Now()
		for i := range entries {
			if !ed25519.Verify(entries[i].DeviceKey, hashes[i][:], entries[i].Signature) {
				b.Fatal("raw verify failed")
			}
		}
		return n / time.Since(start).Seconds()
	}
	var chain, raw float64
	for b.Loop() {
		// Raw before and after the chain, averaged: the machine is shared.
		raw = rawRate()
		start := time.Now()
		st, err := ledger.VerifyChain(r.All(ctx), ledger.ChainOptions{})
		if err != nil || st.Entries != n {
			b.Fatalf("verify: %v (%d entries)", err, st.Entries)
		}
		chain = n / time.Since(start).Seconds()
		raw = (raw + rawRate()) / 2
	}
	b.ReportMetric(chain, "verified/s")
	b.ReportMetric(raw, "raw_ed25519/s")
	b.ReportMetric(chain/raw, "ratio")
}

// procStatus reads a field in kB from /proc/PID/status, in MiB.
func procStatus(tb testing.TB, pid int, field string) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	tb.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// cpuTicks returns utime+stime of a process in clock ticks (USER_HZ, 100 on Linux).
func cpuTicks(tb testing.TB, pid int) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The command name may contain spaces: fields count from after its closing parenthesis.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return ut + st
}

// daemonSizes are the stored-entry counts of BenchmarkDaemon; CHARGEGATE_BENCH_HUGE=1 adds 10^7
// (several minutes of preloading and ~2 GB of disk).
func daemonSizes() []int {
	sizes := []int{0, 1_000, 100_000}
	if os.Getenv("CHARGEGATE_BENCH_HUGE") == "1" {
		sizes = append(sizes, 10_000_000)
	}
	return sizes
}

// BenchmarkDaemon starts `chargegate run` (1 s poll and record interval, meter = metersim, no
// broker or ledger node) on a store preloaded with 0, 10^3, 10^5 (and 10^7) entries and reports
// the time from exec to the local API answering and to the first recorded reading, and the
// daemon's resident memory (VmRSS, and its peak VmHWM) once it runs. The 0-entry row is the
// comparison: RSS should stay flat as the store grows.
func BenchmarkDaemon(b *testing.B) {
	s := rig.StartStack(b, rig.StackOptions{NoNode: true})
	for _, n := range daemonSizes() {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			data := filepath.Join(dir, "data")
			var head uint64
			if n > 0 {
				head = preload(b, data, n)
			}
			cfg := rig.WriteConfig(b, dir, chaosConfig(s, data, gwOpts{poll: time.Second}))
			var up, first, rss, hwm float64
			for b.Loop() {
				g := rig.LaunchGateway(b, data, cfg)
				rig.WaitFor(b, 5*time.Minute, "API up", g.Running)
				up = time.Since(g.Started).Seconds() * 1000
				rig.WaitFor(b, time.Minute, "first reading", func() bool {
					st, err := g.TryStatus()
					return err == nil && st.Entries >= head+2 // the "started" event, then a reading
				})
				first = time.Since(g.Started).Seconds() * 1000
				// Five more polls of ordinary work before measuring memory.
				rig.WaitFor(b, time.Minute, "five more readings", func() bool {
					st, err := g.TryStatus()
					return err == nil && st.Entries >= head+7
				})
				rss, hwm = procStatus(b, g.PID(), "VmRSS"), procStatus(b, g.PID(), "VmHWM")
				head = g.Status(b).Entries // the next iteration starts from here
				g.StopClean(b)
			}
			b.ReportMetric(up, "ms_to_api")
			b.ReportMetric(first, "ms_to_first_reading")
			b.ReportMetric(rss, "RSS_MiB")
			b.ReportMetric(hwm, "HWM_MiB")
		})
	}
}

// BenchmarkDaemonCPU runs `chargegate run` at a 1 s poll and record interval for 60 s
// (CHARGEGATE_BENCH_CPU_SECONDS overrides) and reports its CPU use from /proc/PID/stat, beside the
// CPU the meter simulator spent answering the same polls.
func BenchmarkDaemonCPU(b *testing.B) {
	secs := 60.0
	if v := os.Getenv("CHARGEGATE_BENCH_CPU_SECONDS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			b.Fatal(err)
		}
		secs = f
	}
	var pct, perPoll, simPct float64
	for b.Loop() {
		msim := rig.StartService(b, rig.Bin(b, "metersim"), "--model", "sdm630", "--listen", "tcp://127.0.0.1:0", "--control", "127.0.0.1:0")
		s := &rig.Stack{Metersim: msim.Addrs}
		dir := b.TempDir()
		data := filepath.Join(dir, "data")
		g := rig.StartGateway(b, data, rig.WriteConfig(b, dir, chaosConfig(s, data, gwOpts{poll: time.Second})))
		rig.WaitFor(b, time.Minute, "first reading", func() bool { return g.Status(b).Entries >= 2 })
		t0, s0, h0 := cpuTicks(b, g.PID()), cpuTicks(b, msim.Cmd.Process.Pid), g.Status(b).Entries
		start := time.Now()
		time.Sleep(time.Duration(secs * float64(time.Second))) // the measurement window itself
		el := time.Since(start).Seconds()
		t1, s1, h1 := cpuTicks(b, g.PID()), cpuTicks(b, msim.Cmd.Process.Pid), g.Status(b).Entries
		g.StopClean(b)
		msim.Stop(syscall.SIGTERM, 20*time.Second)
		pct = (t1 - t0) / 100 / el * 100
		simPct = (s1 - s0) / 100 / el * 100
		perPoll = (t1 - t0) * 10 / float64(max(h1-h0, 1))
	}
	b.ReportMetric(pct, "cpu_%")
	b.ReportMetric(perPoll, "cpu_ms/reading")
	b.ReportMetric(simPct, "metersim_cpu_%")
}

// BenchmarkBinarySize builds chargegate as `make build` and `make cross` do (-trimpath, -s -w,
// cgo) for linux/amd64 and linux/arm64 (CC=aarch64-linux-gnu-gcc) and reports their sizes.
func BenchmarkBinarySize(b *testing.B) {
	tmp := b.TempDir()
	build := func(arch string) (float64, error) {
		out := filepath.Join(tmp, arch, "chargegate")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "../cmd/chargegate")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOOS=linux", "GOARCH="+arch)
		if arch == "arm64" {
			cmd.Env = append(cmd.Env, "CC=aarch64-linux-gnu-gcc")
		}
		if msg, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("build %s: %v\n%s", arch, err, msg)
		}
		fi, err := os.Stat(out)
		if err != nil {
			return 0, err
		}
		return float64(fi.Size()) / (1 << 20), nil
	}
	var amd, arm float64
	for b.Loop() {
		var armErr error
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); arm, armErr = build("arm64") }()
		var err error
		amd, err = build("amd64")
		wg.Wait()
		if err = errors.Join(err, armErr); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(amd, "amd64_MiB")
	b.ReportMetric(arm, "arm64_MiB")
}
