package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/meter"
)

// Limits on text fields, in bytes of UTF-8.
const (
	maxEVSEID = 48   // OCPI's EVSE.evse_id is CiString(48); the formats below are shorter still
	maxName   = 128  // client IDs, topic prefixes, user names, hardware names, pin names
	maxURL    = 2048 // what common HTTP servers accept in a request line
	maxPath   = 4096 // Linux PATH_MAX
	maxList   = 16   // keys and witnesses: a handful each
)

// durationRule bounds one duration field. Zero is allowed only where it means "off".
type durationRule struct {
	path   string
	get    func(*Config) time.Duration
	lo, hi time.Duration
	zeroOK bool
}

// durationRules are the bounds of every duration in the file, documented in doc.go and
// images/chargegate.yaml. Values outside them are mistakes ("1ns", "200s" for "200ms"), not
// plausible settings. hal.feedback_timeout and hal.debounce are bounded by hal.Config.Validate.
var durationRules = []durationRule{
	{"ocpp.heartbeat_interval", func(c *Config) time.Duration { return c.OCPP.HeartbeatInterval }, 10 * time.Second, 24 * time.Hour, false},
	{"ocpp.meter_value_sample_interval", func(c *Config) time.Duration { return c.OCPP.MeterValueSampleInterval }, time.Second, 24 * time.Hour, true},
	{"meter.timeout", func(c *Config) time.Duration { return c.Meter.Timeout }, 10 * time.Millisecond, 30 * time.Second, false},
	{"meter.poll_interval", func(c *Config) time.Duration { return c.Meter.PollInterval }, 100 * time.Millisecond, time.Minute, false},
	{"meter.record_interval_charging", func(c *Config) time.Duration { return c.Meter.RecordIntervalCharging }, 100 * time.Millisecond, time.Hour, false},
	{"meter.record_interval_idle", func(c *Config) time.Duration { return c.Meter.RecordIntervalIdle }, 100 * time.Millisecond, 24 * time.Hour, false},
	{"meter.reset_confirm", func(c *Config) time.Duration { return c.Meter.ResetConfirm }, 10 * time.Second, time.Hour, false},
	{"meter.identity_interval", func(c *Config) time.Duration { return c.Meter.IdentityInterval }, time.Second, 24 * time.Hour, false},
	{"meter.reconnect_max", func(c *Config) time.Duration { return c.Meter.ReconnectMax }, time.Second, 10 * time.Minute, false},
	{"hal.sim.lease", func(c *Config) time.Duration { return c.HAL.Sim.Lease }, 100 * time.Millisecond, time.Minute, false},
	{"ledger.batch_age", func(c *Config) time.Duration { return c.Ledger.BatchAge }, 100 * time.Millisecond, 24 * time.Hour, false},
	{"ledger.retention", func(c *Config) time.Duration { return c.Ledger.Retention }, time.Hour, 10 * 8766 * time.Hour, false},
	{"mqtt.keep_alive", func(c *Config) time.Duration { return c.MQTT.KeepAlive }, time.Second, 65535 * time.Second, false},
	{"sessions.max_duration", func(c *Config) time.Duration { return c.Sessions.MaxDuration }, 100 * time.Millisecond, 30 * 24 * time.Hour, true},
	{"sessions.meter_loss_limit", func(c *Config) time.Duration { return c.Sessions.MeterLossLimit }, 100 * time.Millisecond, 10 * time.Minute, false},
	{"update.health_deadline", func(c *Config) time.Duration { return c.Update.HealthDeadline }, 10 * time.Second, time.Hour, false},
	{"update.stall_timeout", func(c *Config) time.Duration { return c.Update.StallTimeout }, 5 * time.Second, time.Hour, false},
	{"update.retry_delay", func(c *Config) time.Duration { return c.Update.RetryDelay }, 100 * time.Millisecond, time.Hour, false},
	{"update.poll_interval", func(c *Config) time.Duration { return c.Update.PollInterval }, time.Minute, 7 * 24 * time.Hour, false},
}

// intRule bounds one integer field.
type intRule struct {
	path   string
	get    func(*Config) int64
	lo, hi int64
}

