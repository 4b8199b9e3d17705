package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// TestQuarantineListExport: a stored entry altered behind the store's back makes the next start
// quarantine the database and salvage past it; verify reports the quarantine file and the
// declared hole; quarantine list and export read every row of the quarantined file, the damaged
// one marked invalid and the others marked salvaged.
func TestQuarantineListExport(t *testing.T) {
	dir := t.TempDir()
	keys, err := ledger.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{Key: keys.Entry, Ballast: -1})
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
	if err := tamper(filepath.Join(dir, sqlite.DBFileName), 7); err != nil {
		t.Fatal(err)
	}
	st, err = sqlite.Open(ctx, dir, sqlite.Options{Key: keys.Entry, Ballast: -1}) // quarantines, salvages
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	code, out, errb := run(t, "", "verify", "--data", dir)
	if code != 0 || !strings.Contains(out, "quarantine file: chargegate.db.quarantine-") || !strings.Contains(out, "declared hole: seq 7..7 missing, declared by entries_lost") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errb)
	}
	code, out, errb = run(t, "", "quarantine", "list", "--data", dir)
	if code != 0 || !strings.Contains(out, "20 rows readable (seq 1..20), 19 valid, 1 damaged, 0 valid ones only here") {
		t.Fatalf("quarantine list: exit %d\n%s%s", code, out, errb)
	}
	outFile := filepath.Join(t.TempDir(), "q.jsonl")
	if code, out, errb := run(t, "", "quarantine", "export", "--data", dir, "--out", outFile); code != 0 {
		t.Fatalf("quarantine export: exit %d\n%s%s", code, out, errb)
	}
	f, err := os.Open(outFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		var r quarantineRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		bad := r.Seq == 7
		if r.Valid == bad || r.Salvaged == bad || (bad && !strings.Contains(r.Error, "signature")) || r.Kind != "reading" || r.Entry == "" {
			t.Fatalf("row %d: %+v", r.Seq, r)
		}
	}
	if n != 20 {
		t.Fatalf("%d rows exported, want 20", n)
	}
	if code, _, _ := run(t, "", "quarantine", "prune", "--data", dir); code != 2 {
		t.Fatalf("unknown subcommand: exit %d, want 2", code)
	}
}
