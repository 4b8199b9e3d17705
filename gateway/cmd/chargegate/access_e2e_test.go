package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/access"
	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/ledger"
)

// Issue 17: a signed capability token starts a session on a box that trusts its issuer, without
// asking anyone (no CSMS, no online check; the token arrives over MQTT); the begin entry records
// how it was authorized (never the id token itself) and the token's limits end the session
// (duration, energy). Tokens from an unknown issuer, for another EVSE, not yet valid, expired,
// or single-use and presented again are refused with their reason, and each refusal is an
// auth_refused event in the chain.
func TestSignedTokenStartsALimitedSession(t *testing.T) {
	dir := t.TempDir()
	issuer := filepath.Join(dir, "emsp")
	other := filepath.Join(dir, "other")
	issue := tokenIssuer(t, issuer, "04A1B2C3D4")
	tokenIssuer(t, other, "04A1B2C3D4")
	good := issue(issuer, "--evse", "DE*CGT*ETEST*1", "--expires", "1h", "--max-energy-wh", "2")
	foreign := issue(other, "--evse", "DE*CGT*ETEST*1", "--expires", "1h")
	elsewhere := issue(issuer, "--evse", "DE*CGT*E9999*1", "--expires", "1h")
	later := issue(issuer, "--evse", "DE*CGT*ETEST*1", "--expires", "1h", "--not-before", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	expired := issue(issuer, "--evse", "DE*CGT*ETEST*1", "--expires", "1h", "--not-before", time.Now().Add(-2*time.Hour).UTC().Format(time.RFC3339))
	once := issue(issuer, "--evse", "DE*CGT*ETEST*1", "--expires", "1h", "--single-use", "--max-duration", "2s")

	s := rig.StartStack(t, rig.StackOptions{Broker: true})
	op := rig.ConnectOperator(t, s.Broker)
	cfg := testConfig(s, filepath.Join(dir, "data"), "access:\n  issuers: [\"emsp-1="+issuer+".pub\"]\n")
	g := startGateway(t, dir, cfg)
	op.WaitOnline(g.Device)
	// A single-use token charges once, for at most its 2 s; presented again it is a replay.
	if rep := op.Command(g.Device, "start", `{"request_id":"t-once","token":"`+once+`"}`); rep["ok"] != true {
		t.Fatalf("start with a single-use token: %v", rep)
	}
	rig.WaitFor(t, 30*time.Second, "the token's 2 s limit ends the session", func() bool {
		return g.StatusMap(t)["session"] == nil
	})
	for name, tok := range map[string]string{"unknown_issuer|bad_signature": foreign, "wrong_evse": elsewhere, "not_yet_valid": later,
		"expired": expired, "replayed": once} {
		rep := op.Command(g.Device, "start", `{"request_id":"t-`+name[:4]+`","token":"`+tok+`"}`)
		e, _ := rep["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if rep["ok"] != false || e["code"] != "unauthorized" || !containsAny(msg, strings.Split(name, "|")) {
			t.Errorf("start with a token that should be refused (%s): %v", name, rep)
		}
	}
	rep := op.Command(g.Device, "start", `{"request_id":"t-good","token":"`+good+`"}`)
	if rep["ok"] != true {
		t.Fatalf("start with a valid token: %v", rep)
	}
	rig.WaitFor(t, 30*time.Second, "the token's 2 Wh limit ends the session", func() bool {
		return g.StatusMap(t)["session"] == nil
	})
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var begins, ends []ledger.Entry
	refused := map[string]string{}
	for _, e := range chain(t, g.DataDir) {
		switch {
		case e.Kind == ledger.KindSessionBegin:
			begins = append(begins, e)
		case e.Kind == ledger.KindSessionEnd:
			ends = append(ends, e)
		case e.Event == ledger.EventAuthRefused:
			_, reason, _ := strings.Cut(e.Detail, "refused=")
			reason, _, _ = strings.Cut(reason, " ")
			refused[reason] = e.Detail
			if !strings.Contains(e.Detail, "via=mqtt") || strings.Contains(e.Detail, "04A1B2C3D4 ") {
				t.Errorf("refusal %q: want the channel and the token hash, never the id token", e.Detail)
			}
		}
	}
	if len(begins) != 2 || len(ends) != 2 {
		t.Fatalf("%d begins, %d ends; want two sessions", len(begins), len(ends))
	}
	for _, b := range begins {
		if d := b.Detail; !strings.Contains(d, "auth=token") || !strings.Contains(d, access.TokenHash("04A1B2C3D4")) ||
			!strings.Contains(d, "kid=emsp-1") || strings.Contains(d, "04A1B2C3D4 ") || strings.Contains(d, "id_token=") {
			t.Errorf("begin entry detail %q: want how it was authorized, never the id token", d)
		}
	}
	if ends[0].Event != ledger.EndTimeLimit || ends[1].Event != ledger.EndEnergyLimit {
		t.Errorf("sessions ended %q and %q, want %q and %q (the tokens' limits)", ends[0].Event, ends[1].Event, ledger.EndTimeLimit, ledger.EndEnergyLimit)
	}
	for _, reason := range []string{"wrong_evse", "not_yet_valid", "expired", "replayed"} {
		if refused[reason] == "" {
			t.Errorf("no auth_refused event with reason %s in the chain (have %v)", reason, refused)
		}
	}
	if refused["unknown_issuer"] == "" && refused["bad_signature"] == "" {
		t.Errorf("the foreign-signed token's refusal is not in the chain (have %v)", refused)
	}
}

// tokenIssuer makes an issuer key pair at path (.key, .pub) with `chargegate token keygen` and
// returns a function that issues, with `chargegate token issue`, a token for idToken under key
// ID emsp-1, signed by the key at the path it is given, with further flags.
func tokenIssuer(t *testing.T, path, idToken string) func(key string, args ...string) string {
	t.Helper()
	if code, out := rig.CLI(t, "", "token", "keygen", "--out", path); code != 0 {
		t.Fatalf("token keygen: %s", out)
	}
	return func(key string, args ...string) string {
		t.Helper()
		code, out := rig.CLI(t, "", append([]string{"token", "issue", "--key", key + ".key", "--kid", "emsp-1", "--id-token", idToken}, args...)...)
		if code != 0 {
			t.Fatalf("token issue: %s", out)
		}
		return strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
