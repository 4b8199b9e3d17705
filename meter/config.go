package meter

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"time"
)

// Config selects and tunes one meter. Zero values take the defaults named on each field.
type Config struct {
	URL     string        // tcp://host:port | rtu:///dev/ttyX?baud=9600&parity=none&stop=1 | rtuovertcp://host:port
	Unit    uint8         // Modbus unit ID, default 1 (the model's default, e.g. 33 for wm3m4, when Model names one)
	Model   string        // "sdm630", ..., "auto" (default)
	Timeout time.Duration // per request, default 1s
	Retries int           // default 1; negative means none
	Logger  *slog.Logger  // nil = discard
	// Now is the clock for Reading.Time and every time-based rule (rise bound, frozen
	// counter, reset confirmation, identity interval); nil = time.Now, whose readings carry
	// the monotonic clock, so a step of the wall clock moves no bound. Tests driving a
	// simulator on a virtual clock pass that clock here.
	Now func() time.Time

	// ReconnectMax caps the wait between connection attempts after the meter could not be
	// reached (exponential backoff from 1 s, doubling, each wait drawn ±50 % around it).
	// Default 30 s; 1 s..10 min.
	ReconnectMax time.Duration
	// MaxPowerW is the most power the meter can measure, for the rise bound: a counter may
	// rise at most MaxPowerW × PowerMargin × elapsed time (plus two counter steps). Default:
	// the model's rated power (Model.RatedPowerW; SunSpec and unknown: 350 kW). Set it to
	// the charger's rating for a tighter bound, or higher for CT-connected meters.
	// 100 W..10 MW.
	MaxPowerW float64
	// ResetConfirm is how long counters below the baseline must stay consistent before they
	// are a counter reset (*CounterResetError) rather than implausible. Default 60 s;
	// 10 s..1 h.
	ResetConfirm time.Duration
	// IdentityInterval is how often a poll also reads the identity registers (serial,
	// firmware) when nothing else asks for them; they are always read at connect and after
	// a failed or implausible poll. Default 10 min; 1 s..24 h.
	IdentityInterval time.Duration
}

// Defaults and bounds of the Config fields.
const (
	DefaultReconnectMax     = 30 * time.Second
	DefaultResetConfirm     = 60 * time.Second
	DefaultIdentityInterval = 10 * time.Minute
	DefaultMaxPowerW        = 350_000.0 // W, for models without a rated figure (SunSpec)
)

// bound checks that a duration field is 0 (default) or within [lo, hi].
func bound(name string, v, lo, hi time.Duration) error {
	if v != 0 && (v < lo || v > hi) {
		return fmt.Errorf("config: %s %v: outside %v..%v", name, v, lo, hi)
	}
	return nil
}

// Transport is the link parsed from Config.URL.
type Transport struct {
	Scheme string // "tcp", "rtu" or "rtuovertcp"
	Addr   string // host:port, or the serial device path
	Baud   int    // rtu: line speed (default: the model's, else 9600)
	Parity string // rtu: "none" (default), "even", "odd"
	Stop   int    // rtu: 1 (default) or 2
}

// BitsPerChar is the number of bits one character takes on the line.
func (t Transport) BitsPerChar() int {
	bits := 1 + 8 + t.Stop
	if t.Parity != "none" {
		bits++
	}
	return bits
}

// ParseURL parses a meter URL. defaultBaud applies to rtu:// URLs without baud=.
func ParseURL(raw string, defaultBaud int) (Transport, error) {
	if raw == "" {
		return Transport{}, errors.New("url: empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Transport{}, fmt.Errorf("url: %w", err)
	}
	t := Transport{Scheme: u.Scheme, Baud: defaultBaud, Parity: "none", Stop: 1}
	if t.Baud == 0 {
		t.Baud = 9600
	}
	switch u.Scheme {
	case "tcp", "rtuovertcp":
		if u.Host == "" || u.Port() == "" {
			return Transport{}, fmt.Errorf("url: %q needs host:port", raw)
		}
		t.Addr = u.Host
		if u.Scheme == "rtuovertcp" {
			t.Baud = 19200 // only used for the client's t3.5 estimate
		}
	case "rtu":
		t.Addr = u.Path
		if t.Addr == "" {
			return Transport{}, fmt.Errorf("url: %q needs a device path (rtu:///dev/ttyUSB0)", raw)
		}
		q := u.Query()
		if s := q.Get("baud"); s != "" {
			if t.Baud, err = strconv.Atoi(s); err != nil || t.Baud < 300 || t.Baud > 4_000_000 {
				return Transport{}, fmt.Errorf("url: baud %q out of range", s)
			}
		}
		if s := q.Get("parity"); s != "" {
			switch s {
			case "none", "even", "odd":
				t.Parity = s
			default:
				return Transport{}, fmt.Errorf("url: parity %q is not none, even or odd", s)
			}
		}
		if s := q.Get("stop"); s != "" {
			if t.Stop, err = strconv.Atoi(s); err != nil || (t.Stop != 1 && t.Stop != 2) {
				return Transport{}, fmt.Errorf("url: stop %q is not 1 or 2", s)
			}
		}
	default:
		return Transport{}, fmt.Errorf("url: scheme %q is not tcp, rtu or rtuovertcp", u.Scheme)
	}
	return t, nil
}

// withDefaults validates c and fills in defaults; errors name the field.
func (c Config) withDefaults(checkURL bool) (Config, *Model, error) {
	if c.Model == "" {
		c.Model = "auto"
	}
	var fixed *Model
	switch c.Model {
	case "auto", "sunspec":
	default:
		m, ok := LookupModel(c.Model)
		if !ok {
			return c, nil, fmt.Errorf("config: Model %q: %w (known: %v)", c.Model, ErrUnknownModel, ModelNames())
		}
		fixed = m
	}
	if c.Unit == 0 {
		c.Unit = 1
		if fixed != nil {
			c.Unit = fixed.DefaultUnit
		}
	}
	if c.Unit > 247 {
		return c, nil, fmt.Errorf("config: Unit %d: out of range 1..247", c.Unit)
	}
	if c.Timeout == 0 {
		c.Timeout = time.Second
	}
	if c.Timeout < 0 {
		return c, nil, fmt.Errorf("config: Timeout %v: negative", c.Timeout)
	}
	if c.Retries == 0 {
		c.Retries = 1
	} else if c.Retries < 0 {
		c.Retries = 0
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if err := errors.Join(
		bound("ReconnectMax", c.ReconnectMax, time.Second, 10*time.Minute),
		bound("ResetConfirm", c.ResetConfirm, 10*time.Second, time.Hour),
		bound("IdentityInterval", c.IdentityInterval, time.Second, 24*time.Hour),
	); err != nil {
		return c, nil, err
	}
	if c.MaxPowerW != 0 && (math.IsNaN(c.MaxPowerW) || c.MaxPowerW < 100 || c.MaxPowerW > 10e6) {
		return c, nil, fmt.Errorf("config: MaxPowerW %v: outside 100..10000000", c.MaxPowerW)
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.ResetConfirm == 0 {
		c.ResetConfirm = DefaultResetConfirm
	}
	if c.IdentityInterval == 0 {
		c.IdentityInterval = DefaultIdentityInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	baud := 0
	if fixed != nil {
		baud = fixed.DefaultBaud
	}
	if checkURL {
		if _, err := ParseURL(c.URL, baud); err != nil {
			return c, nil, fmt.Errorf("config: URL: %w", err)
		}
	}
	return c, fixed, nil
}
