package main

import (
	"encoding/json"
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

// tapper writes commands to the simulated card reader's FIFO (hal/sim: "tap 04A1B2C3"), as a
// driver holding a card to the box.
type tapper struct {
	t *testing.T
	f *os.File
}

func openTapper(t *testing.T, fifo string) *tapper {
	t.Helper()
	rig.WaitFor(t, 10*time.Second, "the reader FIFO", func() bool {
		fi, err := os.Stat(fifo)
		return err == nil && fi.Mode()&os.ModeNamedPipe != 0
	})
	// The gateway holds the FIFO open for reading from start, so this does not block.
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &tapper{t: t, f: f}
}

func (p *tapper) tap(uid string) {
	p.t.Helper()
	if _, err := p.f.WriteString("tap " + uid + "\n"); err != nil {
		p.t.Fatal(err)
	}
}

// Issue 17: an offline box — no broker, no CSMS, no ledger node — decides at the reader: a card
// on the operator's allow-list starts a session, an unknown card does not, a card of another
// group cannot stop it, a card of the same group stops it; every decision is in the chain with
// the card's hash and never the UID itself.
func TestRFIDOfflineBoxDecidesAtTheReader(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	const listed, sameGroup, unknown = "04A1B2C3", "04D4E5F6A7B8C9", "04BAD000"
	// The operator provisioned the allow-list (access/allow-list.json, gateway/access doc.go).
	list := map[string]any{"version": 1, "entries": []map[string]any{
		{"id_token": listed, "group": "fleet-7"}, {"id_token": sameGroup, "group": "fleet-7"},
	}}
	b, _ := json.Marshal(list)
	if err := os.MkdirAll(filepath.Join(data, "access"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "access", "allow-list.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	s := rig.StartStack(t, rig.StackOptions{NoNode: true})
	s.LedgerURL = ""
	cfg := s.Config(data, rig.Config{Idle: time.Second, Sessions: "  mode: authorized\n",
		Extra: "access:\n  rfid:\n    reader: sim\n"})
	g := startGateway(t, dir, cfg)
	reader := openTapper(t, filepath.Join(data, "rfid.fifo"))
	session := func() map[string]any { m, _ := g.StatusMap(t)["session"].(map[string]any); return m }
	isRefusal := func(reason string) func(ledger.Entry) bool {
		return func(e ledger.Entry) bool {
			return e.Kind == ledger.KindEvent && e.Event == ledger.EventAuthRefused && strings.Contains(e.Detail, "refused="+reason)
		}
	}

	reader.tap(unknown)
	rig.WaitEntry(t, data, 0, 10*time.Second, "the unknown card's refusal in the chain", isRefusal(access.ReasonOffline))
	if session() != nil {
		t.Fatal("an unknown card started a session")
	}

	reader.tap(listed)
	rig.WaitFor(t, 10*time.Second, "the listed card's session", func() bool { return session() != nil })
	id, _ := session()["id"].(string)

	reader.tap(unknown) // not the holder: the session goes on
	rig.WaitEntry(t, data, 0, 10*time.Second, "the stranger's refusal to stop", isRefusal("not_session_holder"))
	if m := session(); m == nil || m["id"] != id {
		t.Fatalf("a stranger's card changed the session: %v", m)
	}

	reader.tap(sameGroup)
	rig.WaitFor(t, 10*time.Second, "the group's second card stops the session", func() bool { return session() == nil })

	// A card held at the reader again and again cannot fill the store: at most 10 refusals a
	// minute are recorded (2 so far), the rest only counted.
	for range 30 {
		reader.tap(unknown)
	}
	refusalCount := func() int {
		n := 0
		for _, e := range rig.Entries(t, data, 0) {
			if e.Event == ledger.EventAuthRefused {
				n++
			}
		}
		return n
	}
	rig.WaitFor(t, 20*time.Second, "10 refusals recorded", func() bool { return refusalCount() >= 10 })
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	var begin, end *ledger.Entry
	refusals := 0
	for _, e := range chain(t, data) {
		for _, uid := range []string{listed, sameGroup, unknown} {
			if strings.Contains(e.Detail, uid) {
				t.Errorf("entry %d detail %q holds the card UID %s", e.Seq, e.Detail, uid)
			}
		}
		switch {
		case e.Kind == ledger.KindSessionBegin:
			begin = &e
		case e.Kind == ledger.KindSessionEnd:
			end = &e
		case e.Event == ledger.EventAuthRefused:
			refusals++
			if !strings.Contains(e.Detail, "tok="+access.TokenHash(unknown)) || !strings.Contains(e.Detail, "via=rfid") {
				t.Errorf("refusal detail %q: want the unknown card's hash and the channel", e.Detail)
			}
		}
	}
	if refusals != 10 {
		t.Errorf("%d refusal events, want 10 (unknown card, stranger's stop, then the rate limit's 8 more of 30 taps)", refusals)
	}
	if begin == nil || end == nil || begin.SessionID != id || end.SessionID != id {
		t.Fatalf("want one session %s in the chain: begin %v, end %v", id, begin, end)
	}
	if want := "auth=local_list tok=" + access.TokenHash(listed) + " grp=fleet-7"; begin.Detail != want {
		t.Errorf("begin detail %q, want %q", begin.Detail, want)
	}
	if end.Event != ledger.EndLocal {
		t.Errorf("session ended %q, want %q (stopped at the reader)", end.Event, ledger.EndLocal)
	}
}

// With OCPP on, a card nobody listed is asked about online (the CSMS's Authorize) and its
// parentIdTag becomes the session's group: the begin entry names the group, and a card of the
// same group on the operator's list stops the session at the reader.
func TestRFIDOnlineAuthorizationKeepsTheCSMSGroup(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	const online, sameGroup = "04E1E2E3", "04F1F2F3"
	list := map[string]any{"version": 1, "entries": []map[string]any{{"id_token": sameGroup, "group": "fleet-9"}}}
	b, _ := json.Marshal(list)
	if err := os.MkdirAll(filepath.Join(data, "access"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "access", "allow-list.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	c := rig.StartCSMS(t, filepath.Join("..", "..", "ocpp", "testdata", "csms"), "--interval", "30", "--auth-parent", "fleet-9")
	s := rig.StartStack(t, rig.StackOptions{NoNode: true})
	s.LedgerURL = ""
	cfg := s.Config(data, rig.Config{Idle: time.Second, Sessions: "  mode: authorized\n",
		Extra: "ocpp:\n  url: " + c.URL() + "\n  identity: CG-GROUP-1\naccess:\n  rfid:\n    reader: sim\n"})
	g := startGateway(t, dir, cfg)
	c.WaitFor("connected", func() bool { return len(c.Calls("StatusNotification")) >= 2 })
	reader := openTapper(t, filepath.Join(data, "rfid.fifo"))
	session := func() map[string]any { m, _ := g.StatusMap(t)["session"].(map[string]any); return m }

	reader.tap(online)
	rig.WaitFor(t, 10*time.Second, "the online card's session", func() bool { return session() != nil })
	if n := len(c.Calls("Authorize")); n != 1 {
		t.Errorf("%d Authorize calls, want the card asked about once", n)
	}
	reader.tap(sameGroup)
	rig.WaitFor(t, 10*time.Second, "the group's listed card stops the session", func() bool { return session() == nil })
	if err := g.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, e := range chain(t, data) {
		if e.Kind == ledger.KindSessionBegin && !strings.Contains(e.Detail, "auth=online") || e.Kind == ledger.KindSessionBegin && !strings.Contains(e.Detail, "grp=fleet-9") {
			t.Errorf("begin entry detail %q, want an online decision in group fleet-9", e.Detail)
		}
	}
}
