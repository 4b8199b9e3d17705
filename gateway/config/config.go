package config

import (
	"time"

	"github.com/chargegate/chargegate/hal"
)

// Config is the whole gateway configuration, read from one YAML file. images/chargegate.yaml
// documents every field with its default, unit and bounds; doc.go documents the format and
// the errors. Libraries never see this type: the wiring hands each part plain values.
type Config struct {
	Device   DeviceConfig   `yaml:"device"`
	Meter    MeterConfig    `yaml:"meter"`
	HAL      HALConfig      `yaml:"hal"`
	Ledger   LedgerConfig   `yaml:"ledger"`
	MQTT     MQTTConfig     `yaml:"mqtt"`
	OCPP     OCPPConfig     `yaml:"ocpp"`
	Access   AccessConfig   `yaml:"access"`
	HTTP     HTTPConfig     `yaml:"http"`
	Sessions SessionsConfig `yaml:"sessions"`
	Update   UpdateConfig   `yaml:"update"`
	Log      LogConfig      `yaml:"log"`
	// EVSEs lists the charging points of a box with several; empty: one, configured by
	// device.evse_id, meter: and hal: as before.
	EVSEs []EVSEConfig `yaml:"evses"`
	// Site is the load management of the box's EVSEs (with evses:).
	Site SiteConfig `yaml:"site"`
}

// DeviceConfig names the charge point and where its data lives.
type DeviceConfig struct {
	EVSEID  string `yaml:"evse_id"`  // ISO 15118 / eMI3 EVSE ID, e.g. DE*CGT*E0001*1; empty = none
	DataDir string `yaml:"data_dir"` // keys, database, session state
}

// MeterConfig selects the energy meter, the poll and record cadence and the plausibility
// limits the meter's readings are held to.
type MeterConfig struct {
	URL                    string        `yaml:"url"`   // tcp://, rtu://, rtuovertcp://
	Model                  string        `yaml:"model"` // a meter model name or "auto"
	Unit                   uint8         `yaml:"unit"`  // Modbus unit ID
	Timeout                time.Duration `yaml:"timeout"`
	Retries                int           `yaml:"retries"`
	PollInterval           time.Duration `yaml:"poll_interval"`
	RecordIntervalCharging time.Duration `yaml:"record_interval_charging"`
	RecordIntervalIdle     time.Duration `yaml:"record_interval_idle"`
	// MaxPowerW bounds how fast the energy counter may rise (watts); 0 = the model's rating.
	MaxPowerW int64 `yaml:"max_power_w"`
	// ResetConfirm is how long a counter reset must stay consistent before it is accepted.
	ResetConfirm time.Duration `yaml:"reset_confirm"`
	// IdentityInterval is how often the identity block is read when nothing went wrong.
	IdentityInterval time.Duration `yaml:"identity_interval"`
	// ReconnectMax is the longest wait between reconnect attempts.
	ReconnectMax time.Duration `yaml:"reconnect_max"`
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
	// VehicleListen is a loopback host:port serving each simulated vehicle (evses with
	// current_control pilot) at /evse/N/vehicle: GET its state, POST {"plugged":true,
	// "request":true} to drive it (hal/sim Vehicle); empty = not served.
	VehicleListen string `yaml:"vehicle_listen"`
}

// LedgerConfig configures the local store, the anchoring node and the checkpoint witnesses.
type LedgerConfig struct {
	NodeURL       string        `yaml:"node_url"`        // IOTA node core API base URL; empty disables anchoring
	AuthTokenFile string        `yaml:"auth_token_file"` // bearer token for the node (mode 0600); empty = none
	BatchSize     int           `yaml:"batch_size"`
	BatchAge      time.Duration `yaml:"batch_age"`
	DiskBudgetMB  int64         `yaml:"disk_budget_mb"`
	// DiskQuotaKB caps the database's size (KiB): reaching it is a full disk, with the same
	// reserve for closing entries; 0 = only the filesystem's size.
	DiskQuotaKB int64         `yaml:"disk_quota_kb"`
	Retention   time.Duration `yaml:"retention"`
	Witnesses   []string      `yaml:"witnesses"` // "URL VKEY" of each checkpoint witness
}

// MQTTConfig configures the operator link.
// AccessConfig names the issuers whose signed capability tokens (gateway/access) may start
// sessions, verified on the box without a network.
type AccessConfig struct {
	Issuers    []string `yaml:"issuers"`     // "KID=FILE": an issuer's key ID and its Ed25519 public key (PEM)
	EVSEGroups []string `yaml:"evse_groups"` // groups this EVSE belongs to, for tokens that name a group
	// OfflineUnknown lets any unknown id_token charge while the box cannot ask online (free
	// vend when offline); the allow-list, the cache and signed tokens always count offline.
	OfflineUnknown bool       `yaml:"offline_unknown"`
	RFID           RFIDConfig `yaml:"rfid"`
}

// RFIDConfig selects the contactless card reader whose card UIDs are id_tokens (hal/mfrc522,
// wiring in hal/doc.go).
type RFIDConfig struct {
	Reader   string `yaml:"reader"`    // "" (none) | mfrc522 | sim
	SPI      string `yaml:"spi"`       // mfrc522: SPI port, e.g. /dev/spidev0.0
	ResetPin string `yaml:"reset_pin"` // mfrc522: reset line, e.g. GPIO25
	IRQPin   string `yaml:"irq_pin"`   // mfrc522: interrupt line, e.g. GPIO24
	Gain     int    `yaml:"gain"`      // mfrc522: receiver gain 1..7, 0 = the driver's default
	// SimFIFO is the FIFO the simulated reader takes commands from (hal/sim: "tap 04A1B2C3");
	// "" = rfid.fifo in the data directory.
	SimFIFO string `yaml:"sim_fifo"`
}

