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
		if c.Name != name || c.RequestID == "" || len(c.RequestID) > 64 || len(c.IDToken) > 64 {
			t.Fatalf("accepted an invalid command: %+v", c)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("meter:\n  url: tcp://127.0.0.1:502\nhal:\n  backend: sim\n"))
	f.Add([]byte("meter:\n  url: rtu:///dev/ttyAMA0?baud=9600\n  poll_interval: 1s\nhal:\n  relay: {name: GPIO17}\n"))
	f.Add([]byte("mqtt: [1, 2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b)
		if err != nil {
			return
		}
		// Whatever parses must also validate: a config never reaches the parts half-checked.
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config does not validate: %v", err)
		}
		if cfg.Meter.PollInterval <= 0 || cfg.Meter.URL == "" {
			t.Fatalf("accepted config with poll_interval %v url %q", cfg.Meter.PollInterval, cfg.Meter.URL)
		}
	})
}
