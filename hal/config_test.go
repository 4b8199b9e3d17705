package hal

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestValidate(t *testing.T) {
	ok := rigConfig()
	cases := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings; nil: valid
	}{
		{"valid", func(*Config) {}, nil},
		{"relay only", func(c *Config) { *c = Config{Relay: Pin{Name: "GPIO17"}} }, nil},
		{"empty relay", func(c *Config) { c.Relay.Name = "" }, []string{"hal.relay.name: empty"}},
		{"empty optional", func(c *Config) { c.Lid = &Pin{} }, []string{"hal.lid.name: empty"}},
		{"duplicate", func(c *Config) { c.LED.Name = "ESTOP" }, []string{`hal.led.name: "ESTOP" is already used by hal.estop`}},
		{"negative timeout", func(c *Config) { c.FeedbackTimeout = -time.Second }, []string{"hal.feedback_timeout: -1s is negative"}},
		{"huge timeout", func(c *Config) { c.FeedbackTimeout = time.Minute }, []string{"hal.feedback_timeout: 1m0s is above"}},
		{"negative debounce", func(c *Config) { c.Debounce = -1 }, []string{"hal.debounce: -1ns is negative"}},
		{"huge debounce", func(c *Config) { c.Debounce = 2 * time.Second }, []string{"hal.debounce: 2s is above"}},
		{"debounce eats the timeout", func(c *Config) { c.Debounce = 200 * time.Millisecond }, []string{"must be shorter than hal.feedback_timeout"}},
		{"default debounce eats the timeout", func(c *Config) { c.Debounce = 0; c.FeedbackTimeout = 15 * time.Millisecond }, []string{"hal.debounce: 20ms must be shorter"}},
		{"several at once", func(c *Config) { c.Relay.Name = ""; c.RCD = &Pin{} }, []string{"hal.relay.name", "hal.rcd.name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.Feedback, c.EStop, c.RCD, c.Lid, c.LED = ptr(*ok.Feedback), ptr(*ok.EStop), ptr(*ok.RCD), ptr(*ok.Lid), ptr(*ok.LED)
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestConfigYAML(t *testing.T) {
	const doc = `
relay: {name: GPIO17}
feedback: {name: GPIO27, active_low: true}
feedback_timeout: 250ms
estop: {name: GPIO22}
led: {name: GPIO5}
debounce: 15ms
`
	var got Config
	if err := yaml.Unmarshal([]byte(doc), &got); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	want := Config{
		Relay:           Pin{Name: "GPIO17"},
		Feedback:        &Pin{Name: "GPIO27", ActiveLow: true},
		FeedbackTimeout: 250 * time.Millisecond,
		EStop:           &Pin{Name: "GPIO22"},
		LED:             &Pin{Name: "GPIO5"},
		Debounce:        15 * time.Millisecond,
	}
	if got.Relay != want.Relay || *got.Feedback != *want.Feedback || got.FeedbackTimeout != want.FeedbackTimeout ||
		*got.EStop != *want.EStop || *got.LED != *want.LED || got.Debounce != want.Debounce || got.RCD != nil || got.Lid != nil {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
}

// FuzzConfigYAML feeds arbitrary hal: sections through the YAML decoder and
// Validate: nothing may panic, and a configuration Validate accepts must be
// one Open can rely on.
func FuzzConfigYAML(f *testing.F) {
	f.Add("relay: {name: GPIO17}\n")
	f.Add("relay: {name: GPIO17}\nfeedback: {name: GPIO27}\nfeedback_timeout: 200ms\ndebounce: 20ms\n")
	f.Add("relay: {name: A}\nled: {name: A}\n")
	f.Add("relay: {name: A, active_low: yes}\ndebounce: -5s\n")
	f.Add("feedback_timeout: 99999999999999999999h\n")
	f.Fuzz(func(t *testing.T, doc string) {
		var c Config
		if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			if !strings.Contains(err.Error(), "hal.") {
				t.Fatalf("error does not name a field: %v", err)
			}
			return
		}
		if c.Relay.Name == "" {
			t.Fatal("valid config without a relay")
		}
		if c.feedbackTimeout() <= 0 || c.feedbackTimeout() > maxFeedbackTimeout || c.debounce() <= 0 || c.debounce() > maxDebounce {
			t.Fatalf("valid config with timings out of range: %+v", c)
		}
		if c.Feedback != nil && c.debounce() >= c.feedbackTimeout() {
			t.Fatalf("valid config whose feedback can never confirm in time: %+v", c)
		}
		names := map[string]bool{c.Relay.Name: true}
		for _, p := range c.optionalPins() {
			if p.pin == nil {
				continue
			}
			if p.pin.Name == "" || names[p.pin.Name] {
				t.Fatalf("valid config with an empty or shared pin name: %+v", c)
			}
			names[p.pin.Name] = true
		}
	})
}
