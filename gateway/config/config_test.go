package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/chargegate/chargegate/hal"
)

// minimal is the smallest valid file: lines 1-4. Cases append sections from line 5 on.
const minimal = "meter:\n  url: tcp://127.0.0.1:502\nhal:\n  backend: sim\n"

// fieldErrors lists the FieldErrors inside err, failing the test on any other kind.
func fieldErrors(t testing.TB, err error) []FieldError {
	t.Helper()
	var out []FieldError
	for _, e := range unjoin(err) {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v (%T) is not a *FieldError", e, e)
		}
		out = append(out, *fe)
	}
	return out
}

// TestBadInputs covers issue 12 case 8 and the file-format rules of doc.go: each bad input
// gives exactly the listed errors, each with its YAML path, line, message and hint.
func TestBadInputs(t *testing.T) {
	huge := "device:\n  evse_id: " + strings.Repeat("A", 4<<20) + "\n" + minimal
	tests := []struct {
		name string
		yaml string
		want []FieldError
	}{
		// issue 12 case 8
		{"poll interval 1ns", "meter:\n  url: tcp://127.0.0.1:502\n  poll_interval: 1ns\nhal:\n  backend: sim\n",
			[]FieldError{{Path: "meter.poll_interval", Line: 3, Msg: "1ns is too short; the minimum is 100ms"}}},
		{"poll interval 2m", minimal + "meter:\n", nil}, // placeholder replaced below
		{"4 MB evse_id", huge,
			[]FieldError{{Msg: "the file is larger than the limit of 1 MiB"}}},
		{"1000-byte evse_id", "device:\n  evse_id: " + strings.Repeat("A", 1000) + "\n" + minimal,
			[]FieldError{{Path: "device.evse_id", Line: 2, Msg: "is 1000 bytes long; the maximum is 48"}}},
		{"escaped NUL in evse_id", "device:\n  evse_id: \"DE*CGT*E1\\0\"\n" + minimal,
			[]FieldError{{Path: "device.evse_id", Line: 2, Msg: "contains the unprintable character U+0000 at byte 9; only printable text is allowed"}}},
		{"escaped ESC in evse_id", "device:\n  evse_id: \"\\e[31mDE*CGT*E1\"\n" + minimal,
			[]FieldError{{Path: "device.evse_id", Line: 2, Msg: "contains the unprintable character U+001B at byte 0; only printable text is allowed"}}},
		{"raw BEL in the file", "device:\n  evse_id: DE*CGT*E1\a\n" + minimal,
			[]FieldError{{Line: 2, Msg: "the control character U+0007 is not allowed; a configuration is printable text"}}},
		{"invalid UTF-8 in the file", "device:\n  evse_id: DE*CGT*E1\xff\n" + minimal,
			[]FieldError{{Line: 2, Msg: "not valid UTF-8 (byte 28 of the file)"}}},
		{"evse_id not an EVSE ID", "device:\n  evse_id: charger-1\n" + minimal,
			[]FieldError{{Path: "device.evse_id", Line: 2, Msg: `"charger-1" is not an EVSE ID; expected country*operator*E outlet, like DE*CGT*E0001*1 (ISO 15118, eMI3)`}}},
		{"second document", minimal + "---\nmeter:\n  url: tcp://10.0.0.1:502\n",
			[]FieldError{{Line: 5, Msg: "a second YAML document starts here; the file must hold exactly one",
				Hint: `remove the "---" line and what follows, or merge it into the first document`}}},
		{"empty second document", minimal + "---\n",
			[]FieldError{{Line: 5, Msg: "a second YAML document starts here; the file must hold exactly one",
				Hint: `remove the "---" line and what follows, or merge it into the first document`}}},
		{"urll", "meter:\n  url: tcp://127.0.0.1:502\n  urll: tcp://127.0.0.1:503\nhal:\n  backend: sim\n",
			[]FieldError{{Path: "meter.urll", Line: 3, Msg: "unknown field", Hint: `did you mean "url"?`}}},
		{"feedbak (hal check used to pass it)", minimal + "  feedbak: {name: GPIO27}\n",
			[]FieldError{{Path: "hal.feedbak", Line: 5, Msg: "unknown field", Hint: `did you mean "feedback"?`}}},
		{"unknown section, nothing close", minimal + "database:\n  path: /x\n",
			[]FieldError{{Path: "database", Line: 5, Msg: "unknown field"}}},
		{"duration word", "meter:\n  url: tcp://127.0.0.1:502\n  poll_interval: fast\nhal:\n  backend: sim\n",
			[]FieldError{{Path: "meter.poll_interval", Line: 3, Msg: `expected a duration like "1s" or "500ms", got "fast"`}}},
		{"duration without unit", "meter:\n  url: tcp://127.0.0.1:502\n  timeout: 5\nhal:\n  backend: sim\n",
			[]FieldError{{Path: "meter.timeout", Line: 3, Msg: `expected a duration like "1s" or "500ms", got "5"`, Hint: "a duration needs a unit: 5s or 5ms"}}},
		{"duration empty", "meter:\n  url: tcp://127.0.0.1:502\n  timeout:\nhal:\n  backend: sim\n",
			[]FieldError{{Path: "meter.timeout", Line: 3, Msg: `expected a duration like "1s" or "500ms", got nothing`}}},
		{"number as text", "meter:\n  url: tcp://127.0.0.1:502\n  unit: \"1\"\nhal:\n  backend: sim\n",
			[]FieldError{{Path: "meter.unit", Line: 3, Msg: `expected a whole number, got "1"`}}},
		{"number too big for its field", "meter:\n  url: tcp://127.0.0.1:502\n  unit: 300\nhal:\n  backend: sim\n",
			[]FieldError{{Path: "meter.unit", Line: 3, Msg: `expected a whole number from 0 to 255, got "300"`}}},
		{"fraction", "meter:\n  url: tcp://127.0.0.1:502\n  retries: 1.5\nhal:\n  backend: sim\n",
			[]FieldError{{Path: "meter.retries", Line: 3, Msg: `expected a whole number, got "1.5"`}}},
		{"yes is not a boolean", minimal + "sessions:\n  autostart: yes\n",
			[]FieldError{{Path: "sessions.autostart", Line: 6, Msg: `expected true or false, got "yes"`}}},
		{"text where a list belongs", minimal + "mqtt:\n  command_keys: /etc/op.pem\n",
			[]FieldError{{Path: "mqtt.command_keys", Line: 6, Msg: `expected a list, got "/etc/op.pem"`, Hint: `write a list as [a, b] or as lines starting with "- "`}}},
		{"list where text belongs", minimal + "mqtt:\n  broker: [a, b]\n",
			[]FieldError{{Path: "mqtt.broker", Line: 6, Msg: "expected text, got a list"}}},
		{"section that is not a mapping", minimal + "log: debug\n",
			[]FieldError{{Path: "log", Line: 5, Msg: `expected a mapping of fields (key: value lines), got "debug"`}}},
		{"top level that is not a mapping", "- meter\n",
			[]FieldError{{Line: 1, Msg: "expected a mapping of fields (key: value lines), got a list"}}},
		{"key given twice", "meter:\n  url: tcp://127.0.0.1:502\n  url: tcp://127.0.0.1:503\nhal:\n  backend: sim\n",
			[]FieldError{{Path: "meter.url", Line: 3, Msg: "given again; the first is on line 2"}}},
		{"alias", "meter:\n  url: &u tcp://127.0.0.1:502\nhal:\n  backend: sim\n  sim:\n    load_control_url: *u\n",
			[]FieldError{{Path: "hal.sim.load_control_url", Line: 6, Msg: `aliases like "*u" are not supported`, Hint: "write the value out"}}},
		{"custom tag", "meter:\n  url: !env METER_URL\nhal:\n  backend: sim\n",
			[]FieldError{{Path: "meter.url", Line: 2, Msg: `custom tags like "!env" are not supported`}}},
		{"list item empty", minimal + "ledger:\n  witnesses:\n    -\n",
			[]FieldError{{Path: "ledger.witnesses[0]", Line: 7, Msg: "expected text, got nothing"}}},
		{"syntax error", "meter:\n  url: tcp://127.0.0.1:502\n  poll_interval 1s\n  unit: 1\n",
			[]FieldError{{Line: 3, Msg: "not valid YAML: could not find expected ':'"}}},
		// bounds and formats, checked after decoding; the line comes from the decoder
		{"scheme typo", "meter:\n  url: tpc://127.0.0.1:502\nhal:\n  backend: sim\n",
			[]FieldError{{Path: "meter.url", Line: 2, Msg: `unsupported scheme "tpc"; expected a URL starting with tcp://, rtu:// or rtuovertcp://`}}},
		{"password in a URL", minimal + "mqtt:\n  broker: tcp://op:hunter2@broker:1883\n",
			[]FieldError{{Path: "mqtt.broker", Line: 6, Msg: "holds a password; secrets go in files (the *_file fields), never in this file"}}},
		{"witness without host", minimal + "ledger:\n  witnesses: [\"https://w1.example\", \"https:///x\"]\n",
			[]FieldError{{Path: "ledger.witnesses[1]", Line: 6, Msg: "has no host, like https://192.0.2.10:1234"}}},
		{"record interval shorter than poll", "meter:\n  url: tcp://127.0.0.1:502\n  poll_interval: 2s\nhal:\n  backend: sim\n",
			[]FieldError{{Path: "meter.record_interval_charging", Msg: "1s is shorter than meter.poll_interval (2s)"}}},
		{"too long", minimal + "sessions:\n  meter_loss_limit: 2h\n",
			[]FieldError{{Path: "sessions.meter_loss_limit", Line: 6, Msg: "2h is too long; the maximum is 10m"}}},
		{"max_duration below its minimum", minimal + "sessions:\n  max_duration: 1ms\n",
			[]FieldError{{Path: "sessions.max_duration", Line: 6, Msg: "1ms is too short; use 0 for no limit or at least 100ms"}}},
		{"http concurrency", minimal + "http:\n  max_concurrent: 0\n",
			[]FieldError{{Path: "http.max_concurrent", Line: 6, Msg: "expected a whole number from 1 to 1024, got 0"}}},
		{"public http without token", minimal + "http:\n  listen: 0.0.0.0:8080\n",
			[]FieldError{{Path: "http.token_file", Msg: "required when http.listen is not a loopback address"}}},
		{"listen without port", minimal + "http:\n  listen: localhost\n",
			[]FieldError{{Path: "http.listen", Line: 6, Msg: `expected host:port like 127.0.0.1:8080, got "localhost"`}}},
		{"wildcard prefix", minimal + "mqtt:\n  topic_prefix: a/#\n",
			[]FieldError{{Path: "mqtt.topic_prefix", Line: 6, Msg: `"a/#" contains an MQTT wildcard (# or +)`}}},
		{"unknown model", "meter:\n  url: tcp://127.0.0.1:502\n  model: sdm631\nhal:\n  backend: sim\n",
			[]FieldError{{Path: "meter.model", Line: 3, Msg: `unsupported "sdm631"; expected auto, sdm630, sdm72, sdm72-v1, sdm120, sdm230, abb-b23, em340, em24, wm3m4 or sunspec`}}},
		{"maintenance window", minimal + "update:\n  maintenance_window: 2am-5am\n",
			[]FieldError{{Path: "update.maintenance_window", Line: 6, Msg: `expected "HH:MM-HH:MM" with an optional time zone, like "02:00-05:00 Europe/Berlin", got "2am-5am"`}}},
		{"update without keys", minimal + "update:\n  enabled: true\n",
			[]FieldError{{Path: "update.trusted_keys", Msg: "at least one release key is required when update.enabled is true"}}},
		{"autostart needs free mode", minimal + "sessions:\n  autostart: true\n",
			[]FieldError{{Path: "sessions.autostart", Line: 6, Msg: "only with sessions.mode: free"}}},
		{"periph needs a relay pin", "meter:\n  url: tcp://127.0.0.1:502\n",
			[]FieldError{{Path: "hal.relay.name", Msg: "must not be empty; expected the name of a GPIO line, like GPIO17"}}},
		{"duplicate pin", "meter:\n  url: tcp://127.0.0.1:502\nhal:\n  relay: {name: GPIO17}\n  led: {name: GPIO17}\n",
			[]FieldError{{Path: "hal.led.name", Line: 5, Msg: `"GPIO17" is already used by hal.relay`}}},
		{"empty file still validates", "",
			[]FieldError{{Path: "meter.url", Msg: "must not be empty; expected a URL starting with tcp://, rtu:// or rtuovertcp://"}, {Path: "hal.relay.name", Msg: "must not be empty; expected the name of a GPIO line, like GPIO17"}}},
		{"several problems, all reported", "meter:\n  urll: tcp://127.0.0.1:502\n  poll_interval: fast\n  unit: x\nhal:\n  backend: sim\n  feedbak: {}\n",
			[]FieldError{
				{Path: "meter.urll", Line: 2, Msg: "unknown field", Hint: `did you mean "url"?`},
				{Path: "meter.poll_interval", Line: 3, Msg: `expected a duration like "1s" or "500ms", got "fast"`},
				{Path: "meter.unit", Line: 4, Msg: `expected a whole number, got "x"`},
				{Path: "hal.feedbak", Line: 7, Msg: "unknown field", Hint: `did you mean "feedback"?`},
				{Path: "meter.url", Msg: "must not be empty; expected a URL starting with tcp://, rtu:// or rtuovertcp://"},
			}},
		{"decoding and bounds problems together", "meter:\n  url: tcp://127.0.0.1:502\n  poll_interval: 1ns\n  timeout: soon\nhal:\n  backend: sim\n",
			[]FieldError{
				{Path: "meter.timeout", Line: 4, Msg: `expected a duration like "1s" or "500ms", got "soon"`},
				{Path: "meter.poll_interval", Line: 3, Msg: "1ns is too short; the minimum is 100ms"},
			}},
	}
	tests[1] = struct {
		name string
		yaml string
		want []FieldError
	}{"poll interval 2m", "meter:\n  url: tcp://127.0.0.1:502\n  poll_interval: 2m\n  record_interval_charging: 2m\n  record_interval_idle: 2m\n  reset_confirm: 2m\n  identity_interval: 2m\nhal:\n  backend: sim\nsessions:\n  meter_loss_limit: 2m\n",
		[]FieldError{{Path: "meter.poll_interval", Line: 3, Msg: "2m is too long; the maximum is 1m"}}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("accepted; want %v", tt.want)
			}
			got := fieldErrors(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got  %#v\n want %#v", got, tt.want)
			}
			// User words, never Go's: no type names leak into what an installer reads.
			for _, goWord := range []string{"time.Duration", "int64", "uint8", "config.", "gateway.", "!!", "unmarshal", "struct"} {
				if strings.Contains(err.Error(), goWord) {
					t.Errorf("message %q contains Go word %q", err, goWord)
				}
			}
		})
	}
}

