package rtu

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"os"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/frames.json from the encoder")

// vector is one golden frame: unit and PDU, and the exact bytes on the wire.
type vector struct {
	Name string `json:"name"`
	Unit byte   `json:"unit"`
	PDU  string `json:"pdu"`
	ADU  string `json:"adu"`
}

func TestGoldenFrames(t *testing.T) {
	// The first vector is the example of the Modbus over serial line spec / every RTU tutorial:
	// read 2 holding registers at 0x0000 from unit 1 is 01 03 00 00 00 02 C4 0B.
	frames := []vector{
		{Name: "read holding 0x0000 x2 unit 1", Unit: 1, PDU: "0300000002"},
		{Name: "read input 0x0048 x4 unit 1 (SDM630 energy)", Unit: 1, PDU: "0400480004"},
		{Name: "response 2 registers 0x4366 0x199a", Unit: 1, PDU: "04044366199a"},
		{Name: "exception 02 to FC04", Unit: 1, PDU: "8402"},
		{Name: "write single register 7051 unit 33", Unit: 33, PDU: "061b8b4200"},
	}
	for i := range frames {
		pdu, _ := hex.DecodeString(frames[i].PDU)
		frames[i].ADU = hex.EncodeToString(Frame{Unit: frames[i].Unit, PDU: pdu}.Append(nil))
	}
	if frames[0].ADU != "010300000002c40b" {
		t.Fatalf("spec example encodes as %s, want 010300000002c40b", frames[0].ADU)
	}
	path := "testdata/frames.json"
	if *update {
		b, _ := json.MarshalIndent(frames, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var golden []vector
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden) != len(frames) {
		t.Fatalf("golden has %d frames, encoder %d (run with -update?)", len(golden), len(frames))
	}
	for i, g := range golden {
		if g != frames[i] {
			t.Errorf("frame %q: encoder %s, golden %s", g.Name, frames[i].ADU, g.ADU)
		}
		adu, _ := hex.DecodeString(g.ADU)
		f, err := Parse(adu)
		if err != nil || f.Unit != g.Unit || hex.EncodeToString(f.PDU) != g.PDU {
			t.Errorf("parse %q: %+v %v", g.Name, f, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	if _, err := Parse([]byte{1, 3, 0}); !errors.Is(err, ErrShort) {
		t.Errorf("short: %v", err)
	}
	adu := Frame{Unit: 1, PDU: []byte{3, 0, 0, 0, 2}}.Append(nil)
	adu[len(adu)-1] ^= 1
	if _, err := Parse(adu); !errors.Is(err, ErrCRC) {
		t.Errorf("crc: %v", err)
	}
}

func TestTiming(t *testing.T) {
	if got := T35(9600, 10); got < 3645*time.Microsecond || got > 3646*time.Microsecond {
		t.Errorf("t3.5 at 9600 8N1 = %v, want 3.646 ms", got)
	}
	if got := T35(115200, 10); got != 1750*time.Microsecond {
		t.Errorf("t3.5 above 19200 = %v, want 1.75 ms", got)
	}
	if got := CharTime(9600, 11); got < 1145*time.Microsecond || got > 1146*time.Microsecond {
		t.Errorf("char at 9600 8E1 = %v", got)
	}
}

// TestReaderFraming: on a stream with silence framing, two requests written with a gap
// come out as two frames; a request split in two writes closer than the gap stays one.
func TestReaderFraming(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	req := Frame{Unit: 1, PDU: []byte{4, 0, 0x48, 0, 4}}.Append(nil)
	go func() {
		_, _ = a.Write(req[:3])
		_, _ = a.Write(req[3:]) // no pause: same frame
		<-time.After(30 * time.Millisecond)
		_, _ = a.Write(req)
	}()
	r := &Reader{R: b, Gap: 10 * time.Millisecond}
	for i := range 2 {
		got, err := r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != hex.EncodeToString(req) {
			t.Fatalf("frame %d = %x, want %x", i, got, req)
		}
	}
	// Length framing (RTU over TCP): no silence needed.
	go func() { _, _ = a.Write(append(append([]byte(nil), req...), req...)) }()
	lr := &Reader{R: b}
	got, err := lr.ReadFrame()
	if err != nil || len(got) < len(req) {
		t.Fatalf("length framing: %x %v", got, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC4, 0x0B})
	f.Add([]byte{0x01, 0x84, 0x02, 0xC2, 0xC1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, adu []byte) {
		fr, err := Parse(adu)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to the same bytes.
		if got := fr.Append(nil); string(got) != string(adu) {
			t.Fatalf("re-encode %x, want %x", got, adu)
		}
		_, _ = RequestLength(adu)
	})
}
