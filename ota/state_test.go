package ota

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestStateFileGolden freezes the state file format: release N+1 resumes what release N
// saved (and N reads N+1's after a rollback; unknown fields are ignored).
func TestStateFileGolden(t *testing.T) {
	r := record{
		State: StateDownloading, Floor: 4, URL: "https://updates.example/chargegate-2.0.0.bundle",
		Manifest: []byte(`{"format":"chargegate-bundle/1"}`), Signatures: []byte(`{"signatures":[]}`),
		From: "A", To: "B", Total: 268439552, ETag: `"abc"`, Payload: 0, InEntry: true,
		Data: 3584, Chunk: 17, Offset: 3584 + 17<<20, Written: 17 << 20, Trials: 0,
		Updated: time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC),
	}
	got, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "state-downloading.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("state file encoding changed:\n%s\nwant:\n%s", got, want)
	}
	var back record
	if err := json.Unmarshal(want, &back); err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("decode golden state: %+v, %v", back, err)
	}
	// A newer release may add fields; this one must still read the file.
	var newer record
	if err := json.Unmarshal([]byte(`{"state":"committed","security_floor":9,"future_field":true}`), &newer); err != nil || newer.Floor != 9 {
		t.Fatalf("state with an unknown field: %+v, %v", newer, err)
	}
}

// TestFloorFileGolden freezes the floor file (see the package doc) and checks that its
// parser refuses every near miss.
func TestFloorFileGolden(t *testing.T) {
	path := filepath.Join("testdata", "security-floor")
	if *update {
		if err := os.WriteFile(path, formatFloor(7), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := formatFloor(7); string(got) != string(want) {
		t.Fatalf("floor file encoding changed: %q, want %q", got, want)
	}
	if n, err := parseFloor(want); err != nil || n != 7 {
		t.Fatalf("parse golden floor: %d, %v", n, err)
	}
	for _, bad := range []string{"", "7\n", "chargegate-security-floor/1 7", "chargegate-security-floor/1 07\n",
		"chargegate-security-floor/1 -7\n", "chargegate-security-floor/1 +7\n", "chargegate-security-floor/2 7\n",
		"chargegate-security-floor/1 7 \n", "chargegate-security-floor/1 18446744073709551616\n"} {
		if n, err := parseFloor([]byte(bad)); err == nil {
			t.Errorf("parseFloor(%q) = %d, want an error", bad, n)
		}
	}
}

func FuzzParseFloor(f *testing.F) {
	f.Add([]byte("chargegate-security-floor/1 7\n"))
	f.Add([]byte("chargegate-security-floor/1 18446744073709551615\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseFloor(b)
		if err != nil {
			return
		}
		if got := formatFloor(n); string(got) != string(b) {
			t.Fatalf("parseFloor(%q) = %d, which formats as %q", b, n, got)
		}
	})
}
