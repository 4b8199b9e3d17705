package sim

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newSim(t testing.TB, opts Options) (*Sim, *ManualClock) {
	t.Helper()
	clk := NewManualClock(t0)
	opts.Clock = clk
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, clk
}

func TestControlInterface(t *testing.T) {
	s, clk := newSim(t, Options{Model: "sdm630", Meters: 2})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	post := func(path, body string, want int) []byte {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("POST %s %s: %d %s, want %d", path, body, resp.StatusCode, buf.String(), want)
		}
		return buf.Bytes()
	}
	get := func(path string) State {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st State
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	post("/v1/load", `{"unit":1,"connected":true,"lease_ms":3000}`, http.StatusNoContent)
	clk.Advance(2 * time.Second)
	post("/v1/load", `{"unit":1,"connected":true,"lease_ms":10000}`, http.StatusNoContent) // renewal
	clk.Advance(8 * time.Second)
	if st := get("/v1/meters/1"); !st.Connected || st.PowerW != 11000 || st.ImportWh <= 0 {
		t.Fatalf("after connect: %+v", st)
	}
	if st := get("/v1/meters/2"); st.Connected || st.ImportWh != 0 {
		t.Fatalf("unit 2 touched: %+v", st)
	}
	clk.Advance(time.Minute) // lease not renewed
	st := get("/v1/meters/1")
	if st.Connected || st.PowerW != 0 {
		t.Fatalf("lease expired but load connected: %+v", st)
	}
	post("/v1/profile", `{"unit":1,"max_w":3700,"phases":1}`, http.StatusNoContent)
	post("/v1/load", `{"unit":1,"connected":true,"lease_ms":0}`, http.StatusNoContent)
	clk.Advance(time.Minute)
	if st := get("/v1/meters/1"); st.PowerW != 3700 || st.Profile.Phases != 1 {
		t.Fatalf("profile: %+v", st)
	}
	var created struct{ ID int }
	if err := json.Unmarshal(post("/v1/fault", `{"kind":"exception","code":4,"unit":1}`, http.StatusCreated), &created); err != nil || created.ID == 0 {
		t.Fatalf("fault id: %v %+v", err, created)
	}
	if st := get("/v1/meters/1"); len(st.Faults) != 1 || st.Faults[0].Code != 4 {
		t.Fatalf("faults: %+v", st.Faults)
	}
	post("/v1/fault", `{"kind":"melt"}`, http.StatusBadRequest)
	post("/v1/load", `{"unit":99,"connected":true}`, http.StatusNotFound)
	post("/v1/load", `{"unit":1,"connected":true,"bogus":1}`, http.StatusBadRequest)
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/v1/fault/"+strconv.Itoa(created.ID), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete fault: %v %v", err, resp)
	}
	resp.Body.Close()
	if len(s.Faults()) != 0 {
		t.Fatal("fault not removed")
	}
}

func TestParseFault(t *testing.T) {
	f, err := ParseFault("late,delay=1500ms,after=10s,for=5s,unit=3,prob=0.5")
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != FaultLate || f.DelayMS != 1500 || f.AfterMS != 10000 || f.ForMS != 5000 || f.Unit != 3 || f.Probability != 0.5 {
		t.Fatalf("parsed %+v", f)
	}
	for _, bad := range []string{"exception", "melt", "noreply,prob=2", "late,delay=soon", "noreply,unit"} {
		if _, err := ParseFault(bad); err == nil {
			t.Errorf("ParseFault(%q) accepted", bad)
		}
	}
}

