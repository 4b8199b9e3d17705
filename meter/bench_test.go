package meter_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargegate/chargegate/meter"
	"github.com/chargegate/chargegate/meter/rtu"
	"github.com/chargegate/chargegate/meter/sim"
)

// startMetersim builds and runs the metersim program (one SDM630 on a loopback port) and
// returns its Modbus URL. The poll benchmarks use a separate server process so that the Go
// client and the C client each compete with the same server for the CPU the same way.
func startMetersim(b *testing.B, args ...string) string {
	bin := filepath.Join(b.TempDir(), "metersim")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/metersim").CombinedOutput(); err != nil {
		b.Fatalf("build metersim: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, append([]string{"--model", "sdm630", "--listen", "tcp://127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	var ready struct{ Modbus string }
	if err := json.Unmarshal([]byte(line), &ready); err != nil || ready.Modbus == "" {
		b.Fatalf("ready line %q: %v", line, err)
	}
	return ready.Modbus
}

// BenchmarkPollSDM630TCP: full SDM630 polls (read plan + decode + plausibility) with one
// meter.Meter over Modbus TCP on loopback against a metersim process. Reports polls/s. For
// the comparison with a plain C client see BenchmarkPollVsLibmodbus.
func BenchmarkPollSDM630TCP(b *testing.B) {
	url := startMetersim(b)
	m := open(b, meter.Config{URL: url, Model: "sdm630"})
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := m.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "polls/s")
}

// BenchmarkPollVsLibmodbus runs BenchmarkPollSDM630TCP's poll and a plain C client
// (libmodbus, testdata/libmodbus_poll.c, reading the same 76-register measurement block)
// side by side: at the same time, for the same 3 s, each on its own connection to one
// metersim process. Measured at the same moment, both meet the same machine load, so their
// ratio holds on a busy machine where figures taken one after the other do not. Reports
// each client's polls/s and go/libmodbus, the ratio. Needs a C compiler, pkg-config and
// libmodbus-dev (.ci/deps installs them).
func BenchmarkPollVsLibmodbus(b *testing.B) {
	const round = 3 * time.Second
	cflags, err := exec.Command("pkg-config", "--cflags", "--libs", "libmodbus").Output()
	if err != nil {
		b.Fatalf("pkg-config libmodbus (install libmodbus-dev and pkg-config, see .ci/deps): %v", err)
	}
	bin := filepath.Join(b.TempDir(), "libmodbus_poll")
	args := append([]string{"-O2", "-o", bin, "testdata/libmodbus_poll.c"}, strings.Fields(string(cflags))...)
	if out, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
		b.Fatalf("build libmodbus_poll: %v\n%s", err, out)
	}
	url := startMetersim(b)
	host, port, _ := strings.Cut(strings.TrimPrefix(url, "tcp://"), ":")
	m := open(b, meter.Config{URL: url, Model: "sdm630"})
	ctx := context.Background()
	var goPolls, cPolls int
	var goTime, cTime float64
	b.ResetTimer()
	for range b.N {
		c := exec.Command(bin, host, port, strconv.Itoa(int(round/time.Millisecond)))
		var out strings.Builder
		c.Stdout = &out
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for time.Since(start) < round {
			if _, err := m.Read(ctx); err != nil {
				b.Fatal(err)
			}
			goPolls++
		}
		goTime += time.Since(start).Seconds()
		if err := c.Wait(); err != nil {
			b.Fatalf("libmodbus_poll: %v", err)
		}
		var n int
		var secs float64
		if _, err := fmt.Sscan(out.String(), &n, &secs); err != nil || secs <= 0 {
			b.Fatalf("libmodbus_poll said %q", out.String())
		}
		cPolls += n
		cTime += secs
	}
	b.StopTimer()
	goRate, cRate := float64(goPolls)/goTime, float64(cPolls)/cTime
	b.ReportMetric(goRate, "go-polls/s")
	b.ReportMetric(cRate, "libmodbus-polls/s")
	b.ReportMetric(goRate/cRate, "go/libmodbus")
}

// BenchmarkRTUPTY9600_40Regs: 40-register reads over RTU on a pty at 9600 8N1, the
// simulator pacing its replies at the line's character time. Reports the achieved poll
// period and its ratio to the wire-time limit (8 + 5 + 80 characters plus 2 × t3.5 ≈
// 104.2 ms).
func BenchmarkRTUPTY9600_40Regs(b *testing.B) {
	simEnd, clientEnd := ptyPair(b)
	s, err := sim.New(sim.Options{Model: "sunspec"}) // 125-register reads allowed: a plain 40-register block
	if err != nil {
		b.Fatal(err)
	}
	serveSerial(b, s, simEnd, 9600)
	ctx := context.Background()
	bus, err := meter.OpenBus(ctx, "rtu://"+clientEnd+"?baud=9600&parity=none&stop=1", 0, time.Second, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close()
	const regs = 40
	limit := rtu.CharTime(9600, 10)*(8+5+2*regs) + 2*rtu.T35(9600, 10)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := bus.ReadRegisters(ctx, 1, meter.Holding, 40000, regs); err != nil {
			b.Fatal(err)
		}
	}
	period := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(period)/1e6, "ms/poll")
	b.ReportMetric(float64(limit)/1e6, "wire-ms")
	b.ReportMetric(float64(period)/float64(limit), "period/wire")
}

// BenchmarkMetersim1000Meters runs the metersim program with 1,000 SDM630 meters (five
// TCP ports of up to 247 units) and polls them from 20 connections. Reports requests/s
// (each a 2-register energy read) and the program's resident set size.
func BenchmarkMetersim1000Meters(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "metersim")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/metersim").CombinedOutput(); err != nil {
		b.Fatalf("build metersim: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--model", "sdm630", "--listen", "tcp://127.0.0.1:0", "--meters", "1000")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	var ready struct{ Buses []string }
	if err := json.Unmarshal([]byte(line), &ready); err != nil || len(ready.Buses) != 5 {
		b.Fatalf("ready line %q: %v", line, err)
	}
	type conn struct {
		bus   *meter.Bus
		units int
	}
	var conns []conn
	left := 1000
	for _, u := range ready.Buses {
		n := min(left, 247)
		left -= n
		for range 4 {
			bus, err := meter.OpenBus(ctx, u, 0, 2*time.Second, 0, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer bus.Close()
			conns = append(conns, conn{bus, n})
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unit := i % c.units
			for next.Add(1) <= int64(b.N) {
				if _, err := c.bus.ReadRegisters(ctx, uint8(unit+1), meter.Input, 0x48, 2); err != nil {
					b.Error(err)
					return
				}
				unit = (unit + 1) % c.units
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "requests/s")
	b.ReportMetric(rssMB(b, cmd.Process.Pid), "RSS-MB")
}

func rssMB(b *testing.B, pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
