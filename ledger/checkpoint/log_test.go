package checkpoint_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/checkpoint"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

func openStore(t *testing.T, dir string, key ed25519.PrivateKey) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), dir, sqlite.Options{Key: key, Ballast: -1})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func appendN(t *testing.T, st *sqlite.Store, n int, meter string) {
	t.Helper()
	recs := make([]ledger.Record, n)
	for i := range recs {
		recs[i] = ledger.Record{Time: time.Date(2026, 3, 1, 12, 0, i, 0, time.UTC), TimeStatus: ledger.TimeSynchronised,
			Kind: ledger.KindReading, MeterSerial: meter, ImportMWh: int64(i)}
	}
	if _, err := st.Append(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(to, 0o700)
	for _, e := range ents {
		if e.IsDir() {
			copyDir(t, filepath.Join(from, e.Name()), filepath.Join(to, e.Name()))
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLogDetectsRestoredDataDirectory is the gateway's case: a real store's checkpoints are
// cosigned by a witness; the data directory is then restored from an earlier copy. The store
// itself cannot tell, but the first checkpoint after start raises the alarm with the witness's
// size; a restored copy that went on with other entries is a fork, also refused.
func TestLogDetectsRestoredDataDirectory(t *testing.T) {
	ctx := context.Background()
	dev := key("gateway")
	state := filepath.Join(t.TempDir(), "witness.json")
	wc, stop := witnessServer(t, state, dev)
	defer stop()

	data, backup := filepath.Join(t.TempDir(), "data"), filepath.Join(t.TempDir(), "backup")
	st := openStore(t, data, dev)
	appendN(t, st, 30, "EM-1")
	st.Close()
	copyDir(t, data, backup) // the operator's copy at 30 entries
	st = openStore(t, data, dev)
	appendN(t, st, 20, "EM-1")
	l, err := checkpoint.NewLog(st, dev, checkpoint.LogConfig{Witnesses: []*checkpoint.WitnessClient{wc}})
	if err != nil {
		t.Fatal(err)
	}
	if ws, err := l.Checkpoint(ctx); err != nil || ws != 50 {
		t.Fatalf("checkpoint at 50: witness %d, %v", ws, err)
	}
	// Served for the local API.
	srv := httptest.NewServer(http.StripPrefix("/api/v1", l.Handler()))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/api/v1/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	vkey, _ := checkpoint.DeviceVerifierKey(dev.Public().(ed25519.PublicKey))
	v, _ := note.NewVerifier(vkey)
	if c, _, err := checkpoint.Open(body, v); err != nil || c.Size != 50 || !strings.Contains(string(body), "— witness.test ") {
		t.Fatalf("served checkpoint %q: %+v %v", body, c, err)
	}
	res, err = http.Get(srv.URL + "/api/v1/checkpoint/inclusion?seq=7&size=50")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("inclusion: %v %v", res.StatusCode, err)
	}
	res.Body.Close()
	st.Close()

	// The data directory restored from the copy: 30 entries, sequence numbers 31.. would be reused.
	os.RemoveAll(data)
	copyDir(t, backup, data)
	st = openStore(t, data, dev)
	if head, _ := st.Head(); head != 30 {
		t.Fatalf("restored head %d", head)
	}
	var alarmSize int64
	l, _ = checkpoint.NewLog(st, dev, checkpoint.LogConfig{
		Witnesses: []*checkpoint.WitnessClient{{URL: wc.URL, Verifier: wc.Verifier}},
		OnAlarm:   func(_ error, size int64) { alarmSize = size },
	})
	if ws, err := l.Checkpoint(ctx); !errors.Is(err, checkpoint.ErrRolledBack) || ws != 50 || alarmSize != 50 {
		t.Fatalf("restored directory: witness %d alarm %d, %v; want ErrRolledBack at 50", ws, alarmSize, err)
	}
	// Ignoring the alarm and writing 25 other entries (31..55) forks the log: refused.
	appendN(t, st, 25, "EM-2")
	if _, err := l.Checkpoint(ctx); !errors.Is(err, checkpoint.ErrInconsistent) {
		t.Fatalf("forked store: %v, want ErrInconsistent", err)
	}
	st.Close()
}
