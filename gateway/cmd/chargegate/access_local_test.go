package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/access"
	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

// A box without any network (no broker, no CSMS, no ledger node) takes a signed token from a
// phone over its own local API: a valid token charges within its energy limit and stops at it,
// an expired one and a single-use one presented twice are refused with their reasons, and each
// decision is in the chain — the refusals as auth_refused events naming the channel, the begin
// entry with the token's hash, never the id token.
func TestSignedTokenAtAnOfflineBoxOverTheLocalAPI(t *testing.T) {
	dir := t.TempDir()
	issuer := filepath.Join(dir, "emsp")
	issue := tokenIssuer(t, issuer, "PHONE-7")
	good := issue(issuer, "--evse", "DE*CGT*ETEST*1", "--expires", "1h", "--max-energy-wh", "2")
	once := issue(issuer, "--evse", "DE*CGT*ETEST*1", "--expires", "1h", "--single-use", "--max-duration", "2s")
	expired := issue(issuer, "--evse", "DE*CGT*ETEST*1", "--expires", "1h", "--not-before", time.Now().Add(-2*time.Hour).UTC().Format(time.RFC3339))

	s := rig.StartStack(t, rig.StackOptions{NoNode: true})
	secret := "local-operator-token-1"
	tokenFile := filepath.Join(dir, "http.token")
	if err := os.WriteFile(tokenFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(s, filepath.Join(dir, "data"), "access:\n  issuers: [\"emsp-1="+issuer+".pub\"]\n")
	cfg = strings.Replace(cfg, "http:\n  listen: 127.0.0.1:0\n", "http:\n  listen: 127.0.0.1:0\n  token_file: "+tokenFile+"\n", 1)
	if !strings.Contains(cfg, "broker: \"\"") || !strings.Contains(cfg, "node_url: \"\"") || !strings.Contains(cfg, "token_file:") {
		t.Fatalf("want a configuration without a broker and with a local API token:\n%s", cfg)
	}
	g := startGateway(t, dir, cfg)
	g.Token = secret
	start := func(tok string) (int, map[string]any) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"token": tok})
		req, _ := http.NewRequest(http.MethodPost, "http://"+g.API+"/api/v1/commands/start", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var v map[string]any
		json.Unmarshal(b, &v)
		return resp.StatusCode, v
	}
	if code, v := start(once); code != http.StatusOK {
		t.Fatalf("start with a single-use token: %d %v", code, v)
	}
	rig.WaitFor(t, 30*time.Second, "the single-use token's 2 s limit ends its session", func() bool { return g.StatusMap(t)["session"] == nil })
	for reason, tok := range map[string]string{"replayed": once, "expired": expired} {
		if code, v := start(tok); code == http.StatusOK || v["code"] != "unauthorized" || !strings.Contains(v["error"].(string), reason) {
			t.Errorf("start with a %s token answered %d %v, want unauthorized naming %s", reason, code, v, reason)
		}
	}
	if code, v := start(good); code != http.StatusOK {
		t.Fatalf("start with a valid token: %d %v", code, v)
	}
	rig.WaitFor(t, 30*time.Second, "the token's 2 Wh limit ends its session", func() bool { return g.StatusMap(t)["session"] == nil })
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var begins, ends []ledger.Entry
	refused := map[string]string{}
	for _, e := range chain(t, g.DataDir) {
		if strings.Contains(e.Detail, "PHONE-7") {
			t.Errorf("seq %d carries the id token in clear: %q", e.Seq, e.Detail)
		}
		switch {
		case e.Kind == ledger.KindSessionBegin:
			begins = append(begins, e)
		case e.Kind == ledger.KindSessionEnd:
			ends = append(ends, e)
		case e.Event == ledger.EventAuthRefused:
			_, reason, _ := strings.Cut(e.Detail, "refused=")
			reason, _, _ = strings.Cut(reason, " ")
			refused[reason] = e.Detail
		}
	}
	if len(begins) != 2 || len(ends) != 2 || ends[0].Event != ledger.EndTimeLimit || ends[1].Event != ledger.EndEnergyLimit {
		t.Fatalf("chain holds %d begins and ends %v; want two sessions ended by the tokens' limits", len(begins), ends)
	}
	for _, b := range begins {
		if !strings.Contains(b.Detail, "auth=token tok="+access.TokenHash("PHONE-7")) || !strings.Contains(b.Detail, "kid=emsp-1") {
			t.Errorf("begin entry %q: want the decision with the token hash and issuer", b.Detail)
		}
	}
	for _, reason := range []string{"replayed", "expired"} {
		if refused[reason] == "" {
			t.Errorf("no auth_refused event for the %s token (have %v)", reason, refused)
		}
	}
	rig.MustVerify(t, g.DataDir)
}
