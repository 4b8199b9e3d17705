package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iotaledger/iota.go/v3/nodeclient"

	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/receipt"
)

// Issue 17: once the anchor covering a session's end confirms, the box signs its receipt again
// with the anchor block ID and the Merkle proofs of both entries, serves and publishes it;
// chargegate receipt verify --node checks the proofs against the ledger node, and every field
// of the receipt, changed, is caught — by the signature, and, when the device key signs the
// changed receipt again, by the entries, the OCMF record or the proofs.
func TestAnchoredReceiptVerifiesAgainstTheNode(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{Broker: true})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	op := rig.ConnectOperator(t, s.Broker)
	g := startGateway(t, dir, testConfig(s, data, ""))
	op.WaitOnline(g.Device)
	rep := op.Command(g.Device, "start", `{"request_id":"ar1","id_token":"04A1B2C3D4E5F6"}`)
	if rep["ok"] != true {
		t.Fatalf("start: %v", rep)
	}
	id, _ := rep["result"].(map[string]any)["session_id"].(string)
	rig.WaitFor(t, 20*time.Second, "energy flows", func() bool {
		m, _ := g.StatusMap(t)["session"].(map[string]any)
		e, _ := m["energy_mwh"].(float64)
		return e > 0
	})
	if rep := op.Command(g.Device, "stop", `{"request_id":"ar2"}`); rep["ok"] != true {
		t.Fatalf("stop: %v", rep)
	}
	rig.WaitFor(t, 60*time.Second, "the anchored receipt on the receipts topic", func() bool {
		ms := op.Messages("receipts")
		return len(ms) >= 2 && bytes.Contains(ms[len(ms)-1], []byte(`"blockId"`))
	})
	ms := op.Messages("receipts")
	first, anchored := ms[0], ms[len(ms)-1]
	if bytes.Contains(first, []byte(`"blockId"`)) || !bytes.Contains(anchored, []byte(id)) {
		t.Fatalf("want the unanchored receipt first, then the anchored one of session %s", id)
	}
	resp, err := http.Get("http://" + g.API + "/api/v1/sessions/" + id + "/receipt")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(served, anchored) {
		t.Fatalf("the local API serves another receipt than the anchored one: %.200s", served)
	}
	file := filepath.Join(dir, "receipt.json")
	if err := os.WriteFile(file, served, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := rig.CLI(t, "", "receipt", "verify", "--node", s.LedgerURL, file)
	if code != 0 || !strings.Contains(out, "ok      ledger") || !strings.Contains(out, "VALID") {
		t.Fatalf("receipt verify --node = %d, want 0 with the ledger check:\n%s", code, out)
	}
	t.Logf("receipt verify --node %s:\n%s", s.LedgerURL, out)

	keys, err := ledger.LoadKeys(data)
	if err != nil {
		t.Fatal(err)
	}
	node := nodeclient.New(s.LedgerURL)
	verdict := func(doc []byte) receipt.Verdict {
		return receipt.Verify(context.Background(), doc, receipt.Options{Node: node}).Verdict()
	}
	if v := verdict(served); v != receipt.Valid {
		t.Fatalf("the served receipt is %s", v)
	}
	var doc map[string]any
	if err := json.Unmarshal(served, &doc); err != nil {
		t.Fatal(err)
	}
	// Every leaf of the document, changed; the device's own signature over a changed receipt
	// still does not make it hold, except where the device alone vouches (evseId comes from its
	// configuration, created is when it signed).
	vouched := map[string]bool{"credentialSubject.evseId": true}
	paths := leaves(doc, "")
	sort.Strings(paths)
	for _, p := range paths {
		if p == "proof.created" {
			continue
		}
		tampered := tamperLeaf(t, doc, p)
		if v := verdict(tampered); v != receipt.Invalid {
			t.Errorf("%s changed: %s, want invalid", p, v)
		}
		if strings.HasPrefix(p, "proof.") {
			continue
		}
		var m map[string]any
		json.Unmarshal(tampered, &m)
		delete(m, "proof")
		b, _ := json.Marshal(m)
		resigned, err := receipt.Sign(b, keys.Entry, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if v := verdict(resigned); v != receipt.Invalid && !vouched[p] {
			t.Errorf("%s changed and signed again by the device: %s, want invalid", p, v)
		}
	}
	t.Logf("%d fields changed, each caught", len(paths))
	// The tampered file through the CLI too: exit 1.
	bad := bytes.Replace(served, []byte(`"endReason":"remote"`), []byte(`"endReason":"local"`), 1)
	if err := os.WriteFile(file, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := rig.CLI(t, "", "receipt", "verify", "--node", s.LedgerURL, file); code != 1 {
		t.Errorf("a tampered receipt: exit %d, want 1:\n%s", code, out)
	}
}

// leaves lists the dotted paths of every string, number and boolean in v ("a.b.3.c").
func leaves(v any, prefix string) []string {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			out = append(out, leaves(c, join(k))...)
		}
	case []any:
		for i, c := range x {
			out = append(out, leaves(c, join(fmt.Sprint(i)))...)
		}
	default:
		out = append(out, prefix)
	}
	return out
}

// tamperLeaf returns doc with the leaf at path changed: a number plus one, a boolean negated, a
// string with its last character changed (a hex digit stays a hex digit).
func tamperLeaf(t *testing.T, doc map[string]any, path string) []byte {
	t.Helper()
	b, _ := json.Marshal(doc)
	var c any
	json.Unmarshal(b, &c)
	keys := strings.Split(path, ".")
	parent := c
	for _, k := range keys[:len(keys)-1] {
		switch x := parent.(type) {
		case map[string]any:
			parent = x[k]
		case []any:
			var i int
			fmt.Sscan(k, &i)
			parent = x[i]
		}
	}
	last := keys[len(keys)-1]
	change := func(v any) any {
		switch x := v.(type) {
		case float64:
			return x + 1
		case bool:
			return !x
		case string:
			if x == "" {
				return "x"
			}
			r := x[len(x)-1]
			switch {
			case r == '0':
				r = '1'
			case r >= '1' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F':
				r = '0'
			case r == 'x': // a change must change something (a did:key may end in x)
				r = 'y'
			default:
				r = 'x'
			}
			return x[:len(x)-1] + string(r)
		}
		t.Fatalf("%s: cannot change %T", path, v)
		return nil
	}
	switch x := parent.(type) {
	case map[string]any:
		x[last] = change(x[last])
	case []any:
		var i int
		fmt.Sscan(last, &i)
		x[i] = change(x[i])
	}
	out, _ := json.Marshal(c)
	return out
}