var intRules = []intRule{
	{"meter.unit", func(c *Config) int64 { return int64(c.Meter.Unit) }, 1, 247}, // Modbus: 0 is broadcast, 248..255 reserved
	{"meter.retries", func(c *Config) int64 { return int64(c.Meter.Retries) }, 0, 10},
	{"meter.max_power_w", func(c *Config) int64 { return c.Meter.MaxPowerW }, 0, 10_000_000},
	{"hal.sim.load_unit", func(c *Config) int64 { return int64(c.HAL.Sim.LoadUnit) }, 1, 247},
	{"ledger.batch_size", func(c *Config) int64 { return int64(c.Ledger.BatchSize) }, 1, 1_000_000},
	{"ledger.disk_budget_mb", func(c *Config) int64 { return c.Ledger.DiskBudgetMB }, 1, 1 << 20},
	{"ledger.disk_quota_kb", func(c *Config) int64 { return c.Ledger.DiskQuotaKB }, 0, 1 << 30},
	{"mqtt.in_flight", func(c *Config) int64 { return int64(c.MQTT.InFlight) }, 1, 65535},
	{"http.max_concurrent", func(c *Config) int64 { return int64(c.HTTP.MaxConcurrent) }, 1, 1024},
	{"sessions.max_energy_wh", func(c *Config) int64 { return c.Sessions.MaxEnergyWh }, 0, 10_000_000},
	{"update.bandwidth_limit", func(c *Config) int64 { return c.Update.BandwidthLimit }, 0, 10_000_000_000},
	{"update.min_rate", func(c *Config) int64 { return c.Update.MinRate }, 0, 1_000_000_000},
	{"update.max_attempts", func(c *Config) int64 { return int64(c.Update.MaxAttempts) }, 1, 1000},
}

