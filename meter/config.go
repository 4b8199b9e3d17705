package meter

import (
	"errors"
	"fmt"
	"log/slog"
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
	// Now is the clock for Reading.Time and the frozen-counter check; nil = time.Now.
	// Tests driving a simulator on a virtual clock pass that clock here.
	Now func() time.Time
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
