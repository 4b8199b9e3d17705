package access

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRefusalGate(t *testing.T) {
	g := NewRefusalGate(time.Minute, 3)
	t0 := time.Unix(1780000000, 0)
	var got []string
	for i := range 10 {
		ok, s := g.Allow(t0.Add(time.Duration(i) * time.Second))
		if ok {
			got = append(got, "rec")
		} else {
			got = append(got, "-")
		}
		if s != 0 {
			t.Errorf("suppressed reported inside the first window: %d", s)
		}
	}
	if strings.Join(got, " ") != "rec rec rec - - - - - - -" {
		t.Errorf("first window = %v", got)
	}
	ok, s := g.Allow(t0.Add(time.Minute))
	if !ok || s != 7 {
		t.Errorf("next window = %v, suppressed %d; want true, 7", ok, s)
	}
	if ok, s := g.Allow(t0.Add(time.Minute + time.Second)); !ok || s != 0 {
		t.Errorf("second record of the window = %v, %d", ok, s)
	}
}

func TestLoadIssuerKeys(t *testing.T) {
	dir := t.TempDir()
	_, pub1, _ := MarshalKeyPEM(k1)
	_, pub2, _ := MarshalKeyPEM(k2)
	os.WriteFile(filepath.Join(dir, "a.pub"), pub1, 0o644)
	os.WriteFile(filepath.Join(dir, "b.pub"), pub2, 0o644)
	os.WriteFile(filepath.Join(dir, "bad.pub"), []byte("nope"), 0o644)
	keys, err := LoadIssuerKeys(map[string]string{"a": filepath.Join(dir, "a.pub"), "b": filepath.Join(dir, "b.pub")}, os.ReadFile)
	if err != nil || len(keys) != 2 || !keys["a"].Equal(k1.Public()) || !keys["b"].Equal(k2.Public()) {
		t.Fatalf("LoadIssuerKeys = %v, %v", keys, err)
	}
	if _, err := LoadIssuerKeys(map[string]string{"bad": filepath.Join(dir, "bad.pub")}, os.ReadFile); err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Errorf("bad key: %v", err)
	}
	if _, err := LoadIssuerKeys(map[string]string{"gone": filepath.Join(dir, "gone.pub")}, os.ReadFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing key: %v", err)
	}
}