// Validate checks every field and returns all problems, each a *FieldError naming its
// YAML path, joined with errors.Join (Line is 0; Parse fills it in).
func (c *Config) Validate() error {
	v := &checker{}

	// device
	v.evseID("device.evse_id", c.Device.EVSEID)
	v.path("device.data_dir", c.Device.DataDir, true)

	// meter
	v.url("meter.url", c.Meter.URL, true, "tcp", "rtu", "rtuovertcp")
	v.oneOf("meter.model", c.Meter.Model, meter.ModelNames()...)
	for _, r := range durationRules {
		v.duration(r, r.get(c))
	}
	for _, r := range intRules {
		v.intRange(r.path, r.get(c), r.lo, r.hi)
	}
	poll := c.Meter.PollInterval
	v.notShorter("meter.record_interval_charging", c.Meter.RecordIntervalCharging, "meter.poll_interval", poll)
	v.notShorter("meter.record_interval_idle", c.Meter.RecordIntervalIdle, "meter.poll_interval", poll)
	v.notShorter("meter.reset_confirm", c.Meter.ResetConfirm, "meter.poll_interval", poll)
	if w := c.Meter.MaxPowerW; w > 0 && w < 100 {
		v.add("meter.max_power_w", "%d W is below any meter's rating; 0 means the model's rating, else 100..10000000", w)
	}
	v.notShorter("meter.identity_interval", c.Meter.IdentityInterval, "meter.poll_interval", poll)
	v.notShorter("sessions.meter_loss_limit", c.Sessions.MeterLossLimit, "meter.poll_interval", poll)
	if c.Sessions.MaxDuration != 0 {
		v.notShorter("sessions.max_duration", c.Sessions.MaxDuration, "meter.poll_interval", poll)
	}

	// hal
	v.oneOf("hal.backend", c.HAL.Backend, "periph", "sim")
	for _, p := range c.wiredPins() {
		v.text("hal."+p.field+".name", p.name, maxName)
	}
	if c.HAL.Backend == "periph" {
		if len(c.EVSEs) == 0 {
			v.fromHAL(c.HAL.Config.Validate())
		}
		for i := range c.EVSEs {
			if r := c.EVSEs[i].Contactor.Relay; r != nil && r.Name != "" {
				v.fromHAL(c.EVSEBoard(i).Validate())
			}
		}
	}
	v.validateEVSEs(c)
	v.url("hal.sim.load_control_url", c.HAL.Sim.LoadControlURL, false, "http", "https")
	if l := c.HAL.Sim.VehicleListen; l != "" && v.text("hal.sim.vehicle_listen", l, maxName) {
		host, port, err := net.SplitHostPort(l)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 || !isLoopback(host) {
			v.add("hal.sim.vehicle_listen", "expected a loopback host:port like 127.0.0.1:8082, got %s: the simulated vehicles take commands from anyone who reaches them", quote(l))
		}
	}

	// ledger
	v.url("ledger.node_url", c.Ledger.NodeURL, false, "http", "https")
	v.path("ledger.auth_token_file", c.Ledger.AuthTokenFile, false)
	v.list("ledger.witnesses", c.Ledger.Witnesses, v.witness)

	// mqtt
	v.url("mqtt.broker", c.MQTT.Broker, false, "tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss")
	v.text("mqtt.client_id", c.MQTT.ClientID, maxName)
	v.topicPrefix("mqtt.topic_prefix", c.MQTT.TopicPrefix)
	v.text("mqtt.username", c.MQTT.Username, maxName)
	for _, f := range []struct{ path, val string }{
		{"mqtt.ca_file", c.MQTT.CAFile}, {"mqtt.cert_file", c.MQTT.CertFile},
		{"mqtt.key_file", c.MQTT.KeyFile}, {"mqtt.password_file", c.MQTT.PasswordFile},
	} {
		v.path(f.path, f.val, false)
	}
	if (c.MQTT.CertFile == "") != (c.MQTT.KeyFile == "") {
		v.add("mqtt.cert_file", "cert_file and key_file go together: set both or neither")
	}
	if c.MQTT.PasswordFile != "" && c.MQTT.Username == "" {
		v.add("mqtt.username", "required with mqtt.password_file")
	}
	v.list("mqtt.command_keys", c.MQTT.CommandKeys, func(p, s string) { v.path(p, s, true) })

	// access
	v.list("access.issuers", c.Access.Issuers, func(p, s string) {
		kid, file, ok := strings.Cut(s, "=")
		if !ok || kid == "" || file == "" {
			v.add(p, "expected \"KID=FILE\": the issuer's key ID and its public key file")
			return
		}
		v.path(p, file, true)
	})
	v.list("access.evse_groups", c.Access.EVSEGroups, func(p, s string) { v.text(p, s, maxName) })
	v.oneOf("access.rfid.reader", c.Access.RFID.Reader, "", "mfrc522", "sim")
	if c.Access.RFID.Reader == "mfrc522" {
		for _, f := range []struct{ path, val string }{{"access.rfid.reset_pin", c.Access.RFID.ResetPin}, {"access.rfid.irq_pin", c.Access.RFID.IRQPin}} {
			if v.text(f.path, f.val, maxName) && f.val == "" {
				v.add(f.path, "required with access.rfid.reader mfrc522")
			}
		}
	}
	v.text("access.rfid.spi", c.Access.RFID.SPI, maxName)
	v.intRange("access.rfid.gain", int64(c.Access.RFID.Gain), 0, 7)
	v.path("access.rfid.sim_fifo", c.Access.RFID.SimFIFO, false)

	// ocpp
	v.url("ocpp.url", c.OCPP.URL, false, "ws", "wss")
	if c.OCPP.Version != "" && c.OCPP.Version != "1.6" && c.OCPP.Version != "2.0.1" {
		v.add("ocpp.version", `expected "1.6" or "2.0.1"`)
	}
	if c.OCPP.URL != "" && c.OCPP.Identity == "" {
		v.add("ocpp.identity", "required with ocpp.url: the charge point's identity at the CSMS")
	}
	if v.text("ocpp.identity", c.OCPP.Identity, 48) && strings.ContainsAny(c.OCPP.Identity, "/?#% ") {
		v.add("ocpp.identity", "may not hold / ? # %% or spaces: it is the last segment of the URL")
	}
	if v.text("ocpp.fallback_id_tag", c.OCPP.FallbackIDTag, 20) && c.OCPP.FallbackIDTag == "" {
		v.add("ocpp.fallback_id_tag", "expected 1..20 characters (an OCPP 1.6 idTag)")
	}
	for _, f := range []struct{ path, val string }{
		{"ocpp.password_file", c.OCPP.PasswordFile}, {"ocpp.ca_file", c.OCPP.CAFile},
		{"ocpp.cert_file", c.OCPP.CertFile}, {"ocpp.key_file", c.OCPP.KeyFile},
	} {
		v.path(f.path, f.val, false)
	}
	if (c.OCPP.CertFile == "") != (c.OCPP.KeyFile == "") {
		v.add("ocpp.cert_file", "cert_file and key_file go together: set both or neither")
	}

	// http
	v.path("http.token_file", c.HTTP.TokenFile, false)
	if c.HTTP.Listen != "" && v.text("http.listen", c.HTTP.Listen, maxName) {
		host, port, err := net.SplitHostPort(c.HTTP.Listen)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			v.add("http.listen", "expected host:port like 127.0.0.1:8080, got %s", quote(c.HTTP.Listen))
		} else if !isLoopback(host) && c.HTTP.TokenFile == "" {
			v.add("http.token_file", "required when http.listen is not a loopback address")
		}
	}

	// sessions
	v.oneOf("sessions.mode", c.Sessions.Mode, "free", "authorized")
	if c.Sessions.Autostart && c.Sessions.Mode != "free" {
		v.add("sessions.autostart", "only with sessions.mode: free")
	}

	// update
	v.path("update.state_dir", c.Update.StateDir, c.Update.Enabled)
	v.oneOf("update.slots", c.Update.Slots, "tryboot", "files")
	v.path("update.slot_dir", c.Update.SlotDir, c.Update.Enabled && c.Update.Slots == "files")
	v.text("update.hardware", c.Update.Hardware, maxName)
	v.list("update.trusted_keys", c.Update.TrustedKeys, func(p, s string) { v.path(p, s, true) })
	if c.Update.Enabled {
		if len(c.Update.TrustedKeys) == 0 {
			v.add("update.trusted_keys", "at least one release key is required when update.enabled is true")
		}
		if c.Update.Hardware == "" {
			v.add("update.hardware", "required when update.enabled is true")
		}
	}
	if bl := c.Update.BandwidthLimit; bl != 0 && bl < 1024 {
		v.add("update.bandwidth_limit", "%d bytes per second would never finish a bundle; use 0 for no cap or at least 1024", bl)
	}
	if bl, mr := c.Update.BandwidthLimit, c.Update.MinRate; bl != 0 && mr >= bl {
		v.add("update.min_rate", "%d must be below update.bandwidth_limit (%d), or every capped download stalls", mr, bl)
	}
	if c.Update.MaintenanceWindow != "" && v.text("update.maintenance_window", c.Update.MaintenanceWindow, maxName) {
		if _, _, _, err := ParseWindow(c.Update.MaintenanceWindow); err != nil {
			v.add("update.maintenance_window", "%v", err)
		}
	}
	v.url("update.poll_url", c.Update.PollURL, false, "http", "https")
	v.path("update.floor_path", c.Update.FloorPath, false)

	// log
	v.oneOf("log.format", c.Log.Format, "json", "text")
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")

	return errors.Join(v.errs...)
}

