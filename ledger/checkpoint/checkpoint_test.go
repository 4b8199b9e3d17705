package checkpoint_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/chargegate/chargegate/ledger/checkpoint"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func key(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("chargegate checkpoint test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// entryHash is a stand-in for the hash of entry seq of a history named h.
func entryHash(h string, seq uint64) [32]byte {
	return sha256.Sum256([]byte(fmt.Sprintf("%s entry %d", h, seq)))
}

func treeOf(t testing.TB, history string, n int) *checkpoint.Tree {
	t.Helper()
	tr := &checkpoint.Tree{}
	for s := uint64(1); s <= uint64(n); s++ {
		if err := tr.Append(s, entryHash(history, s)); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

func TestTreeProofs(t *testing.T) {
	tr := treeOf(t, "a", 70)
	for _, n := range []int64{1, 2, 3, 7, 8, 33, 70} {
		th, err := tlog.TreeHash(n, tr)
		if err != nil {
			t.Fatal(err)
		}
		for _, seq := range []uint64{1, uint64(n+1) / 2, uint64(n)} {
			p, err := tr.InclusionProof(seq, n)
			if err != nil {
				t.Fatal(err)
			}
			h := entryHash("a", seq)
			if err := tlog.CheckRecord(p, n, th, int64(seq)-1, tlog.RecordHash(h[:])); err != nil {
				t.Errorf("entry %d in %d: %v", seq, n, err)
			}
			other := entryHash("b", seq)
			if tlog.CheckRecord(p, n, th, int64(seq)-1, tlog.RecordHash(other[:])) == nil {
				t.Errorf("another entry %d verifies in %d", seq, n)
			}
		}
		for _, old := range []int64{1, n / 2, n} {
			if old == 0 {
				continue
			}
			oh, _ := tlog.TreeHash(old, tr)
			p, err := tr.ConsistencyProof(old, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(p, n, th, old, oh); err != nil {
				t.Errorf("consistency %d → %d: %v", old, n, err)
			}
		}
	}
	if err := tr.Append(72, entryHash("a", 72)); !errors.Is(err, checkpoint.ErrSequence) {
		t.Errorf("a hole: %v, want ErrSequence", err)
	}
}

func TestCheckpointSignOpen(t *testing.T) {
	dev := key("device")
	tr := treeOf(t, "a", 5)
	n, h, _ := tr.Root()
	c := checkpoint.Checkpoint{Origin: checkpoint.Origin(dev.Public().(ed25519.PublicKey)), Size: n, Hash: h}
	signed, err := checkpoint.Sign(c, checkpoint.DeviceSigner(dev))
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := checkpoint.DeviceVerifierKey(dev.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := checkpoint.Open(signed, v)
	if err != nil || got != c {
		t.Fatalf("open: %+v %v", got, err)
	}
	// Another device's key, or a changed size, does not open.
	ovkey, _ := checkpoint.DeviceVerifierKey(key("other").Public().(ed25519.PublicKey))
	ov, _ := note.NewVerifier(ovkey)
	if _, _, err := checkpoint.Open(signed, ov); err == nil {
		t.Error("opened under another device's key")
	}
	forged := strings.Replace(string(signed), "\n5\n", "\n6\n", 1)
	if _, _, err := checkpoint.Open([]byte(forged), v); !errors.Is(err, checkpoint.ErrSignature) {
		t.Errorf("changed size: %v, want ErrSignature", err)
	}
	for _, bad := range []string{"", "a\n1\n", "a\n01\nAAAA\n", "a\n-1\n" + strings.Repeat("A", 44) + "\n", "a\n1\n" + strings.Repeat("A", 44) + "\next\n"} {
		if _, err := checkpoint.ParseCheckpoint(bad); !errors.Is(err, checkpoint.ErrFormat) {
			t.Errorf("ParseCheckpoint(%q): %v, want ErrFormat", bad, err)
		}
	}
}

// TestGolden freezes the formats: checkpoint text, signed note, cosignature, request body.
func TestGolden(t *testing.T) {
	dev := key("device")
	tr := treeOf(t, "a", 7)
	n, h, _ := tr.Root()
	c := checkpoint.Checkpoint{Origin: checkpoint.Origin(dev.Public().(ed25519.PublicKey)), Size: n, Hash: h}
	signed, err := checkpoint.Sign(c, checkpoint.DeviceSigner(dev))
	if err != nil {
		t.Fatal(err)
	}
	vkey, _ := checkpoint.DeviceVerifierKey(dev.Public().(ed25519.PublicKey))
	cos := checkpoint.NewCosigner("witness.example", key("witness"), func() time.Time { return time.Unix(1772366400, 0) })
	cosigned, err := note.Sign(&note.Note{Text: c.String()}, cos)
	if err != nil {
		t.Fatal(err)
	}
	proof, _ := tr.ConsistencyProof(3, 7)
	var b strings.Builder
	fmt.Fprintf(&b, "# checkpoint package golden vectors: device key seed SHA-256(\"chargegate checkpoint test key device\"),\n")
	fmt.Fprintf(&b, "# entry hashes SHA-256(\"a entry <seq>\"), seq 1..7; witness key seed SHA-256(\"chargegate checkpoint test key witness\"), time 1772366400\n")
	fmt.Fprintf(&b, "## device verifier key\n%s\n## signed checkpoint\n%s## cosigned by the witness\n%s## witness verifier key\n%s\n## add-checkpoint request from size 3\n%s",
		vkey, signed, cosigned, cos.VerifierKey(), checkpoint.FormatAddCheckpoint(3, proof, signed))
	path := filepath.Join("testdata", "golden.txt")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	if string(want) != b.String() {
		t.Fatalf("formats changed; if intended run go test -update\n got:\n%s\nwant:\n%s", b.String(), want)
	}
	cv, err := checkpoint.NewCosignatureVerifier(cos.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(cosigned, note.VerifierList(cv)); err != nil {
		t.Errorf("cosignature does not verify: %v", err)
	}
}

// witnessServer runs a witness over loopback HTTP, its state in statePath.
func witnessServer(t *testing.T, statePath string, devices ...ed25519.PrivateKey) (*checkpoint.WitnessClient, func()) {
	t.Helper()
	var vkeys []string
	for _, d := range devices {
		vk, _ := checkpoint.DeviceVerifierKey(d.Public().(ed25519.PublicKey))
		vkeys = append(vkeys, vk)
	}
	cos := checkpoint.NewCosigner("witness.test", key("witness"), nil)
	w, err := checkpoint.NewWitness(cos, vkeys, statePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	cv, err := checkpoint.NewCosignatureVerifier(cos.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	return &checkpoint.WitnessClient{URL: srv.URL, Verifier: cv}, srv.Close
}

// TestWitnessRefusesRollbackAndFork: a device grows its log under a witness that restarts in
// between; then the device's data is rolled back (a shorter tree) and later forked (a different
// history of the same or greater length): the witness refuses both and the device learns it.
func TestWitnessRefusesRollbackAndFork(t *testing.T) {
	ctx := context.Background()
	dev := key("device")
	signer := checkpoint.DeviceSigner(dev)
	state := filepath.Join(t.TempDir(), "witness.json")
	wc, stop := witnessServer(t, state, dev)
	for _, n := range []int{3, 10, 10, 25} {
		_, signed, res, err := checkpoint.CheckWitnesses(ctx, []*checkpoint.WitnessClient{wc}, treeOf(t, "a", n), signer)
		if err != nil || res[0].Err != nil || res[0].Size != int64(n) || !strings.Contains(string(signed), "— witness.test ") {
			t.Fatalf("size %d: %+v %v", n, res, err)
		}
	}
	stop()
	// The witness restarts on its state file; the device (a fresh client, as after a reboot)
	// does not know what the witness holds.
	wc, stop = witnessServer(t, state, dev)
	defer stop()
	_, _, res, err := checkpoint.CheckWitnesses(ctx, []*checkpoint.WitnessClient{wc}, treeOf(t, "a", 30), signer)
	if err != nil || res[0].Size != 30 {
		t.Fatalf("after the witness's restart: %+v %v", res, err)
	}
	// Rollback: the data directory restored to 20 entries.
	_, _, res, err = checkpoint.CheckWitnesses(ctx, []*checkpoint.WitnessClient{wc}, treeOf(t, "a", 20), signer)
	if !errors.Is(err, checkpoint.ErrRolledBack) || res[0].Size != 30 {
		t.Fatalf("rolled back: %+v %v, want ErrRolledBack at witness size 30", res, err)
	}
	// Fork: 20 of the old entries, then 15 others (sequence numbers reused).
	fork := treeOf(t, "a", 20)
	for s := uint64(21); s <= 35; s++ {
		fork.Append(s, entryHash("b", s))
	}
	_, _, _, err = checkpoint.CheckWitnesses(ctx, []*checkpoint.WitnessClient{wc}, fork, signer)
	if !errors.Is(err, checkpoint.ErrInconsistent) {
		t.Fatalf("forked: %v, want ErrInconsistent", err)
	}
	// The witness still holds 30 of history "a", and cosigns its continuation.
	_, _, res, err = checkpoint.CheckWitnesses(ctx, []*checkpoint.WitnessClient{wc}, treeOf(t, "a", 40), signer)
	if err != nil || res[0].Size != 40 {
		t.Fatalf("continuation: %+v %v", res, err)
	}
	// An unknown device is refused (404), and not as an alarm.
	stranger := &checkpoint.WitnessClient{URL: wc.URL, Verifier: wc.Verifier}
	_, _, res, err = checkpoint.CheckWitnesses(ctx, []*checkpoint.WitnessClient{stranger}, treeOf(t, "a", 2), checkpoint.DeviceSigner(key("stranger")))
	if err != nil || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "404") {
		t.Errorf("unknown device: %+v %v", res, err)
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add("chargegate/0123456789abcdef\n7\n" + strings.Repeat("A", 43) + "=\n")
	f.Add("a\n\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := checkpoint.ParseCheckpoint(s)
		if err != nil {
			return
		}
		if c.String() != s {
			t.Fatalf("accepted %q, re-encodes as %q", s, c.String())
		}
	})
}

func FuzzParseAddCheckpoint(f *testing.F) {
	golden, _ := os.ReadFile(filepath.Join("testdata", "golden.txt"))
	if i := strings.Index(string(golden), "old 3\n"); i >= 0 {
		f.Add(golden[i:])
	}
	f.Add([]byte("old 0\n\nx"))
	f.Fuzz(func(t *testing.T, b []byte) {
		old, proof, signed, err := checkpoint.ParseAddCheckpoint(b)
		if err != nil {
			return
		}
		if got := checkpoint.FormatAddCheckpoint(old, proof, signed); string(got) != string(b) {
			t.Fatalf("accepted %q, re-encodes as %q", b, got)
		}
	})
}
