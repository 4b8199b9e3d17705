package durable_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chargegate/chargegate/ota/durable"
)

func TestWriteFileOS(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for _, v := range []string{"one", "two, longer"} {
		if err := durable.WriteFile(durable.OS{}, p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := durable.ReadFile(durable.OS{}, p)
		if err != nil || string(got) != v {
			t.Fatalf("read back %q, %v; want %q", got, err, v)
		}
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode().Perm(), err)
	}
	if _, err := os.Stat(p + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}

func ExampleWriteFile() {
	dir, _ := os.MkdirTemp("", "durable")
	defer os.RemoveAll(dir)
	err := durable.WriteFile(durable.OS{}, filepath.Join(dir, "state.json"), []byte(`{"state":"idle"}`), 0o600)
	b, _ := durable.ReadFile(durable.OS{}, filepath.Join(dir, "state.json"))
	fmt.Println(err, string(b))
	// Output: <nil> {"state":"idle"}
}
