package sim

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/chargegate/chargegate/meter"
)

var update = flag.Bool("update", false, "rewrite testdata/images.json")

// TestGoldenImages freezes what the simulator serves: for every model, after one hour at
// 11 kW with seed 1, the reply bytes to each block of the model's read plan. A change in
// encoding, quantisation or noise shows up here (regenerate with -update after checking).
func TestGoldenImages(t *testing.T) {
	got := map[string][]string{}
	for _, name := range ModelNames() {
		s, clk := newSim(t, Options{Model: name, Serial: "12345678"})
		m, _ := s.Meter(0, 1)
		m.SetLoad(clk.Now(), true, 0)
		clk.Advance(time.Hour)
		for _, b := range s.model.readable {
			if b.Count > 125 || (name == "wm3m4" && b.Addr >= meter.IskraRegState) { // the key is random
				continue
			}
			pdu := []byte{byte(b.Table), 0, 0, 0, 0}
			binary.BigEndian.PutUint16(pdu[1:], b.Addr)
			binary.BigEndian.PutUint16(pdu[3:], b.Count)
			r := s.Buses()[0].handle(1, pdu)
			got[name] = append(got[name], hex.EncodeToString(pdu)+" "+hex.EncodeToString(r.pdu))
		}
	}
	path := "testdata/images.json"
	if *update {
		b, _ := json.MarshalIndent(got, "", " ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][]string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for name, replies := range got {
		if len(replies) != len(want[name]) {
			t.Errorf("%s: %d blocks, golden %d", name, len(replies), len(want[name]))
			continue
		}
		for i := range replies {
			if replies[i] != want[name][i] {
				t.Errorf("%s block %d:\n got  %s\n want %s", name, i, replies[i], want[name][i])
			}
		}
	}
	if len(want) != len(got) {
		t.Errorf("golden has %d models, simulator %d", len(want), len(got))
	}
}
