package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/chargegate/chargegate/hal"
)

// Config is the whole gateway configuration, read from one YAML file. images/chargegate.yaml
// documents every field with its default and unit. Libraries never see this type: the gateway
// hands each part plain values.
type Config struct {
	Device   DeviceConfig   `yaml:"device"`
	Meter    MeterConfig    `yaml:"meter"`
	HAL      HALConfig      `yaml:"hal"`
	Ledger   LedgerConfig   `yaml:"ledger"`
	MQTT     MQTTConfig     `yaml:"mqtt"`
	HTTP     HTTPConfig     `yaml:"http"`
	Sessions SessionsConfig `yaml:"sessions"`
	Update   UpdateConfig   `yaml:"update"`
	Log      LogConfig      `yaml:"log"`
}

// DeviceConfig names the charge point and where its data lives.
type DeviceConfig struct {
	EVSEID  string `yaml:"evse_id"`  // e.g. DE*CGT*E0001*1; shown in OCMF records
	DataDir string `yaml:"data_dir"` // keys, database, session state
}

// MeterConfig selects the energy meter and the poll and record cadence.
type MeterConfig struct {
	URL                    string        `yaml:"url"`   // tcp://, rtu://, rtuovertcp://
	Model                  string        `yaml:"model"` // a meter model name or "auto"
	Unit                   uint8         `yaml:"unit"`
	Timeout                time.Duration `yaml:"timeout"`
	Retries                int           `yaml:"retries"`
	PollInterval           time.Duration `yaml:"poll_interval"`
	RecordIntervalCharging time.Duration `yaml:"record_interval_charging"`
	RecordIntervalIdle     time.Duration `yaml:"record_interval_idle"`
}

// HALConfig selects the hardware backend and its pins.
type HALConfig struct {
	Backend    string `yaml:"backend"` // periph | sim
	hal.Config `yaml:",inline"`
	Sim        SimConfig `yaml:"sim"`
}

// SimConfig configures the simulated board: which meter simulator load its contactor switches.
type SimConfig struct {
	LoadControlURL string        `yaml:"load_control_url"` // metersim control endpoint, empty = none
	LoadUnit       uint8         `yaml:"load_unit"`
	Lease          time.Duration `yaml:"lease"` // the load drops if not renewed, like a coil without its driver
}

// LedgerConfig configures the local store and the anchoring node.
type LedgerConfig struct {
	NodeURL      string        `yaml:"node_url"` // IOTA node core API base URL; empty disables anchoring
	BatchSize    int           `yaml:"batch_size"`
	BatchAge     time.Duration `yaml:"batch_age"`
	DiskBudgetMB int64         `yaml:"disk_budget_mb"`
	Retention    time.Duration `yaml:"retention"`
}

// MQTTConfig configures the operator link.
type MQTTConfig struct {
	Broker       string        `yaml:"broker"` // tcp://, ssl://, tls://, ws://, wss://; empty disables the link
	ClientID     string        `yaml:"client_id"`
	TopicPrefix  string        `yaml:"topic_prefix"`
	CAFile       string        `yaml:"ca_file"`
	CertFile     string        `yaml:"cert_file"`
	KeyFile      string        `yaml:"key_file"`
	Username     string        `yaml:"username"`
	PasswordFile string        `yaml:"password_file"`
	InFlight     int           `yaml:"in_flight"`
	KeepAlive    time.Duration `yaml:"keep_alive"`
	// CommandKeys are PEM files with the operator's Ed25519 public keys. When set, every
	// command must be signed (see SignedCommand); unsigned ones are refused.
	CommandKeys []string `yaml:"command_keys"`
}

// HTTPConfig configures the local status API.
type HTTPConfig struct {
	Listen    string `yaml:"listen"`     // empty disables
	TokenFile string `yaml:"token_file"` // required when Listen is not a loopback address
	// MaxConcurrent bounds the requests served at once; the rest are answered 503 at once.
	MaxConcurrent int `yaml:"max_concurrent"`
}

// SessionsConfig sets how charging sessions start and end.
type SessionsConfig struct {
	Mode           string        `yaml:"mode"`      // free | authorized
	Autostart      bool          `yaml:"autostart"` // free mode: start a session whenever idle (demo)
	MaxEnergyWh    int64         `yaml:"max_energy_wh"`
	MaxDuration    time.Duration `yaml:"max_duration"`
	MeterLossLimit time.Duration `yaml:"meter_loss_limit"`
}

