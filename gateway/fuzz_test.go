package gateway

import (
	"errors"
	"testing"
)

func FuzzParseCommand(f *testing.F) {
	for _, seed := range []struct{ name, payload string }{
		{"start", `{"request_id":"r1","id_token":"04A1B2C3"}`},
		{"stop", `{"request_id":"r2"}`},
		{"update", `{"request_id":"r3","url":"https://updates.example/bundle.tar"}`},
		{"authorize", `{"request_id":"r4","id_token":""}`},
		{"explode", `{"request_id":"r5"}`},
		{"start", `{"request_id":"r6",`},
		{"start", `{"request_id":"r7"} {"x":1}`},
		{"allow_list", `{"request_id":"r8","op":"add","version":3,"entries":[{"id_token":"04A1B2C3","group":"g","limits":{"max_wh":5}}]}`},
		{"allow_list", `{"request_id":"r9","op":"get"}`},
	} {
		f.Add(seed.name, []byte(seed.payload))
	}
	f.Fuzz(func(t *testing.T, name string, payload []byte) {
		c, err := ParseCommand(name, payload)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error %v is not ErrBadCommand", err)
			}
			return
		}
		if c.Name != name || c.RequestID == "" || len(c.RequestID) > 64 || len(c.IDToken) > MaxIDTokenLength || (c.IDToken != "" && ValidIDToken(c.IDToken) != nil) {
			t.Fatalf("accepted an invalid command: %+v", c)
		}
	})
}
