package access_test

import (
	"testing"

	"github.com/chargegate/chargegate/gateway/access"
	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/sim"
)

// TestRFIDOffline is the offline box of issue 17: a listed card charges, an unknown one does not,
// a failed read decides nothing.
func TestRFIDOffline(t *testing.T) {
	a, err := access.New(access.Config{Dir: t.TempDir(), Policy: access.DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AllowList().Put(access.ListEntry{IDToken: "04A1B2C3D4E5F6", Group: "staff"}); err != nil {
		t.Fatal(err)
	}
	r := sim.NewReader()
	r.Present([]byte{0x04, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6})
	r.Fail(hal.ErrCardRead)
	r.Present([]byte{0xde, 0xad, 0xbe, 0xef})
	r.Halt()
	var got []string
	for c := range r.Cards() {
		if c.Err != nil {
			got = append(got, "read error")
			continue
		}
		d := a.Authorize(t.Context(), access.Request{IDToken: c.IDToken()})
		got = append(got, string(d.Source)+"/"+d.Reason)
		if d.TokenHash != access.TokenHash(c.IDToken()) {
			t.Errorf("token hash of %s = %s", c.IDToken(), d.TokenHash)
		}
	}
	want := []string{"local_list/", "read error", "none/offline"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("decisions = %q, want %q", got, want)
	}
}
