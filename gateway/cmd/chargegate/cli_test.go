package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/sqlite"
	"github.com/chargegate/chargegate/meter/sim"
	_ "github.com/mattn/go-sqlite3"
)

// run calls the CLI in-process and returns its exit code, stdout and stderr.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if stdin != "" {
		f := filepath.Join(t.TempDir(), "stdin")
		os.WriteFile(f, []byte(stdin), 0o600)
		in, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		old := os.Stdin
		os.Stdin = in
		defer func() { os.Stdin = old; in.Close() }()
	}
	code := dispatch(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"explode"},
		{"meter"},
		{"keys"},
		{"ocmf", "verify"},
		{"verify"},
		{"proof", "--data", t.TempDir()},
		{"verify-proof"},
	} {
		if code, _, errb := run(t, "", args...); code != 2 {
			t.Errorf("chargegate %v: exit %d, want 2 (stderr %q)", args, code, errb)
		}
	}
}

func TestMeterReadJSON(t *testing.T) {
	s, err := sim.New(sim.Options{Model: "sdm630", Serial: "71000099"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Buses()[0].ServeTCP(ctx, ln)

	code, out, errb := run(t, "", "meter", "read", "--url", "tcp://"+ln.Addr().String(), "--json", "--count", "2", "--interval", "50ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), out)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"model", "serial", "energy_import_mwh", "energy_export_mwh", "power_w", "voltage_v", "current_a", "frequency_hz", "status"} {
		if _, ok := r[k]; !ok {
			t.Errorf("reading lacks %q: %s", k, lines[0])
		}
	}
	if r["model"] != "sdm630" || r["serial"] != "71000099" || r["status"] != "ok" {
		t.Errorf("reading = %s", lines[0])
	}
	if v, _ := r["voltage_v"].([]any); len(v) != 3 {
		t.Errorf("voltage_v = %v, want three phases", r["voltage_v"])
	}
	if !strings.Contains(errb, "polls/s") {
		t.Errorf("no summary on stderr for --count 2: %q", errb)
	}

	// A port nobody listens on fails with a one-line error naming the connection.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := dead.Addr().String()
	dead.Close()
	code, _, errb = run(t, "", "meter", "read", "--url", "tcp://"+addr, "--timeout", "300ms")
	if code == 0 || strings.Count(strings.TrimSpace(errb), "\n") != 0 || !strings.Contains(errb, "connect") {
		t.Fatalf("dead meter: exit %d, stderr %q", code, errb)
	}
	if code, _, errb = run(t, "", "meter", "read", "--url", "tcp://"+ln.Addr().String(), "--model", "sdm999"); code == 0 || !strings.Contains(errb, "sdm999") {
		t.Fatalf("unknown model: exit %d, stderr %q", code, errb)
	}
}

func TestKeysVerifyAndTamper(t *testing.T) {
	dir := t.TempDir()
	keys, err := ledger.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{Key: keys.Entry})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := st.Append(ctx, ledger.Record{Time: time.Now(), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindReading,
			MeterSerial: "71000001", ImportMWh: int64(1000 * i)}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	code, out, errb := run(t, "", "keys", "show", "--data", dir)
	if code != 0 || !strings.Contains(out, ledger.DeviceID(keys.Entry.Public().(ed25519.PublicKey))) || !strings.Contains(out, "BEGIN PUBLIC KEY") {
		t.Fatalf("keys show: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := run(t, "", "verify", "--data", dir); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errb)
	}

	// Alter one stored entry's energy behind the store's back: verify names its sequence number.
	db := filepath.Join(dir, sqlite.DBFileName)
	if err := tamper(db, 7); err != nil {
		t.Fatal(err)
	}
	code, out, errb = run(t, "", "verify", "--data", dir)
	if code != 1 || !strings.Contains(out+errb, "seq 7") {
		t.Fatalf("tampered chain: exit %d, output %q", code, out+errb)
	}

	// Keys readable by others are refused.
	os.Chmod(filepath.Join(dir, ledger.EntryKeyFile), 0o644)
	if code, _, errb := run(t, "", "keys", "show", "--data", dir); code == 0 || !strings.Contains(errb, "readable") {
		t.Fatalf("world-readable key: exit %d, stderr %q", code, errb)
	}
}

func TestOCMFVerifySharedVectors(t *testing.T) {
	b, err := os.ReadFile("../../../ledger/ocmf/testdata/vectors.json")
	if err != nil {
		t.Fatalf("the shared OCMF vectors sit beside the repository: %v", err)
	}
	var vectors []struct {
		Name, OCMF, PublicKey string
		Valid                 bool
	}
	if err := json.Unmarshal(b, &vectors); err != nil {
		t.Fatal(err)
	}
	for _, v := range vectors {
		want := 1
		if v.Valid {
			want = 0
		}
		if code, out, errb := run(t, v.OCMF, "ocmf", "verify", "--key", v.PublicKey, "-"); code != want {
			t.Errorf("%s: exit %d, want %d\n%s%s", v.Name, code, want, out, errb)
		}
	}
}

// tamper changes the energy of entry seq in the database file and keeps its old signature, as
// someone editing the file would.
func tamper(path string, seq uint64) error {
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		return err
	}
	defer db.Close()
	var body []byte
	if err := db.QueryRow("SELECT body FROM entries WHERE seq = ?", seq).Scan(&body); err != nil {
		return err
	}
	e, err := ledger.DecodeEntry(body)
	if err != nil {
		return err
	}
	e.ImportMWh += 1_000_000 // one more kWh on the bill
	body, err = e.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = db.Exec("UPDATE entries SET body = ? WHERE seq = ?", body, seq)
	return err
}

func TestHalCheckReportsEachPin(t *testing.T) {
	code, out, errb := run(t, "", "hal", "check", "--backend", "sim")
	if code != 0 || !strings.Contains(out, "PASS") || strings.Contains(out, "FAIL") {
		t.Fatalf("healthy sim board: exit %d\n%s%s", code, out, errb)
	}
	for _, fault := range []string{"weld", "stuck", "estop"} {
		code, out, errb := run(t, "", "hal", "check", "--backend", "sim", "--sim-fault", fault)
		if code != 1 || !strings.Contains(out, "FAIL") {
			t.Errorf("sim fault %s: exit %d, want 1 with a FAIL line\n%s%s", fault, code, out, errb)
		}
	}
}

// Issue 12 case 8: hal check reads the configuration with run's loader, so a typo that run
// refuses is refused by hal check too, naming the YAML path.
func TestHalCheckAndRunRefuseTheSameConfig(t *testing.T) {
	f := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(f, []byte("meter:\n  url: tcp://127.0.0.1:502\nhal:\n  backend: sim\n  feedbak: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"hal", "check", "--backend", "sim", "--config", f}, {"run", "--config", f}} {
		code, _, stderr := run(t, "", args...)
		if code != 2 || !strings.Contains(stderr, "hal.feedbak") || !strings.Contains(stderr, "line 5") {
			t.Errorf("chargegate %s = %d, stderr %q; want 2 naming hal.feedbak at line 5", args[0], code, stderr)
		}
	}
}
