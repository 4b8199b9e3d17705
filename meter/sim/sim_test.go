package sim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
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
