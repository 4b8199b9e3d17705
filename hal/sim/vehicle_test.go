package sim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"periph.io/x/conn/v3/physic"

	"github.com/chargegate/chargegate/hal/sim"
)

// TestVehicleHTTP drives a vehicle over its HTTP handler: plugging in
// gives B, a request with 16 A offered gives C and the draw, unplugging A;
// unknown fields are refused.
func TestVehicleHTTP(t *testing.T) {
	v := sim.NewVehicle(sim.VehicleOptions{React: 1}) // 1 ns: S2 follows at once
	srv := httptest.NewServer(v)
	defer srv.Close()
	post := func(body string, want int) sim.VehicleStatus {
		t.Helper()
		resp, err := http.Post(srv.URL, "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: %s, want %d", body, resp.Status, want)
		}
		var st sim.VehicleStatus
		if want == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				t.Fatal(err)
			}
		}
		return st
	}
	if st := post(`{"plugged":true}`, http.StatusOK); st.State != "B" {
		t.Fatalf("plugged: %+v", st)
	}
	v.Offer(16 * physic.Ampere)
	if st := post(`{"request":true}`, http.StatusOK); st.State != "C" || st.OfferedA != 16 || st.DrawingA != 16 {
		t.Fatalf("requesting with 16 A offered: %+v", st)
	}
	if st := post(`{"plugged":false}`, http.StatusOK); st.State != "A" || st.DrawingA != 0 {
		t.Fatalf("unplugged: %+v", st)
	}
	post(`{"wheels":4}`, http.StatusBadRequest)
}
