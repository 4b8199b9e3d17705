package meter_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/meter"
	"github.com/chargegate/chargegate/meter/sim"
)

func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not installed (run `make deps`): %v", name, err)
	}
	return p
}

// ptyPair starts socat with two linked ptys and returns their paths: what one side
// writes, the other reads, like two ends of an RS-485 line.
func ptyPair(t testing.TB) (string, string) {
	t.Helper()
	socat := needTool(t, "socat")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "sim"), filepath.Join(dir, "client")
	cmd := exec.Command(socat, "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, e1 := os.Stat(a)
		_, e2 := os.Stat(b)
		if e1 == nil && e2 == nil {
			return a, b
		}
		if time.Now().After(deadline) {
			t.Fatalf("socat ptys did not appear: %s", stderr.String())
		}
		<-time.After(10 * time.Millisecond)
	}
}

// serveSerial runs the simulator's first bus on the pty at path.
func serveSerial(t testing.TB, s *sim.Sim, path string, baud int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan error, 1)
	done := make(chan error, 1)
	go func() { done <- s.Buses()[0].ServeSerialReady(ctx, sim.SerialConfig{Path: path, Baud: baud}, ready) }()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve serial: %v", err)
		}
	})
}

// TestRTUOverPTY: RTU on a serial device (a socat pty pair), 9600 8N1, two meters on the
// bus, our client against the simulator's own RTU framer (CRC, t3.5).
func TestRTUOverPTY(t *testing.T) {
	simEnd, clientEnd := ptyPair(t)
	clk := sim.NewManualClock(t0)
	s, err := sim.New(sim.Options{Model: "sdm630", Clock: clk, Meters: 2, Serial: "40000000"})
	if err != nil {
		t.Fatal(err)
	}
	serveSerial(t, s, simEnd, 9600)
	sm, _ := s.Meter(0, 2)
	sm.SetLoad(clk.Now(), true, 0)
	clk.Advance(time.Hour)
	ctx := context.Background()
	bus, err := meter.OpenBus(ctx, "rtu://"+clientEnd+"?baud=9600&parity=none&stop=1", 0, time.Second, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	for unit, want := range map[uint8]string{1: "40000000", 2: "40000001"} {
		m, err := meter.OpenOnBus(ctx, bus, meter.Config{Unit: unit})
		if err != nil {
			t.Fatal(err)
		}
		r, err := m.Read(ctx)
		if err != nil {
			t.Fatalf("unit %d: %v", unit, err)
		}
		if r.Serial != want || m.Model() != "sdm630" {
			t.Errorf("unit %d: serial %s model %s", unit, r.Serial, m.Model())
		}
		if unit == 2 {
			st := sm.State(clk.Now())
			if d := st.ImportMWh - r.ImportMWh; d < -200 || d > 200 { // float32 kWh near 11 kWh: ~1 mWh steps
				t.Errorf("import %d mWh, simulator %d", r.ImportMWh, st.ImportMWh)
			}
		}
	}
	// A corrupted CRC on the serial line reaches the client as a framing error.
	if _, err := s.AddFault(sim.Fault{Kind: sim.FaultBadCRC, Unit: 1, Count: 1}); err != nil {
		t.Fatal(err)
	}
	bus0, err := meter.OpenBus(ctx, "rtu://"+clientEnd+"?baud=9600", 0, time.Second, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bus0.Close()
	bus.Close()
	if _, err := bus0.ReadRegisters(ctx, 1, meter.Input, 0x48, 2); err == nil || !strings.Contains(err.Error(), "frame") {
		t.Errorf("bad CRC: %v, want a framing error", err)
	}
}

var mbpollValue = regexp.MustCompile(`(?m)^\[(\d+)\]:\s+(\S+)`)

// mbpoll runs libmodbus' mbpoll once and returns reference → printed value.
func mbpoll(t *testing.T, args ...string) map[int]string {
	t.Helper()
	p := needTool(t, "mbpoll")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p, append([]string{"-1", "-0", "-q"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("mbpoll %v: %v\n%s", args, err, out)
	}
	vals := map[int]string{}
	for _, m := range mbpollValue.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.Atoi(m[1])
		vals[n] = m[2]
	}
	return vals
}

func mbpollFloat(t *testing.T, vals map[int]string, ref int) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(vals[ref], 64)
	if err != nil {
		t.Fatalf("mbpoll value at %d: %q", ref, vals[ref])
	}
	return f
}

// TestMbpollInterop: libmodbus (mbpoll) reads metersim's registers over Modbus TCP and
// over RTU on a pty and gets the values the model says.
func TestMbpollInterop(t *testing.T) {
	clk := sim.NewManualClock(t0)
	check := func(t *testing.T, s *sim.Sim, conn []string) {
		sm, _ := s.Meter(0, 1)
		st := sm.State(clk.Now())
		// SDM630: import kWh float32 at input 0x0048, voltage L1 at 0x0000 (ABCD: mbpoll -B).
		vals := mbpoll(t, append(conn, "-t", "3:float", "-B", "-r", "72", "-c", "2")...)
		if got, want := mbpollFloat(t, vals, 72), st.ImportWh/1000; math.Abs(got-want) > 1e-5*want+1e-3 {
			t.Errorf("mbpoll import = %v kWh, simulator %v", got, want)
		}
		vals = mbpoll(t, append(conn, "-t", "3:float", "-B", "-r", "0", "-c", "3")...)
		if v := mbpollFloat(t, vals, 0); math.Abs(v-230) > 3 {
			t.Errorf("mbpoll voltage = %v", v)
		}
		vals = mbpoll(t, append(conn, "-t", "4:hex", "-r", "64512", "-c", "4")...)
		if vals[64512] != "0x0131" || vals[64513] != "0x2D00" || vals[64514] != "0x0070" {
			t.Errorf("mbpoll identity = %v, want serial 0x01312D00 (20000000), code 0x0070", vals)
		}
	}
	t.Run("tcp", func(t *testing.T) {
		url, s := startSim(t, sim.Options{Model: "sdm630", Clock: clk, Serial: "20000000"}, "tcp")
		sm, _ := s.Meter(0, 1)
		sm.SetLoad(clk.Now(), true, 0)
		clk.Advance(2 * time.Hour)
		host, port, _ := strings.Cut(strings.TrimPrefix(url, "tcp://"), ":")
		check(t, s, []string{"-m", "tcp", "-p", port, "-a", "1", host})
	})
	t.Run("rtu", func(t *testing.T) {
		simEnd, clientEnd := ptyPair(t)
		s, err := sim.New(sim.Options{Model: "sdm630", Clock: clk, Serial: "20000000"})
		if err != nil {
			t.Fatal(err)
		}
		serveSerial(t, s, simEnd, 9600)
		sm, _ := s.Meter(0, 1)
		sm.SetLoad(clk.Now(), true, 0)
		clk.Advance(time.Hour)
		check(t, s, []string{"-m", "rtu", "-b", "9600", "-P", "none", "-s", "1", "-a", "1", clientEnd})
	})
}

// TestRTUWireFaultsOverPTY: wire faults on a real serial line reach the client typed, and
// the line recovers afterwards (a late reply meets the next request; the client must
// resynchronise).
func TestRTUWireFaultsOverPTY(t *testing.T) {
	simEnd, clientEnd := ptyPair(t)
	s, err := sim.New(sim.Options{Model: "sdm630"})
	if err != nil {
		t.Fatal(err)
	}
	serveSerial(t, s, simEnd, 19200)
	ctx := context.Background()
	bus, err := meter.OpenBus(ctx, "rtu://"+clientEnd+"?baud=19200", 0, 300*time.Millisecond, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	read := func() error {
		_, err := bus.ReadRegisters(ctx, 1, meter.Input, 0x48, 4)
		return err
	}
	for _, c := range []struct {
		fault sim.Fault
		want  func(error) bool
	}{
		{sim.Fault{Kind: sim.FaultNoReply, Count: 1}, func(err error) bool { return errors.Is(err, meter.ErrTimeout) }},
		{sim.Fault{Kind: sim.FaultLate, DelayMS: 400, Count: 1}, func(err error) bool { return errors.Is(err, meter.ErrTimeout) }},
		{sim.Fault{Kind: sim.FaultWrongUnit, Count: 1}, func(err error) bool { return errors.Is(err, meter.ErrFrame) }},
		{sim.Fault{Kind: sim.FaultTruncate, Count: 1}, func(err error) bool {
			return errors.Is(err, meter.ErrFrame) || errors.Is(err, meter.ErrTimeout)
		}},
		{sim.Fault{Kind: sim.FaultException, Code: 4, Count: 1}, func(err error) bool {
			var ex *meter.ExceptionError
			return errors.As(err, &ex) && ex.Code == 4
		}},
	} {
		if _, err := s.AddFault(c.fault); err != nil {
			t.Fatal(err)
		}
		if err := read(); !c.want(err) {
			t.Errorf("%s: err = %v", c.fault.Kind, err)
		}
		// The line recovers within a few requests (stale bytes are flushed).
		var err error
		for range 5 {
			if err = read(); err == nil {
				break
			}
		}
		if err != nil {
			t.Errorf("after %s: line did not recover: %v", c.fault.Kind, err)
		}
	}
}
