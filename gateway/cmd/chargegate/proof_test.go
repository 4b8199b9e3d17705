package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/node"
	"github.com/chargegate/chargegate/ledger/sqlite"
	"github.com/chargegate/chargegate/ledger/stardust"
)

// anchoredDataDir builds a gateway data directory whose entries are anchored on a real node
// (in-process, over loopback HTTP) by the real publisher keeping proofs in DIR/proofs. It returns
// the directory, the node's URL and its keys file; stop ends and deletes the node.
func anchoredDataDir(t *testing.T, entries, batch int) (dir, url, keysFile string, stop func()) {
	t.Helper()
	ctx := context.Background()
	seed := sha256.Sum256([]byte("chargegate proof cli test"))
	key := ed25519.NewKeyFromSeed(seed[:])
	dir = t.TempDir()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{Key: key, Ballast: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs := make([]ledger.Record, entries)
	for i := range recs {
		recs[i] = ledger.Record{Time: time.Date(2026, 3, 1, 12, 0, i, 0, time.UTC), TimeStatus: ledger.TimeSynchronised,
			Kind: ledger.KindReading, MeterSerial: "EM-1", ImportMWh: int64(1000 * i)}
	}
	if _, err := st.Append(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	url, keysFile, stop = anchorOnNode(t, st, key, dir, entries, batch)
	return dir, url, keysFile, stop
}

// anchorOnNode anchors every entry of st (entries of them, batch per anchor) on a fresh
// in-process ledger node with two coordinator keys, keeping the inclusion proofs in dir/proofs.
// It returns the node's URL, its coordinator keys file and a function that stops the node and
// deletes its data (also run at cleanup).
func anchorOnNode(t *testing.T, st *sqlite.Store, key ed25519.PrivateKey, dir string, entries, batch int) (url, keysFile string, stop func()) {
	t.Helper()
	ctx := context.Background()
	nodeDir := filepath.Join(t.TempDir(), "node")
	n, err := node.New(node.Config{Dir: nodeDir, NoPoW: true, MilestoneInterval: 20 * time.Millisecond, CoordinatorKeys: 2})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	nctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { n.Run(nctx); close(done) }() //nolint:errcheck // returns nil
	p, err := stardust.NewPublisher(st, key, stardust.Config{NodeURL: srv.URL, BatchSize: batch, BatchAge: time.Millisecond,
		PollInterval: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, ProofDir: filepath.Join(dir, "proofs")})
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(ctx)
	pdone := make(chan struct{})
	go func() { p.Run(pctx); close(pdone) }() //nolint:errcheck // returns nil
	deadline := time.Now().Add(30 * time.Second)
	for p.Status().Proofs < (entries+batch-1)/batch {
		if time.Now().After(deadline) {
			t.Fatalf("not anchored: %+v", p.Status())
		}
		time.Sleep(10 * time.Millisecond) // polling interval of the wait loop
	}
	pcancel()
	<-pdone
	keysFile = filepath.Join(t.TempDir(), "coordinator-keys.json")
	b, err := os.ReadFile(filepath.Join(nodeDir, node.KeysFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keysFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		srv.Close()
		n.Close()
		os.RemoveAll(nodeDir)
	}
	t.Cleanup(stop)
	return srv.URL, keysFile, stop
}

// TestProofVerdicts runs proof and verify-proof as a verifier would: with the node, then with
// the node gone (offline VALID, online UNDECIDED, never INVALID), then with each part tampered
// (INVALID).
func TestProofVerdicts(t *testing.T) {
	dir, url, keys, stopNode := anchoredDataDir(t, 120, 40)
	proof := filepath.Join(t.TempDir(), "p.json")
	if code, _, errb := run(t, "", "proof", "--data", dir, "--seq", "57", "--out", proof); code != 0 {
		t.Fatalf("proof = %d: %s", code, errb)
	}
	b, _ := os.ReadFile(proof)
	if !strings.Contains(string(b), `"format": "chargegate-proof/2"`) {
		t.Fatalf("proof is not /2:\n%.300s", b)
	}
	if code, out, errb := run(t, "", "verify-proof", "--node", url, "--coordinator-keys", keys, "--chain", proof); code != 0 || !strings.Contains(out, "2 anchors cover entries 1..80") {
		t.Fatalf("online = %d: %s %s", code, out, errb)
	}
	stopNode()
	if code, out, errb := run(t, "", "verify-proof", "--offline", "--coordinator-keys", keys, "--chain", "--proofs", filepath.Join(dir, "proofs"), proof); code != 0 || !strings.Contains(out, "VALID") {
		t.Fatalf("offline after the node is gone = %d: %s %s", code, out, errb)
	}
	if code, _, errb := run(t, "", "verify-proof", "--node", url, proof); code != 2 || !strings.HasPrefix(errb, "UNDECIDED") {
		t.Fatalf("online without a node = %d, want 2 UNDECIDED: %s", code, errb)
	}
	// The node gone, but the proof carries its own milestone: the keys decide.
	if code, _, errb := run(t, "", "verify-proof", "--node", url, "--coordinator-keys", keys, proof); code != 0 {
		t.Fatalf("online without a node, with keys = %d: %s", code, errb)
	}

	var good map[string]any
	json.Unmarshal(b, &good)
	tamper := func(name string, f func(p map[string]any)) {
		t.Run(name, func(t *testing.T) {
			var p map[string]any
			json.Unmarshal(b, &p)
			f(p)
			nb, _ := json.Marshal(p)
			path := filepath.Join(t.TempDir(), "t.json")
			os.WriteFile(path, nb, 0o600)
			if code, _, errb := run(t, "", "verify-proof", "--offline", "--coordinator-keys", keys, path); code != 1 || !strings.HasPrefix(errb, "INVALID") {
				t.Errorf("exit %d, want 1 INVALID: %s", code, errb)
			}
		})
	}
	flip := func(s string) string {
		i := len(s) - 3
		c := byte('0')
		if s[i] == '0' {
			c = '1'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	poi := func(p map[string]any) map[string]any { return p["poi"].(map[string]any) }
	tamper("entry", func(p map[string]any) { p["entry"] = flip(p["entry"].(string)) })
	tamper("anchor", func(p map[string]any) { p["anchor"] = flip(p["anchor"].(string)) })
	tamper("path", func(p map[string]any) {
		s, _ := json.Marshal(p["path"])
		i := strings.Index(string(s), `"h":"0x`) + 7
		var v any
		json.Unmarshal([]byte(flip(string(s[:i+2]))+string(s[i+2:])), &v)
		p["path"] = v
	})
	tamper("block byte", func(p map[string]any) {
		blk := poi(p)["block"].(map[string]any)
		blk["nonce"] = "12345"
	})
	// A payload that says transaction without being one made iota.go's decoding panic.
	tamper("block payload says transaction", func(p map[string]any) {
		poi(p)["block"].(map[string]any)["payload"] = map[string]any{"type": 6}
	})
	tamper("milestone signature", func(p map[string]any) {
		ms := poi(p)["milestone"].(map[string]any)
		sig := ms["signatures"].([]any)[0].(map[string]any)
		sig["signature"] = flip(sig["signature"].(string))
	})
	tamper("milestone inclusion root", func(p map[string]any) {
		ms := poi(p)["milestone"].(map[string]any)
		ms["inclusionMerkleRoot"] = flip(ms["inclusionMerkleRoot"].(string))
	})
	tamper("inclusion path", func(p map[string]any) {
		s, _ := json.Marshal(poi(p)["proof"])
		i := strings.Index(string(s), `"h":"0x`) + 7
		var v any
		json.Unmarshal([]byte(flip(string(s[:i+2]))+string(s[i+2:])), &v)
		poi(p)["proof"] = v
	})
	t.Run("key range", func(t *testing.T) {
		kb, _ := os.ReadFile(keys)
		var kf map[string]any
		json.Unmarshal(kb, &kf)
		for _, r := range kf["publicKeyRanges"].([]any) {
			r.(map[string]any)["start"], r.(map[string]any)["end"] = 1000000, 1000001
		}
		nk, _ := json.Marshal(kf)
		path := filepath.Join(t.TempDir(), "keys.json")
		os.WriteFile(path, nk, 0o600)
		if code, _, errb := run(t, "", "verify-proof", "--offline", "--coordinator-keys", path, proof); code != 1 {
			t.Errorf("keys not valid for the milestone's index: exit %d, want 1: %s", code, errb)
		}
	})
}