// UpdateConfig configures the over-the-air update agent.
type UpdateConfig struct {
	Enabled        bool          `yaml:"enabled"`
	StateDir       string        `yaml:"state_dir"`
	Slots          string        `yaml:"slots"` // tryboot | files
	SlotDir        string        `yaml:"slot_dir"`
	Hardware       string        `yaml:"hardware"`
	TrustedKeys    []string      `yaml:"trusted_keys"` // files holding Ed25519 release public keys
	HealthDeadline time.Duration `yaml:"health_deadline"`
	BandwidthLimit int64         `yaml:"bandwidth_limit"` // bytes per second, 0 = none
}

// LogConfig sets the log format and level.
type LogConfig struct {
	Format string `yaml:"format"` // json | text
	Level  string `yaml:"level"`  // debug | info | warn | error
}

// DefaultConfig returns the configuration every omitted field falls back to.
func DefaultConfig() Config {
	return Config{
		Device: DeviceConfig{DataDir: "/var/lib/chargegate"},
		Meter: MeterConfig{
			Model: "auto", Unit: 1, Timeout: time.Second, Retries: 1,
			PollInterval: time.Second, RecordIntervalCharging: time.Second, RecordIntervalIdle: time.Minute,
		},
		HAL: HALConfig{
			Backend: "periph",
			Config:  hal.Config{FeedbackTimeout: 200 * time.Millisecond, Debounce: 20 * time.Millisecond},
			Sim:     SimConfig{LoadUnit: 1, Lease: 3 * time.Second},
		},
		Ledger: LedgerConfig{BatchSize: 10000, BatchAge: time.Minute, DiskBudgetMB: 1024, Retention: 30 * 24 * time.Hour},
		MQTT:   MQTTConfig{TopicPrefix: "chargegate", InFlight: 64, KeepAlive: 30 * time.Second},
		HTTP:   HTTPConfig{Listen: "127.0.0.1:8080", MaxConcurrent: 8},
		Sessions: SessionsConfig{
			Mode: "authorized", MeterLossLimit: 10 * time.Second,
		},
		Update: UpdateConfig{
			StateDir: "/var/lib/chargegate/update", Slots: "tryboot", SlotDir: "/var/lib/chargegate/slots",
			Hardware: "rpi4", HealthDeadline: 5 * time.Minute,
		},
		Log: LogConfig{Format: "json", Level: "info"},
	}
}

// LoadConfig reads and validates the YAML file at path on top of DefaultConfig. Unknown fields
// are errors, so a typo never silently falls back to a default.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(b)
}

