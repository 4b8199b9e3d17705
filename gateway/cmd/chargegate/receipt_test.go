package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/ocmf"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

// sessionDataDir builds a gateway data directory (keys and store) holding one ended session
// with a gateway-signed OCMF record, anchored on a real node (in-process, loopback HTTP) by the
// real publisher keeping inclusion proofs in DIR/proofs. It returns the directory, the OCMF
// record's file, the node's URL and keys file, and a function that stops and deletes the node.
func sessionDataDir(t *testing.T, id string) (dir, ocmfFile, url, keysFile string, stop func()) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	keys, err := ledger.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, dir, sqlite.Options{Key: keys.Entry, Ballast: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	var recs []ledger.Record
	for i := range 10 {
		r := ledger.Record{Time: t0.Add(time.Duration(i) * time.Minute), TimeStatus: ledger.TimeSynchronised, Kind: ledger.KindReading,
			MeterSerial: "EM-1", ImportMWh: 90_000_000 + int64(i)*777_777, ExportMWh: int64(i) * 3}
		switch {
		case i == 2:
			r.Kind, r.SessionID, r.Detail = ledger.KindSessionBegin, id, "id_token=04AABBCC"
		case i > 2 && i < 7:
			r.SessionID = id
		case i == 7:
			payload, err := ocmf.BuildPayload(ocmf.Session{GatewayID: "chargegate", GatewaySerial: "cli", MeterSerial: "EM-1", Readings: []ocmf.Reading{
				{Time: recs[2].Time, TimeStatus: 'S', TX: "B", EnergyMWh: recs[2].ImportMWh},
				{Time: r.Time, TimeStatus: 'S', TX: "E", EnergyMWh: r.ImportMWh},
			}}, 1, 3)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := ocmf.SignPayload(payload, keys.OCMF)
			if err != nil {
				t.Fatal(err)
			}
			ocmfFile = filepath.Join(t.TempDir(), "session.ocmf")
			if err := os.WriteFile(ocmfFile, []byte(rec+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r.Kind, r.SessionID, r.Event, r.Attachment = ledger.KindSessionEnd, id, ledger.EndLocal, ocmf.Digest(rec)
		}
		recs = append(recs, r)
	}
	if _, err := st.Append(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	url, keysFile, stop = anchorOnNode(t, st, keys.Entry, dir, len(recs), 5)
	return dir, ocmfFile, url, keysFile, stop
}

// TestReceiptBuildAndVerify runs receipt build and receipt verify as an operator and a wallet
// would: both renderings from a stopped gateway's store VALID offline and against the node,
// UNDECIDED with neither or once the node is gone, INVALID when a figure is changed; a receipt
// built without the OCMF record says so and still verifies; an unknown session fails.
func TestReceiptBuildAndVerify(t *testing.T) {
	const id = "c11ce55100000001"
	dir, ocmfFile, url, keys, stopNode := sessionDataDir(t, id)
	out := t.TempDir()
	for _, format := range []string{"vc", "cdr"} {
		f := filepath.Join(out, format+".json")
		code, _, stderr := run(t, "", "receipt", "build", "--data", dir, "--session", id, "--format", format, "--ocmf", ocmfFile,
			"--evse-id", "DE*CGT*E0001*1", "--country", "DE", "--party", "CGT", "--out", f)
		if code != 0 || stderr != "" {
			t.Fatalf("build %s: exit %d: %s", format, code, stderr)
		}
		for _, c := range []struct {
			args []string
			code int
			says string
		}{
			{[]string{"--offline", "--coordinator-keys", keys}, 0, "VALID"},
			{[]string{"--node", url}, 0, "VALID"},
			{nil, 2, "UNDECIDED"},
		} {
			code, stdout, stderr := run(t, "", append(append([]string{"receipt", "verify"}, c.args...), f)...)
			if code != c.code || !strings.Contains(stdout, c.says) {
				t.Errorf("%s verify %v: exit %d, want %d %s:\n%s%s", format, c.args, code, c.code, c.says, stdout, stderr)
			}
			t.Logf("receipt verify %s %v:\n%s", format, c.args, stdout)
			if c.code == 0 && !strings.Contains(stdout, "ok      ocmf") {
				t.Errorf("%s verify %v: the OCMF record was not checked:\n%s", format, c.args, stdout)
			}
		}
		b, _ := os.ReadFile(f)
		bad := filepath.Join(out, format+"-tampered.json")
		os.WriteFile(bad, []byte(strings.Replace(string(b), `"energyImportMWh":3888885`, `"energyImportMWh":3888886`, 1)), 0o644)
		if string(b) == mustRead(t, bad) {
			t.Fatalf("%s: the tamper did not apply (energy is not 3888885 mWh?):\n%s", format, b)
		}
		if code, stdout, _ := run(t, "", "receipt", "verify", "--offline", "--coordinator-keys", keys, bad); code != 1 || !strings.Contains(stdout, "INVALID") {
			t.Errorf("%s tampered: exit %d:\n%s", format, code, stdout)
		}
	}

	noOCMF := filepath.Join(out, "no-ocmf.json")
	code, _, stderr := run(t, "", "receipt", "build", "--data", dir, "--session", id, "--out", noOCMF)
	if code != 0 || !strings.Contains(stderr, "no OCMF record") {
		t.Errorf("build without --ocmf: exit %d, stderr %q", code, stderr)
	}
	if code, stdout, _ := run(t, "", "receipt", "verify", "--offline", "--coordinator-keys", keys, noOCMF); code != 0 || !strings.Contains(stdout, "skipped ocmf") {
		t.Errorf("verify without OCMF: exit %d:\n%s", code, stdout)
	}
	if code, _, stderr := run(t, "", "receipt", "build", "--data", dir, "--session", id, "--format", "cdr", "--id-token", "04AABBCD"); code != 1 || !strings.Contains(stderr, "--id-token") {
		t.Errorf("a CDR for another id_token than the begin entry's: exit %d, %s", code, stderr)
	}
	if code, _, stderr := run(t, "", "receipt", "build", "--data", dir, "--session", id, "--format", "cdr", "--id-token", "04AABBCC"); code != 0 {
		t.Errorf("a CDR for the begin entry's id_token: exit %d, %s", code, stderr)
	}
	if code, _, _ := run(t, "", "receipt", "build", "--data", dir, "--session", "nope"); code != 1 {
		t.Errorf("unknown session: exit %d, want 1", code)
	}
	if code, _, _ := run(t, "", "receipt", "build", "--data", dir, "--session", id, "--ocmf", keys); code != 1 {
		t.Errorf("a file that is not the attached OCMF record: exit %d, want 1", code)
	}

	stopNode()
	vc := filepath.Join(out, "vc.json")
	if code, stdout, _ := run(t, "", "receipt", "verify", "--node", url, vc); code != 2 {
		t.Errorf("node gone: exit %d, want 2:\n%s", code, stdout)
	}
	if code, stdout, _ := run(t, "", "receipt", "verify", "--offline", "--coordinator-keys", keys, vc); code != 0 {
		t.Errorf("node gone, offline: exit %d, want 0:\n%s", code, stdout)
	}
	for _, args := range [][]string{{"receipt"}, {"receipt", "verify"}, {"receipt", "build", "--data", dir}, {"receipt", "verify", "--offline", vc}} {
		if code, _, _ := run(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