func TestFieldErrorText(t *testing.T) {
	tests := []struct {
		e    FieldError
		want string
	}{
		{FieldError{Path: "meter.urll", Line: 3, Msg: "unknown field", Hint: `did you mean "url"?`}, `meter.urll: unknown field (line 3); did you mean "url"?`},
		{FieldError{Path: "meter.poll_interval", Line: 4, Msg: `expected a duration like "1s" or "500ms", got "fast"`}, `meter.poll_interval: expected a duration like "1s" or "500ms", got "fast" (line 4)`},
		{FieldError{Path: "http.token_file", Msg: "required"}, "http.token_file: required"},
		{FieldError{Line: 7, Msg: "not valid YAML: x"}, "not valid YAML: x (line 7)"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestGoodInputs(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(Config) bool
	}{
		{"minimal keeps defaults", minimal, func(c Config) bool {
			d := Default()
			d.Meter.URL, d.HAL.Backend = "tcp://127.0.0.1:502", "sim"
			return reflect.DeepEqual(c, d)
		}},
		{"eMI3 EVSE ID with separators", "device:\n  evse_id: DE*CGT*E0001*1\n" + minimal, func(c Config) bool { return c.Device.EVSEID == "DE*CGT*E0001*1" }},
		{"eMI3 EVSE ID without separators", "device:\n  evse_id: DECGTE00011\n" + minimal, func(c Config) bool { return c.Device.EVSEID == "DECGTE00011" }},
		{"DIN SPEC 91286 EVSE ID", "device:\n  evse_id: \"+49*810*000*438\"\n" + minimal, func(c Config) bool { return c.Device.EVSEID == "+49*810*000*438" }},
		{"null section keeps defaults", minimal + "mqtt:\n", func(c Config) bool { return c.MQTT.TopicPrefix == "chargegate" }},
		{"null pin is not wired", minimal + "  lid: null\n", func(c Config) bool { return c.HAL.Lid == nil }},
		{"pin in flow style", minimal + "  relay: {name: RELAY, active_low: true}\n", func(c Config) bool {
			return c.HAL.Relay == hal.Pin{Name: "RELAY", ActiveLow: true}
		}},
		{"list in block style replaces the default", minimal + "ledger:\n  witnesses:\n    - https://w1.example\n    - http://127.0.0.1:9000/w\n", func(c Config) bool {
			return reflect.DeepEqual(c.Ledger.Witnesses, []string{"https://w1.example", "http://127.0.0.1:9000/w"})
		}},
		{"max_duration 0 is no limit", minimal + "sessions:\n  max_duration: 0\n", func(c Config) bool { return c.Sessions.MaxDuration == 0 }},
		{"hex whole number", "meter:\n  url: tcp://127.0.0.1:502\n  unit: 0x10\nhal:\n  backend: sim\n", func(c Config) bool { return c.Meter.Unit == 16 }},
		{"window with zone", minimal + "update:\n  maintenance_window: 22:00-04:00 UTC\n", func(c Config) bool { return c.Update.MaintenanceWindow == "22:00-04:00 UTC" }},
		{"comments only", "# nothing here\n" + minimal + "# the end\n", func(c Config) bool { return c.Meter.URL == "tcp://127.0.0.1:502" }},
		{"one explicit document", "---\n" + minimal + "...\n", func(c Config) bool { return c.HAL.Backend == "sim" }},
		// The shapes the project itself writes (chargegate demo, the test rig) stay valid.
		{"demo's file", `# Written by chargegate demo
device:
  evse_id: "DE*CGT*EDEMO*1"
  data_dir: "/tmp/demo/gateway"
meter:
  url: "tcp://127.0.0.1:41502"
  model: sdm630
  poll_interval: 1s
  record_interval_charging: 1s
  record_interval_idle: 10s
hal:
  backend: sim
  sim:
    load_control_url: "http://127.0.0.1:41503"
    load_unit: 1
ledger:
  node_url: "http://127.0.0.1:14265"
  batch_age: 5s
http:
  listen: "127.0.0.1:0"
sessions:
  mode: free
  autostart: true
  max_duration: 2m
log:
  format: json
`, func(c Config) bool { return c.Sessions.MaxDuration == 2*time.Minute && c.HTTP.Listen == "127.0.0.1:0" }},
		{"test rig's file", `device:
  evse_id: "DE*CGT*ETEST*1"
  data_dir: "/tmp/t/data"
meter:
  url: "tcp://127.0.0.1:41502"
  model: sdm630
  poll_interval: 200ms
  record_interval_charging: 200ms
  record_interval_idle: 1s
  timeout: 300ms
hal:
  backend: sim
  feedback_timeout: 1s
  sim:
    load_control_url: "http://127.0.0.1:41503"
    lease: 1500ms
ledger:
  node_url: "http://127.0.0.1:14265"
  batch_age: 1s
mqtt:
  broker: "tcp://127.0.0.1:1883"
  in_flight: 16
http:
  listen: 127.0.0.1:0
log:
  format: json
  level: debug
sessions:
  mode: free
  meter_loss_limit: 1s
`, func(c Config) bool { return c.Meter.PollInterval == 200*time.Millisecond && c.MQTT.InFlight == 16 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("parsed to %+v", cfg)
			}
		})
	}
}

func TestParseWindow(t *testing.T) {
	tests := []struct {
		in         string
		start, end time.Duration
		zone       string
		ok         bool
	}{
		{"02:00-05:00", 2 * time.Hour, 5 * time.Hour, "UTC", true},
		{"22:30-04:00 Europe/Berlin", 22*time.Hour + 30*time.Minute, 4 * time.Hour, "Europe/Berlin", true},
		{"00:00-24:00", 0, 24 * time.Hour, "UTC", true},
		{"02:00-02:00", 0, 0, "", false},
		{"2:00-05:00", 0, 0, "", false},
		{"+1:00-05:00", 0, 0, "", false},
		{"02:60-05:00", 0, 0, "", false},
		{"24:01-05:00", 0, 0, "", false},
		{"02:00-05:00 Mars/Olympus", 0, 0, "", false},
		{"02:00-05:00 Local", 0, 0, "", false},
		{"02:00", 0, 0, "", false},
	}
	for _, tt := range tests {
		start, end, loc, err := ParseWindow(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseWindow(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && (start != tt.start || end != tt.end || loc.String() != tt.zone) {
			t.Errorf("ParseWindow(%q) = %v, %v, %v; want %v, %v, %v", tt.in, start, end, loc, tt.start, tt.end, tt.zone)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(good)
	if err != nil || cfg.Meter.URL != "tcp://127.0.0.1:502" {
		t.Fatalf("Load = %+v, %v", cfg.Meter, err)
	}

	// A file far beyond the limit is refused without being read whole.
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(minimal+"# "+strings.Repeat("x", 4<<20)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(big)
	if got := fieldErrors(t, err); len(got) != 1 || got[0].Msg != "the file is larger than the limit of 1 MiB" {
		t.Errorf("Load(big) = %v", err)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.MQTT.PasswordFile, c.HTTP.TokenFile, c.Ledger.AuthTokenFile = "/etc/chargegate/mqtt.pw", "/etc/chargegate/http.token", "/etc/chargegate/node.token"
	r := c.Redacted()
	if r.MQTT.PasswordFile != "(set)" || r.HTTP.TokenFile != "(set)" || r.Ledger.AuthTokenFile != "(set)" {
		t.Errorf("Redacted kept a credential path: %+v %+v %+v", r.MQTT, r.HTTP, r.Ledger)
	}
	if c.MQTT.PasswordFile != "/etc/chargegate/mqtt.pw" {
		t.Error("Redacted changed its receiver")
	}
	if d := Default().Redacted(); d.MQTT.PasswordFile != "" {
		t.Errorf("Redacted marked an unset credential: %q", d.MQTT.PasswordFile)
	}
}

// TestDefaultsWithinBounds: every default lies inside its own bounds, so that omitting a
// field can never make a file invalid.
func TestDefaultsWithinBounds(t *testing.T) {
	c := Default()
	c.Meter.URL, c.HAL.Backend = "tcp://127.0.0.1:502", "sim"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, r := range durationRules {
		if d := r.get(&c); !(d == 0 && r.zeroOK) && (d < r.lo || d > r.hi) {
			t.Errorf("%s default %v outside %v..%v", r.path, d, r.lo, r.hi)
		}
	}
}

// TestRulesNameRealFields: every bound is attached to a path that exists in the file format,
// so that its error points somewhere an installer can find.
func TestRulesNameRealFields(t *testing.T) {
	known := map[string]bool{}
	for _, p := range leafPaths(reflect.TypeFor[Config](), "") {
		known[p] = true
	}
	for _, r := range durationRules {
		if !known[r.path] {
			t.Errorf("duration rule for unknown path %s", r.path)
		}
	}
	for _, r := range intRules {
		if !known[r.path] {
			t.Errorf("int rule for unknown path %s", r.path)
		}
	}
}

// exampleNotDefault are the fields images/chargegate.yaml shows with a value that is not the
// default, as the file itself says ("no default"): the meter has no default address, and the
// pins are the reference wiring.
var exampleNotDefault = map[string]bool{
	"meter.url":      true,
	"hal.relay.name": true, "hal.feedback.name": true, "hal.feedback.active_low": true,
	"hal.estop.name": true, "hal.estop.active_low": true, "hal.rcd.name": true, "hal.rcd.active_low": true,
	"hal.lid.name": true, "hal.lid.active_low": true, "hal.led.name": true, "hal.led.active_low": true,
}

// TestExampleFile: images/chargegate.yaml parses, names every field, comments every field,
// and shows each field's default — compared field by field with Default.
func TestExampleFile(t *testing.T) {
	b, err := os.ReadFile("../../images/chargegate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(b)
	if err != nil {
		t.Fatalf("images/chargegate.yaml: %v", err)
	}
	root, err := oneDocument(b)
	if err != nil {
		t.Fatal(err)
	}
	d := decoder{lines: map[string]int{}, refused: map[string]bool{}}
	var scratch Config
	d.value(root, reflect.ValueOf(&scratch).Elem(), "")

	got, want := reflect.ValueOf(cfg), reflect.ValueOf(Default())
	for _, p := range leafPaths(reflect.TypeFor[Config](), "") {
		if _, ok := d.lines[p]; !ok {
			t.Errorf("images/chargegate.yaml does not show %s", p)
			continue
		}
		g, w := leaf(got, p), leaf(want, p)
		if exampleNotDefault[p] {
			if g.IsValid() && w.IsValid() && reflect.DeepEqual(g.Interface(), w.Interface()) {
				t.Errorf("%s is listed as not shown at its default, but it is", p)
			}
			continue
		}
		if !g.IsValid() || !w.IsValid() {
			t.Errorf("%s: shown %v, default %v", p, g, w)
			continue
		}
		gi, wi := g.Interface(), w.Interface()
		if g.Kind() == reflect.Slice && g.Len() == 0 && w.Len() == 0 {
			continue // [] in the file, nil by default: the same empty list
		}
		if !reflect.DeepEqual(gi, wi) {
			t.Errorf("images/chargegate.yaml shows %s: %v, but the default is %v", p, gi, wi)
		}
	}
	for _, p := range commentless(root, "") {
		t.Errorf("images/chargegate.yaml: %s has no comment saying what it is", p)
	}
}

// leafPaths lists the YAML paths of every settable value of t: structs are walked into, pins
// (pointers to structs) too.
func leafPaths(t reflect.Type, prefix string) []string {
	var out []string
	fields := yamlFields(t)
	for name, idx := range fields {
		ft := t.FieldByIndex(idx).Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		p := prefix + name
		if ft.Kind() == reflect.Struct {
			out = append(out, leafPaths(ft, p+".")...)
			continue
		}
		out = append(out, p)
	}
	return out
}

// leaf follows a YAML path into v; the zero Value if a nil pointer is on the way.
func leaf(v reflect.Value, path string) reflect.Value {
	for _, key := range strings.Split(path, ".") {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}
			}
			v = v.Elem()
		}
		v = v.FieldByIndex(yamlFields(v.Type())[key])
	}
	return v
}

// commentless lists the keys of block mappings whose values are not sections and that have no
// comment on their line or above them.
func commentless(n *yaml.Node, path string) []string {
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 {
			out = append(out, commentless(v, p)...)
			continue
		}
		if k.HeadComment == "" && k.LineComment == "" && v.LineComment == "" {
			out = append(out, p)
		}
	}
	return out
}