// wiredPin is one configured HAL pin, named by its YAML field.
type wiredPin struct{ field, name string }

// wiredPins lists the HAL pins the file wires, relay first.
func (c *Config) wiredPins() []wiredPin {
	h := &c.HAL.Config
	out := []wiredPin{{"relay", h.Relay.Name}}
	for _, p := range []struct {
		field string
		pin   *hal.Pin
	}{{"feedback", h.Feedback}, {"estop", h.EStop}, {"rcd", h.RCD}, {"lid", h.Lid}, {"led", h.LED}} {
		if p.pin != nil {
			out = append(out, wiredPin{p.field, p.pin.Name})
		}
	}
	return out
}

// checker collects FieldErrors, one per path at most from the cross-field rules.
type checker struct {
	errs   []error
	failed map[string]bool
}

func (v *checker) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	if v.failed == nil {
		v.failed = map[string]bool{}
	}
	v.failed[path] = true
}

func (v *checker) duration(r durationRule, d time.Duration) {
	switch {
	case d == 0 && r.zeroOK:
	case d < r.lo && r.zeroOK:
		v.add(r.path, "%s is too short; use 0 for no limit or at least %s", fmtDuration(d), fmtDuration(r.lo))
	case d < r.lo:
		v.add(r.path, "%s is too short; the minimum is %s", fmtDuration(d), fmtDuration(r.lo))
	case d > r.hi:
		v.add(r.path, "%s is too long; the maximum is %s", fmtDuration(d), fmtDuration(r.hi))
	}
}

