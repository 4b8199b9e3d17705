package hal

import (
	"errors"
	"fmt"
	"time"
)

// Default timings applied by Open when the Config leaves them zero.
const (
	// DefaultFeedbackTimeout is how long the mirror contact may disagree with
	// the commanded relay state before that is a fault. Contactors for 16-32 A
	// typically need 10-40 ms to close and 5-20 ms to open; 200 ms leaves room
	// for slow coils and contact bounce without hiding a real failure.
	DefaultFeedbackTimeout = 200 * time.Millisecond
	// DefaultDebounce is how long an input must stay at one level before that
	// level is believed (mechanical switch bounce lasts a few milliseconds).
	DefaultDebounce = 20 * time.Millisecond
)

// Limits checked by Validate: larger values are configuration mistakes
// (a unit typo, "200s" for "200ms"), not plausible hardware.
const (
	maxFeedbackTimeout = 10 * time.Second
	maxDebounce        = time.Second
)

// Pin names one GPIO line and its polarity. Name is whatever the backend
// knows the line as (the periph backend: a gpioreg name such as "GPIO17";
// the sim backend: "RELAY", "ESTOP", ...). ActiveLow inverts the meaning:
// the pin's function is "on" (coil energised, contacts closed, button
// pressed, RCD tripped, lid open, LED lit) when the line reads Low.
type Pin struct {
	Name      string `yaml:"name"`
	ActiveLow bool   `yaml:"active_low"`
}

// Config says which pins the board uses. Only Relay is required; every other
// pin is optional (nil means not wired).
type Config struct {
	// Relay drives the contactor coil. Active means energised (contacts closed).
	Relay Pin `yaml:"relay"`
	// Feedback reads the contactor's mirror contact. Active means the main
	// contacts are closed. Without it welded and failed-to-close contactors
	// cannot be detected.
	Feedback *Pin `yaml:"feedback"`
	// FeedbackTimeout is the time the feedback may disagree with the command
	// (0 means DefaultFeedbackTimeout).
	FeedbackTimeout time.Duration `yaml:"feedback_timeout"`
	// EStop reads the emergency stop. Active means pressed.
	EStop *Pin `yaml:"estop"`
	// RCD reads the residual-current device's trip contact. Active means tripped.
	RCD *Pin `yaml:"rcd"`
	// Lid reads the lid/tamper switch. Active means open.
	Lid *Pin `yaml:"lid"`
	// LED drives the status LED. Active means lit.
	LED *Pin `yaml:"led"`
	// Debounce is how long an input must be stable (0 means DefaultDebounce).
	Debounce time.Duration `yaml:"debounce"`
}

// Validate checks the configuration and names the offending field in its
// error, in the YAML spelling under the "hal" section (e.g. "hal.relay.name: empty").
func (c Config) Validate() error {
	var errs []error
	if c.Relay.Name == "" {
		errs = append(errs, errors.New("hal.relay.name: empty"))
	}
	seen := map[string]string{}
	if c.Relay.Name != "" {
		seen[c.Relay.Name] = "relay"
	}
	for _, p := range c.optionalPins() {
		if p.pin == nil {
			continue
		}
		if p.pin.Name == "" {
			errs = append(errs, fmt.Errorf("hal.%s.name: empty", p.field))
			continue
		}
		if other, dup := seen[p.pin.Name]; dup {
			errs = append(errs, fmt.Errorf("hal.%s.name: %q is already used by hal.%s", p.field, p.pin.Name, other))
			continue
		}
		seen[p.pin.Name] = p.field
	}
	switch {
	case c.FeedbackTimeout < 0:
		errs = append(errs, fmt.Errorf("hal.feedback_timeout: %v is negative", c.FeedbackTimeout))
	case c.FeedbackTimeout > maxFeedbackTimeout:
		errs = append(errs, fmt.Errorf("hal.feedback_timeout: %v is above the limit of %v", c.FeedbackTimeout, maxFeedbackTimeout))
	}
	switch {
	case c.Debounce < 0:
		errs = append(errs, fmt.Errorf("hal.debounce: %v is negative", c.Debounce))
	case c.Debounce > maxDebounce:
		errs = append(errs, fmt.Errorf("hal.debounce: %v is above the limit of %v", c.Debounce, maxDebounce))
	}
	if c.Feedback != nil && c.Debounce >= 0 && c.FeedbackTimeout >= 0 && c.debounce() >= c.feedbackTimeout() {
		errs = append(errs, fmt.Errorf("hal.debounce: %v must be shorter than hal.feedback_timeout (%v): the mirror contact is believed only after it", c.debounce(), c.feedbackTimeout()))
	}
	return errors.Join(errs...)
}

// namedPin pairs an optional pin with its YAML field name.
type namedPin struct {
	field string
	pin   *Pin
}

func (c Config) optionalPins() []namedPin {
	return []namedPin{
		{"feedback", c.Feedback},
		{"estop", c.EStop},
		{"rcd", c.RCD},
		{"lid", c.Lid},
		{"led", c.LED},
	}
}

func (c Config) feedbackTimeout() time.Duration {
	if c.FeedbackTimeout == 0 {
		return DefaultFeedbackTimeout
	}
	return c.FeedbackTimeout
}

func (c Config) debounce() time.Duration {
	if c.Debounce == 0 {
		return DefaultDebounce
	}
	return c.Debounce
}