// ParseConfig decodes and validates YAML configuration bytes on top of DefaultConfig.
func ParseConfig(b []byte) (Config, error) {
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// An empty file means "all defaults": yaml.v3 reports it as io.EOF.
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("parse config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// FieldError is a configuration error that names the offending field by its YAML path.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks every field and returns all problems, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.Device.DataDir == "" {
		add(fieldErr("device.data_dir", "empty"))
	}
	add(checkURL("meter.url", c.Meter.URL, true, "tcp", "rtu", "rtuovertcp"))
	if c.Meter.Unit == 0 || c.Meter.Unit > 247 {
		add(fieldErr("meter.unit", "%d outside 1..247", c.Meter.Unit))
	}
	add(positive("meter.timeout", c.Meter.Timeout))
	if c.Meter.Retries < 0 {
		add(fieldErr("meter.retries", "negative"))
	}
	add(positive("meter.poll_interval", c.Meter.PollInterval))
	add(positive("meter.record_interval_charging", c.Meter.RecordIntervalCharging))
	add(positive("meter.record_interval_idle", c.Meter.RecordIntervalIdle))
	if c.Meter.RecordIntervalCharging < c.Meter.PollInterval {
		add(fieldErr("meter.record_interval_charging", "%v shorter than meter.poll_interval %v", c.Meter.RecordIntervalCharging, c.Meter.PollInterval))
	}
	switch c.HAL.Backend {
	case "periph", "sim":
	default:
		add(fieldErr("hal.backend", "unsupported %q (periph or sim)", c.HAL.Backend))
	}
	if c.HAL.Backend == "periph" {
		add(c.HAL.Config.Validate())
	}
	if c.HAL.Sim.LoadControlURL != "" {
		add(checkURL("hal.sim.load_control_url", c.HAL.Sim.LoadControlURL, true, "http"))
	}
	add(checkURL("ledger.node_url", c.Ledger.NodeURL, false, "http", "https"))
	if c.Ledger.BatchSize < 1 {
		add(fieldErr("ledger.batch_size", "must be at least 1"))
	}
	add(positive("ledger.batch_age", c.Ledger.BatchAge))
	if c.Ledger.DiskBudgetMB < 1 {
		add(fieldErr("ledger.disk_budget_mb", "must be at least 1"))
	}
	add(checkURL("mqtt.broker", c.MQTT.Broker, false, "tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss"))
	if c.MQTT.Broker != "" {
		if c.MQTT.TopicPrefix == "" || strings.ContainsAny(c.MQTT.TopicPrefix, "#+") {
			add(fieldErr("mqtt.topic_prefix", "must be non-empty and free of MQTT wildcards"))
		}
		if c.MQTT.InFlight < 1 || c.MQTT.InFlight > 65535 {
			add(fieldErr("mqtt.in_flight", "%d outside 1..65535", c.MQTT.InFlight))
		}
		if (c.MQTT.CertFile == "") != (c.MQTT.KeyFile == "") {
			add(fieldErr("mqtt.cert_file", "cert_file and key_file go together"))
		}
	}
	if c.HTTP.Listen != "" {
		host, _, err := net.SplitHostPort(c.HTTP.Listen)
		if err != nil {
			add(fieldErr("http.listen", "%v", err))
		} else if !isLoopback(host) && c.HTTP.TokenFile == "" {
			add(fieldErr("http.token_file", "required when http.listen is not a loopback address"))
		}
	}
	switch c.Sessions.Mode {
	case "free", "authorized":
	default:
		add(fieldErr("sessions.mode", "unsupported %q (free or authorized)", c.Sessions.Mode))
	}
	if c.Sessions.Autostart && c.Sessions.Mode != "free" {
		add(fieldErr("sessions.autostart", "only with sessions.mode: free"))
	}
	if c.Sessions.MaxEnergyWh < 0 {
		add(fieldErr("sessions.max_energy_wh", "negative"))
	}
	add(positive("sessions.meter_loss_limit", c.Sessions.MeterLossLimit))
	if c.Update.Enabled {
		switch c.Update.Slots {
		case "tryboot", "files":
		default:
			add(fieldErr("update.slots", "unsupported %q (tryboot or files)", c.Update.Slots))
		}
		if len(c.Update.TrustedKeys) == 0 {
			add(fieldErr("update.trusted_keys", "at least one release key is required"))
		}
		if c.Update.StateDir == "" {
			add(fieldErr("update.state_dir", "empty"))
		}
		if c.Update.Slots == "files" && c.Update.SlotDir == "" {
			add(fieldErr("update.slot_dir", "required with update.slots: files"))
		}
		if c.Update.BandwidthLimit < 0 {
			add(fieldErr("update.bandwidth_limit", "negative"))
		}
		if c.Update.Hardware == "" {
			add(fieldErr("update.hardware", "empty"))
		}
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		add(fieldErr("log.format", "unsupported %q (json or text)", c.Log.Format))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add(fieldErr("log.level", "unsupported %q", c.Log.Level))
	}
	return errors.Join(errs...)
}

func positive(field string, d time.Duration) error {
	if d <= 0 {
		return fieldErr(field, "must be positive, got %v", d)
	}
	return nil
}

func checkURL(field, raw string, required bool, schemes ...string) error {
	if raw == "" {
		if required {
			return fieldErr(field, "empty")
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fieldErr(field, "%v", err)
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return nil
		}
	}
	return fieldErr(field, "unsupported scheme %q (want %s)", u.Scheme, strings.Join(schemes, ", "))
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Redacted returns the configuration as an operator may see it: secrets are referenced by path
// only, so nothing needs blanking, but the fields that name credentials say whether they are set.
func (c Config) Redacted() Config {
	r := c
	if r.MQTT.PasswordFile != "" {
		r.MQTT.PasswordFile = "(set)"
	}
	if r.HTTP.TokenFile != "" {
		r.HTTP.TokenFile = "(set)"
	}
	return r
}