// notShorter requires d ≥ other; it stays quiet when either is already out of its own bounds.
func (v *checker) notShorter(path string, d time.Duration, otherPath string, other time.Duration) {
	if !v.failed[path] && !v.failed[otherPath] && d < other {
		v.add(path, "%s is shorter than %s (%s)", fmtDuration(d), otherPath, fmtDuration(other))
	}
}

func (v *checker) intRange(path string, n, lo, hi int64) {
	if n < lo || n > hi {
		v.add(path, "expected a whole number from %d to %d, got %d", lo, hi, n)
	}
}

// text checks a string that will be shown, logged or sent: at most max bytes, valid UTF-8,
// printable (no control or format characters: a NUL or an escape sequence in a log line or a
// signed record is never intended). It reports whether s passed.
func (v *checker) text(path, s string, max int) bool {
	if len(s) > max {
		v.add(path, "is %d bytes long; the maximum is %d", len(s), max)
		return false
	}
	if !utf8.ValidString(s) {
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				v.add(path, "is not valid UTF-8 (byte %d)", i)
				break
			}
			i += size
		}
		return false
	}
	for i, r := range s {
		if !unicode.IsGraphic(r) {
			v.add(path, "contains the unprintable character %U at byte %d; only printable text is allowed", r, i)
			return false
		}
	}
	return true
}

func (v *checker) path(path, s string, required bool) {
	if s == "" {
		if required {
			v.add(path, "must not be empty; expected a file or directory path")
		}
		return
	}
	v.text(path, s, maxPath)
}

func (v *checker) url(path, s string, required bool, schemes ...string) {
	want := orList(schemes, "://")
	if s == "" {
		if required {
			v.add(path, "must not be empty; expected a URL starting with %s", want)
		}
		return
	}
	if !v.text(path, s, maxURL) {
		return
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		v.add(path, "expected a URL starting with %s, got %s", want, quote(s))
		return
	}
	if !slices.Contains(schemes, u.Scheme) {
		v.add(path, "unsupported scheme %s; expected a URL starting with %s", quote(u.Scheme), want)
		return
	}
	if _, set := u.User.Password(); set {
		v.add(path, "holds a password; secrets go in files (the *_file fields), never in this file")
		return
	}
	if u.Scheme == "rtu" {
		if u.Path == "" {
			v.add(path, "has no serial device, like rtu:///dev/ttyAMA0")
		}
		return
	}
	if u.Hostname() == "" {
		v.add(path, "has no host, like %s://192.0.2.10:1234", u.Scheme)
	}
}

func (v *checker) oneOf(path, s string, options ...string) {
	if !slices.Contains(options, s) {
		v.add(path, "unsupported %s; expected %s", quote(s), orList(options, ""))
	}
}

func (v *checker) list(path string, items []string, each func(path, item string)) {
	if len(items) > maxList {
		v.add(path, "holds %d items; the maximum is %d", len(items), maxList)
		return
	}
	for i, s := range items {
		each(fmt.Sprintf("%s[%d]", path, i), s)
	}
}

// EVSE IDs, as ISO 15118 and eMI3 / IDACS ("E-mobility ID-codes") define them: a two-letter
// country code, a three-character operator ID, the type letter E and a power outlet ID of up
// to 30 characters, parts optionally separated by "*" (DE*CGT*E0001*1); and the older
// DIN SPEC 91286 form with a telephone country code (+49*810*000*438). The two patterns
// follow the EvseID pattern of Hubject's OICP 2.3, which accepts exactly these two grammars.
var (
	evseISO = regexp.MustCompile(`^[A-Za-z]{2}\*?[A-Za-z0-9]{3}\*?[Ee][A-Za-z0-9*]{1,30}$`)
	evseDIN = regexp.MustCompile(`^\+?[0-9]{1,3}\*[0-9]{3}\*[0-9*]{1,32}$`)
)

