package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics; what it accepts validates; what it refuses is a list of
// FieldErrors, each one line (a value in a message can never forge a second error line).
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../../images/chargegate.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		minimal,
		minimal + "---\n",
		"meter:\n  urll: x\n  poll_interval: fast\n",
		"meter: &a {url: tcp://h:1}\nhal: *a\n",
		"meter:\n  url: \"tcp://h:1\\n\\0\"\n  unit: 0x1ff\n",
		"hal:\n  relay: {name: A}\n  led: {name: A}\n  lid: ~\n",
		"ledger:\n  witnesses: [a, [b], {c: d}]\n",
		"a: [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]\n",
		"update:\n  maintenance_window: \"23:59-00:00 Europe/Berlin\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := Parse(b)
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Parse accepted a config that Validate refuses: %v", verr)
			}
			return
		}
		for _, e := range unjoin(err) {
			var fe *FieldError
			if !errors.As(e, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", e, e)
			}
			if strings.ContainsAny(fe.Error(), "\n\r") {
				t.Fatalf("error spans lines: %q", fe.Error())
			}
		}
	})
}
