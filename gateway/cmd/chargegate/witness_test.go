package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/checkpoint"
)

// startWitness runs "chargegate witness serve" in-process until the returned stop is called,
// and returns its URL.
func startWitness(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var errb strings.Builder
	go func() { done <- dispatch(ctx, append([]string{"witness", "serve"}, args...), pw, &errb); pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("witness did not start: %v %s", err, errb.String())
	}
	go io.Copy(io.Discard, pr) //nolint:errcheck // drains the pipe
	var addr map[string]string
	if err := json.Unmarshal([]byte(line), &addr); err != nil {
		t.Fatal(err)
	}
	return addr["witness"], func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("witness exit %d: %s", code, errb.String())
		}
	}
}

// TestWitnessCommand sets a witness up with the CLI as an operator would, lets a gateway's
// checkpoints be cosigned, restarts the witness, and shows that a rolled-back device is refused.
func TestWitnessCommand(t *testing.T) {
	dir := t.TempDir()
	keys, err := ledger.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	code, devVkey, errb := run(t, "", "witness", "device-vkey", "--data", dir)
	if code != 0 {
		t.Fatalf("device-vkey = %d: %s", code, errb)
	}
	wdir := t.TempDir()
	keyFile := filepath.Join(wdir, "witness.key")
	code, wVkey, errb := run(t, "", "witness", "vkey", "--key", keyFile, "--name", "witness.test")
	if code != 0 {
		t.Fatalf("vkey = %d: %s", code, errb)
	}
	cv, err := checkpoint.NewCosignatureVerifier(strings.TrimSpace(wVkey))
	if err != nil {
		t.Fatal(err)
	}
	serve := []string{"--key", keyFile, "--name", "witness.test", "--state", filepath.Join(wdir, "state.json"), "--log", strings.TrimSpace(devVkey)}
	tree := func(n int) *checkpoint.Tree {
		tr := &checkpoint.Tree{}
		for s := uint64(1); s <= uint64(n); s++ {
			tr.Append(s, sha256.Sum256([]byte(fmt.Sprint(s))))
		}
		return tr
	}
	signer := checkpoint.DeviceSigner(keys.Entry)
	url, stop := startWitness(t, serve...)
	ctx := context.Background()
	if _, _, res, err := checkpoint.CheckWitnesses(ctx, []*checkpoint.WitnessClient{{URL: url, Verifier: cv}}, tree(50), signer); err != nil || res[0].Err != nil {
		t.Fatalf("cosign 50: %+v %v", res, err)
	}
	stop()
	url, stop = startWitness(t, serve...)
	defer stop()
	_, _, res, err := checkpoint.CheckWitnesses(ctx, []*checkpoint.WitnessClient{{URL: url, Verifier: cv}}, tree(40), signer)
	if !errors.Is(err, checkpoint.ErrRolledBack) || res[0].Size != 50 {
		t.Fatalf("rolled back to 40 after the witness restarted: %+v %v, want ErrRolledBack at 50", res, err)
	}
	if code, _, _ := run(t, "", "witness", "serve"); code != 2 {
		t.Errorf("serve without flags = %d, want 2", code)
	}
}