// witness checks "URL VKEY": a checkpoint witness's base URL and its verifier key as
// `chargegate witness vkey` prints it (name+hash+base64, no spaces).
func (v *checker) witness(path, s string) {
	url, vkey, ok := strings.Cut(strings.TrimSpace(s), " ")
	vkey = strings.TrimSpace(vkey)
	if !ok || vkey == "" {
		v.add(path, "expected \"URL VKEY\": the witness's base URL, a space and its verifier key from chargegate witness vkey")
		return
	}
	v.url(path, url, true, "http", "https")
	if parts := strings.SplitN(vkey, "+", 3); len(parts) != 3 || parts[0] == "" || len(parts[1]) != 8 || parts[2] == "" {
		v.add(path, "verifier key %q is not NAME+HASH+KEY as chargegate witness vkey prints it", vkey)
	}
}

func (v *checker) evseID(path, s string) {
	if s == "" || !v.text(path, s, maxEVSEID) {
		return
	}
	if !evseISO.MatchString(s) && !evseDIN.MatchString(s) {
		v.add(path, "%s is not an EVSE ID; expected country*operator*E outlet, like DE*CGT*E0001*1 (ISO 15118, eMI3)", quote(s))
	}
}

// topicPrefix checks the first levels of every MQTT topic (MQTT 3.1.1 §4.7): no wildcards,
// no empty levels, and not "$", which brokers reserve for their own topics.
func (v *checker) topicPrefix(path, s string) {
	if !v.text(path, s, maxName) {
		return
	}
	switch {
	case s == "":
		v.add(path, "must not be empty")
	case strings.ContainsAny(s, "#+"):
		v.add(path, "%s contains an MQTT wildcard (# or +)", quote(s))
	case strings.HasPrefix(s, "$"):
		v.add(path, "%s starts with $, which brokers reserve for their own topics", quote(s))
	case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//"):
		v.add(path, "%s has an empty topic level; write levels like site/charger", quote(s))
	}
}

// fromHAL turns hal.Config.Validate's "hal.relay.name: empty" errors into FieldErrors.
func (v *checker) fromHAL(err error) {
	if err == nil {
		return
	}
	for _, e := range unjoin(err) {
		path, msg, ok := strings.Cut(e.Error(), ": ")
		if !ok || !strings.HasPrefix(path, "hal.") {
			path, msg = "hal", e.Error()
		}
		if msg == "empty" && strings.HasSuffix(path, ".name") {
			msg = "must not be empty; expected the name of a GPIO line, like GPIO17"
		}
		v.add(path, "%s", msg)
	}
}

// ParseWindow reads a maintenance window, "HH:MM-HH:MM" with an optional IANA time zone after
// a space ("02:00-05:00 Europe/Berlin"; UTC without one). Start and end are offsets from
// midnight; an end before the start wraps past midnight. The values suit ota.MaintenanceWindow.
func ParseWindow(s string) (start, end time.Duration, loc *time.Location, err error) {
	bad := fmt.Errorf(`expected "HH:MM-HH:MM" with an optional time zone, like "02:00-05:00 Europe/Berlin", got %s`, quote(s))
	span, zone, _ := strings.Cut(s, " ")
	from, to, ok := strings.Cut(span, "-")
	if !ok {
		return 0, 0, nil, bad
	}
	if start, ok = clock(from); !ok {
		return 0, 0, nil, bad
	}
	if end, ok = clock(to); !ok {
		return 0, 0, nil, bad
	}
	if start == end {
		return 0, 0, nil, fmt.Errorf("%s is an empty window; leave the field empty for any time", quote(s))
	}
	loc = time.UTC
	if zone != "" {
		if loc, err = time.LoadLocation(zone); err != nil || zone == "Local" {
			return 0, 0, nil, fmt.Errorf("unknown time zone %s; expected an IANA name like Europe/Berlin", quote(zone))
		}
	}
	return start, end, loc, nil
}

// clock reads "HH:MM" (00:00..23:59; 24:00 for the end of the day) as an offset from midnight.
func clock(s string) (time.Duration, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if m > 59 || h > 24 || h == 24 && m != 0 {
		return 0, false
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, true
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// quote renders a value for a message: quoted, escaped and clipped to one short line.
func quote(s string) string { return strconv.Quote(clip(s)) }

// fmtDuration writes a duration as a person would: 1m, 1h30m, 500ms (not 1m0s).
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// orList writes "a, b or c", each item followed by suffix.
func orList(items []string, suffix string) string {
	var b strings.Builder
	for i, it := range items {
		switch {
		case i == 0:
		case i == len(items)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(it + suffix)
	}
	return b.String()
}