func TestFaultSchedule(t *testing.T) {
	s, clk := newSim(t, Options{Model: "sdm630"})
	b := s.Buses()[0]
	req := []byte{0x04, 0x00, 0x48, 0x00, 0x02}
	if _, err := s.AddFault(Fault{Kind: FaultNoReply, AfterMS: 1000, ForMS: 1000}); err != nil {
		t.Fatal(err)
	}
	if r := b.handle(1, req); r.pdu == nil {
		t.Fatal("fault active before its start")
	}
	clk.Advance(1500 * time.Millisecond)
	if r := b.handle(1, req); r.pdu != nil {
		t.Fatal("fault inactive during its window")
	}
	clk.Advance(time.Second)
	if r := b.handle(1, req); r.pdu == nil {
		t.Fatal("fault active after its window")
	}
	// Counted and probabilistic faults, reproducible with the seed.
	if _, err := s.AddFault(Fault{Kind: FaultException, Code: 6, Count: 2}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for range 5 {
		if r := b.handle(1, req); len(r.pdu) == 2 && r.pdu[1] == 6 {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("count=2 fault hit %d times", n)
	}
	hits := func(seed uint64) int {
		s, _ := newSim(t, Options{Model: "sdm630", Seed: seed})
		if _, err := s.AddFault(Fault{Kind: FaultNoReply, Probability: 0.3}); err != nil {
			t.Fatal(err)
		}
		n := 0
		for range 1000 {
			if s.Buses()[0].handle(1, req).pdu == nil {
				n++
			}
		}
		return n
	}
	if a, b := hits(7), hits(7); a != b || a < 250 || a > 350 {
		t.Fatalf("prob=0.3 with seed 7: %d and %d drops of 1000", a, b)
	}
}

func TestQuantisation(t *testing.T) {
	// Carlo Gavazzi counts whole 0.1 kWh: 1.25 kWh reads as 12 (×0.1 kWh), never 13.
	s, clk := newSim(t, Options{Model: "em340", Profile: Profile{MaxW: 3600, RampWPerS: 1e9}})
	m, _ := s.Meter(0, 1)
	m.SetLoad(clk.Now(), true, 0)
	clk.Advance(1250 * time.Second) // 3.6 kW × 1250 s = 1.25 kWh
	r := s.Buses()[0].handle(1, []byte{0x04, 0x00, 0x34, 0x00, 0x02})
	if len(r.pdu) != 6 {
		t.Fatalf("reply %x", r.pdu)
	}
	lo, hi := binary.BigEndian.Uint16(r.pdu[2:]), binary.BigEndian.Uint16(r.pdu[4:])
	if v := uint32(hi)<<16 | uint32(lo); v != 12 {
		t.Fatalf("em340 import register = %d, want 12 (×0.1 kWh)", v)
	}
}

func FuzzHandle(f *testing.F) {
	f.Add(uint8(1), []byte{0x04, 0x00, 0x00, 0x00, 0x4C})
	f.Add(uint8(33), []byte{0x10, 0x1B, 0x8B, 0x00, 0x01, 0x02, 0x42, 0x00})
	f.Add(uint8(1), []byte{0x03, 0xFC, 0x00, 0x00, 0x04})
	names := ModelNames()
	f.Fuzz(func(t *testing.T, unit uint8, pdu []byte) {
		name := names[int(unit)%len(names)]
		s, err := New(Options{Model: name, Unit: 1, Meters: 1, Clock: NewManualClock(t0)})
		if err != nil {
			t.Fatal(err)
		}
		r := s.Buses()[0].handle(1, pdu)
		if len(pdu) == 0 {
			return
		}
		if r.pdu == nil || len(r.pdu) < 2 {
			t.Fatalf("no reply to %x", pdu)
		}
		if r.pdu[0] != pdu[0] && r.pdu[0] != pdu[0]|0x80 {
			t.Fatalf("reply function %x to request %x", r.pdu[0], pdu[0])
		}
		if (pdu[0] == 3 || pdu[0] == 4) && r.pdu[0] < 0x80 && int(r.pdu[1]) != len(r.pdu)-2 {
			t.Fatalf("byte count %d, payload %d", r.pdu[1], len(r.pdu)-2)
		}
	})
}

func FuzzParseFault(f *testing.F) {
	f.Add("late,delay=1500ms,after=10s,for=5s,unit=3,prob=0.5")
	f.Add("exception,code=4,count=3")
	f.Add("noreply,unit=")
	f.Fuzz(func(t *testing.T, spec string) {
		ft, err := ParseFault(spec)
		if err != nil {
			return
		}
		if err := ft.validate(); err != nil {
			t.Fatalf("ParseFault(%q) returned an invalid fault: %v", spec, err)
		}
	})
}

func TestThousandMeters(t *testing.T) {
	s, clk := newSim(t, Options{Model: "sdm630", Meters: 1000, Serial: "1000"})
	if len(s.Buses()) != 5 {
		t.Fatalf("%d buses for 1000 meters, want 5 (247 units each)", len(s.Buses()))
	}
	n := 0
	for _, b := range s.Buses() {
		n += len(b.Units())
	}
	if n != 1000 {
		t.Fatalf("%d meters", n)
	}
	last, ok := s.Meter(4, uint8(1000-4*247))
	if !ok {
		t.Fatal("last meter missing")
	}
	if st := last.State(clk.Now()); st.Serial != "1999" {
		t.Fatalf("last serial %s, want 1999", st.Serial)
	}
	if r := s.Buses()[4].handle(uint8(1000-4*247), []byte{0x04, 0x00, 0x48, 0x00, 0x02}); len(r.pdu) != 6 {
		t.Fatalf("reply %x", r.pdu)
	}
}

func TestParseLieModes(t *testing.T) {
	f, err := ParseFault("backwards,amount=2000,drop=true")
	if err != nil || f.Kind != FaultBackwards || f.AmountWh != 2000 || !f.Drop {
		t.Fatalf("parsed %+v, %v", f, err)
	}
	for _, k := range []string{FaultZeros, FaultStuck, FaultJump, FaultDrop} {
		if _, err := ParseFault(k); err != nil {
			t.Errorf("ParseFault(%q): %v", k, err)
		}
	}
	for _, bad := range []string{"jump,amount=-1", "backwards,drop=maybe"} {
		if _, err := ParseFault(bad); err == nil {
			t.Errorf("ParseFault(%q) accepted", bad)
		}
	}
}

// TestLieRegisters: zeros, stuck and jump change what the registers hold, as documented.
func TestLieRegisters(t *testing.T) {
	s, clk := newSim(t, Options{Model: "sdm630"})
	m, _ := s.Meter(0, 1)
	m.SetLoad(clk.Now(), true, 0)
	clk.Advance(time.Hour)
	energy := func() uint32 { // import, float32 kWh bits
		t.Helper()
		r := s.Buses()[0].handle(1, []byte{0x04, 0x00, 0x48, 0x00, 0x02})
		if len(r.pdu) != 6 {
			t.Fatalf("reply %x", r.pdu)
		}
		return binary.BigEndian.Uint32(r.pdu[2:])
	}
	power := func() uint32 {
		r := s.Buses()[0].handle(1, []byte{0x04, 0x00, 0x34, 0x00, 0x02})
		return binary.BigEndian.Uint32(r.pdu[2:])
	}
	before := energy()
	id, _ := s.AddFault(Fault{Kind: FaultZeros})
	if e, p := energy(), power(); e != 0 || p != 0 {
		t.Fatalf("zeros: energy %08x power %08x", e, p)
	}
	s.ClearFault(id)
	id, _ = s.AddFault(Fault{Kind: FaultStuck})
	stuck := energy()
	clk.Advance(time.Minute)
	if e, p := energy(), power(); e != stuck || p == 0 {
		t.Fatalf("stuck: energy %08x (was %08x), power %08x", e, stuck, p)
	}
	s.ClearFault(id)
	if energy() == stuck {
		t.Fatal("energy still stuck after clearing")
	}
	st := m.State(clk.Now())
	if _, err := s.AddFault(Fault{Kind: FaultJump, AmountWh: 1_000_000}); err != nil {
		t.Fatal(err)
	}
	energy()
	if d := m.State(clk.Now()).ImportWh - st.ImportWh; d < 1_000_000 || d > 1_000_001 {
		t.Fatalf("jump moved import by %.1f Wh", d)
	}
	if before == 0 {
		t.Fatal("no energy after an hour at 11 kW")
	}
}

// TestDropClosesConnections: a fault with Drop closes every TCP connection of its bus.
func TestDropClosesConnections(t *testing.T) {
	s, _ := newSim(t, Options{Model: "sdm630"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Buses()[0].ServeTCP(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := []byte{0, 1, 0, 0, 0, 6, 1, 0x04, 0x00, 0x48, 0x00, 0x02}
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 13)
	if _, err := io.ReadFull(c, reply); err != nil {
		t.Fatalf("reply before the drop: %v", err)
	}
	if _, err := s.AddFault(Fault{Kind: FaultBackwards, Drop: true}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(reply); err != io.EOF {
		t.Fatalf("read after the drop: %v, want EOF", err)
	}
}