// OCPPConfig configures the OCPP 1.6J link to the operator's CSMS (package gateway/ocpp).
type OCPPConfig struct {
	URL          string `yaml:"url"`           // ws:// or wss://; the identity is appended; empty disables OCPP
	Version      string `yaml:"version"`       // "1.6" (default, also when empty) or "2.0.1": the protocol face
	Identity     string `yaml:"identity"`      // the charge point's identity at the CSMS
	PasswordFile string `yaml:"password_file"` // security profile 1: basic auth password (mode 0600)
	CAFile       string `yaml:"ca_file"`       // wss://: PEM CA bundle that signs the CSMS certificate (profile 2)
	CertFile     string `yaml:"cert_file"`     // wss://: client certificate (profile 3); key_file goes with it
	KeyFile      string `yaml:"key_file"`      // mode 0600
	// FallbackIDTag is the idTag reported for sessions without one OCPP can carry.
	FallbackIDTag string `yaml:"fallback_id_tag"`
	// HeartbeatInterval applies until the CSMS sets its own; MeterValueSampleInterval, 0 = off.
	HeartbeatInterval        time.Duration `yaml:"heartbeat_interval"`
	MeterValueSampleInterval time.Duration `yaml:"meter_value_sample_interval"`
}

type MQTTConfig struct {
	Broker       string        `yaml:"broker"` // tcp://, ssl://, tls://, mqtt://, mqtts://, ws://, wss://; empty disables the link
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
	// command must be signed; unsigned ones are refused.
	CommandKeys []string `yaml:"command_keys"`
}

// HTTPConfig configures the local status API.
type HTTPConfig struct {
	Listen        string `yaml:"listen"`         // host:port; empty disables
	TokenFile     string `yaml:"token_file"`     // required when Listen is not a loopback address
	MaxConcurrent int    `yaml:"max_concurrent"` // requests served at once; more are answered 503 at once
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
	// MaintenanceWindow is "HH:MM-HH:MM" with an optional IANA zone ("02:00-05:00
	// Europe/Berlin", UTC without one); empty = any time. See ParseWindow.
	MaintenanceWindow string        `yaml:"maintenance_window"`
	StallTimeout      time.Duration `yaml:"stall_timeout"` // a download receiving nothing this long is retried
	MinRate           int64         `yaml:"min_rate"`      // bytes/s over a stall_timeout window below which a download fails as too slow; 0 = the agent's default
	RetryDelay        time.Duration `yaml:"retry_delay"`   // first back-off after a failed download attempt
	MaxAttempts       int           `yaml:"max_attempts"`  // failed attempts in a row before the update fails
	PollInterval      time.Duration `yaml:"poll_interval"` // how often PollURL is checked
	PollURL           string        `yaml:"poll_url"`      // where to look for a newer bundle; empty = push only
	FloorPath         string        `yaml:"floor_path"`    // security-version floor file; empty = inside StateDir
}

// LogConfig sets the log format and level.
type LogConfig struct {
	Format string `yaml:"format"` // json | text
	Level  string `yaml:"level"`  // debug | info | warn | error
}

// Default returns the configuration every omitted field falls back to. It does not pass
// Validate on its own: meter.url has no default, and the periph backend needs hal.relay.
func Default() Config {
	return Config{
		Device: DeviceConfig{DataDir: "/var/lib/chargegate"},
		Meter: MeterConfig{
			Model: "auto", Unit: 1, Timeout: time.Second, Retries: 1,
			PollInterval: time.Second, RecordIntervalCharging: time.Second, RecordIntervalIdle: time.Minute,
			ResetConfirm: time.Minute, IdentityInterval: 10 * time.Minute, ReconnectMax: 30 * time.Second,
		},
		HAL: HALConfig{
			Backend: "periph",
			Config:  hal.Config{FeedbackTimeout: hal.DefaultFeedbackTimeout, Debounce: hal.DefaultDebounce},
			Sim:     SimConfig{LoadUnit: 1, Lease: 3 * time.Second},
		},
		Ledger: LedgerConfig{BatchSize: 10000, BatchAge: time.Minute, DiskBudgetMB: 1024, Retention: 30 * 24 * time.Hour},
		MQTT:   MQTTConfig{TopicPrefix: "chargegate", InFlight: 64, KeepAlive: 30 * time.Second},
		OCPP:   OCPPConfig{Version: "1.6", FallbackIDTag: "chargegate", HeartbeatInterval: 5 * time.Minute, MeterValueSampleInterval: time.Minute},
		HTTP:   HTTPConfig{Listen: "127.0.0.1:8080", MaxConcurrent: 8},
		Sessions: SessionsConfig{
			Mode: "authorized", MeterLossLimit: 10 * time.Second,
		},
		Update: UpdateConfig{
			StateDir: "/var/lib/chargegate/update", Slots: "tryboot", SlotDir: "/var/lib/chargegate/slots",
			Hardware: "rpi4", HealthDeadline: 5 * time.Minute,
			StallTimeout: time.Minute, RetryDelay: 2 * time.Second, MaxAttempts: 10, PollInterval: time.Hour,
		},
		Log:  LogConfig{Format: "json", Level: "info"},
		Site: SiteConfig{Mode: "grid", Interval: time.Second, Voltage: 230, FallbackAfter: time.Minute},
	}
}

// Redacted returns the configuration as an operator may see it: secrets are referenced by path
// only, so nothing needs blanking, but the fields that name credentials say only whether they
// are set.
func (c Config) Redacted() Config {
	r := c
	for _, p := range []*string{&r.MQTT.PasswordFile, &r.HTTP.TokenFile, &r.Ledger.AuthTokenFile} {
		if *p != "" {
			*p = "(set)"
		}
	}
	return r
}
