package main

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigParsesAndDocumentsEveryField(t *testing.T) {
	b, err := os.ReadFile("../../../images/chargegate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		t.Fatalf("images/chargegate.yaml: %v", err)
	}
	if got, want := cfg.Meter.RecordIntervalIdle, time.Minute; got != want {
		t.Errorf("record_interval_idle = %v, want %v", got, want)
	}
	// The example documents each field: its YAML name must appear in the file.
	for _, name := range yamlFields(reflect.TypeOf(Config{}), "") {
		leaf := name[strings.LastIndex(name, ".")+1:]
		if !strings.Contains(string(b), leaf+":") {
			t.Errorf("images/chargegate.yaml does not document %s", name)
		}
	}
}

func yamlFields(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")
		if tag[0] == "" && len(tag) > 1 && tag[1] == "inline" {
			out = append(out, yamlFields(f.Type, prefix)...)
			continue
		}
		name := prefix + tag[0]
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}) {
			out = append(out, yamlFields(ft, name+".")...)
			continue
		}
		out = append(out, name)
	}
	return out
}

func TestConfigErrorsNameTheField(t *testing.T) {
	base := "meter:\n  url: tcp://127.0.0.1:502\nhal:\n  backend: sim\n"
	tests := []struct {
		name, yaml, field string
	}{
		{"scheme typo", "meter:\n  url: tpc://127.0.0.1:502\nhal:\n  backend: sim\n", `meter.url: unsupported scheme "tpc"`},
		{"unknown field", base + "mqtt:\n  brokr: tcp://x:1883\n", "field brokr not found"},
		{"bad backend", "meter:\n  url: tcp://127.0.0.1:502\nhal:\n  backend: gpio\n", "hal.backend"},
		{"negative interval", "meter:\n  url: tcp://127.0.0.1:502\n  poll_interval: -1s\nhal:\n  backend: sim\n", "meter.poll_interval"},
		{"unit range", "meter:\n  url: tcp://127.0.0.1:502\n  unit: 0\nhal:\n  backend: sim\n", "meter.unit"},
		{"public http without token", base + "http:\n  listen: 0.0.0.0:8080\n", "http.token_file"},
		{"autostart needs free mode", base + "sessions:\n  autostart: true\n", "sessions.autostart"},
		{"update needs keys", base + "update:\n  enabled: true\n", "update.trusted_keys"},
		{"periph relay pin", "meter:\n  url: tcp://127.0.0.1:502\n", "hal.relay.name"},
		{"wildcard prefix", base + "mqtt:\n  broker: tcp://127.0.0.1:1883\n  topic_prefix: a/#\n", "mqtt.topic_prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want it to name %q", err, tt.field)
			}
		})
	}
}

func TestEmptyConfigMeansDefaultsButStillValidates(t *testing.T) {
	_, err := ParseConfig(nil)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "meter.url" {
		t.Fatalf("empty config: err = %v, want a FieldError for meter.url", err)
	}
	cfg, err := ParseConfig([]byte("meter:\n  url: tcp://127.0.0.1:502\nhal:\n  backend: sim\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Meter.PollInterval, time.Second; got != want {
		t.Errorf("poll_interval default = %v, want %v", got, want)
	}
	if got, want := cfg.Sessions.Mode, "authorized"; got != want {
		t.Errorf("sessions.mode default = %q, want %q", got, want)
	}
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
