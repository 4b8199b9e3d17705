package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/chargegate/chargegate/gateway/access"
	"github.com/chargegate/chargegate/gateway/rig"
	"github.com/chargegate/chargegate/gateway/web"
	"github.com/chargegate/chargegate/ledger"
)

// pageWeightBudget is the most the UI may transfer on its first load (HTML, CSS, JS, icon and
// the first API answer, compressed as sent): a driver's phone on a weak signal at the box.
const pageWeightBudget = 40 << 10

// browser drives Debian's headless Chromium against one daemon, collecting console errors and
// what each request transferred.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string // screenshots

	mu       sync.Mutex
	errors   []string
	urls     map[network.RequestID]string
	transfer map[network.RequestID]float64
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Fatal("chromium not installed: run `make deps` (Debian package chromium)")
	}
	dir := os.Getenv("CHARGEGATE_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("testdata", "out", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath("/usr/bin/chromium"), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900))
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	b := &browser{t: t, ctx: ctx, base: base, dir: dir, urls: map[network.RequestID]string{}, transfer: map[network.RequestID]float64{}}
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, log.Enable, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
	chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.urls[e.RequestID] = e.Request.URL
		case *network.EventLoadingFinished:
			b.transfer[e.RequestID] += e.EncodedDataLength
		}
	})
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.errors {
			t.Errorf("browser console: %s", e)
		}
	})
	return b
}

// do runs actions with a deadline.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\nconsole: %v", what, err, b.consoleErrors())
	}
}

// wait polls a JavaScript predicate until it is truthy.
func (b *browser) wait(what, predicate string) {
	b.t.Helper()
	b.do(what, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(40*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
}

// text returns the text of the first element matching a CSS selector.
func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||""`, sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// page opens a page by its hash and waits until it rendered.
func (b *browser) page(name string) {
	b.t.Helper()
	b.do("open "+name, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = "#/%s"`, name)))
	b.wait(name+" rendered", fmt.Sprintf(`document.body.dataset.page === %q`, strings.SplitN(name, "/", 2)[0]))
}

// a11yCheck lists what fails basic WCAG checks on the visible page: form controls without a
// label, images without alt text, buttons and links without a name, and text whose contrast
// with its background is below 4.5:1 (3:1 for large text; disabled controls are exempt).
const a11yCheck = `(() => {
  const shown = (e) => e.offsetParent !== null || e.getClientRects().length > 0;
  const bad = [];
  for (const e of document.querySelectorAll("input, select, textarea"))
    if (shown(e) && !(e.labels && e.labels.length) && !e.getAttribute("aria-label")) bad.push("unlabelled " + e.id);
  for (const e of document.querySelectorAll("img")) if (!e.hasAttribute("alt")) bad.push("no alt: " + e.src);
  for (const e of document.querySelectorAll("button, a[href]"))
    if (shown(e) && !e.textContent.trim() && !e.getAttribute("aria-label")) bad.push("unnamed " + e.outerHTML.slice(0, 60));
  const rgb = (c) => (c.match(/[0-9.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bg = (e) => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n; (n = walker.nextNode()); ) {
    const e = n.parentElement;
    if (!n.textContent.trim() || seen.has(e) || !shown(e) || e.closest("svg, [disabled], .skip")) continue;
    seen.add(e);
    const st = getComputedStyle(e);
    const a = lum(rgb(st.color)), b = lum(bg(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) bad.push("contrast " + ratio.toFixed(2) + " < " + need + ": " + n.textContent.trim().slice(0, 40));
  }
  return bad;
})()`

// shoot checks the page's accessibility basics and writes a full-page PNG of it at desktop
// and phone width.
func (b *browser) shoot(name string) {
	b.t.Helper()
	bad, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](a11yCheck))
	if err != nil {
		b.t.Fatalf("accessibility check: %v", err)
	}
	for _, p := range bad {
		b.t.Errorf("%s page: %s", name, p)
	}
	for _, v := range []struct {
		suffix        string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		opts := []chromedp.EmulateViewportOption{}
		if v.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(v.width, v.height, opts...), chromedp.Sleep(300*time.Millisecond)); err != nil {
			cancel()
			b.t.Fatalf("viewport: %v", err)
		}
		if wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.documentElement.scrollWidth > %d`, v.width))); err != nil || wide {
			b.t.Errorf("%s page is wider than a %d px screen (%v): it scrolls sideways", name, v.width, err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(b.dir, name+"-"+v.suffix+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		b.t.Logf("screenshot %s (%d bytes)", path, len(png))
	}
	b.do("viewport back", chromedp.EmulateViewport(1280, 900))
}

// weight returns the bytes transferred so far and forgets them.
func (b *browser) weight() (float64, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var total float64
	var lines []string
	for id, n := range b.transfer {
		total += n
		lines = append(lines, fmt.Sprintf("%6.0f B  %s", n, b.urls[id]))
	}
	b.transfer = map[network.RequestID]float64{}
	return total, lines
}

// apiGet reads a JSON document of the local API with a bearer token.
func apiGet(t *testing.T, g *rig.Gateway, token, path string, v any) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+g.API+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return b
}

// TestWebUIAgainstTheDaemon drives every page of the web UI in Chromium against the real daemon
// (metersim, ledger node, simulated board): login and roles, live values over server-sent
// events, start/pause/resume/stop and clear-fault landing in the chain with who asked, the
// session's OCMF record, QR code and verification (a tampered record and a tampered proof
// INVALID), events, the installer's wiring check and meter test, the CSV export; no console
// errors, screenshots at desktop and phone width, and the first load within its weight budget.
func TestWebUIAgainstTheDaemon(t *testing.T) {
	s := rig.StartStack(t, rig.StackOptions{})
	dir := t.TempDir()
	token := "installer-secret-token-1"
	tokenFile := filepath.Join(dir, "http.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// An eMSP whose signed tokens this box trusts (gateway/access), for a start with a token.
	issuer := filepath.Join(dir, "emsp")
	if code, out := rig.CLI(t, "", "token", "keygen", "--out", issuer); code != 0 {
		t.Fatalf("token keygen: %s", out)
	}
	code, out := rig.CLI(t, "", "token", "issue", "--key", issuer+".key", "--kid", "emsp-1", "--id-token", "04A1B2C3D4",
		"--evse", "DE*CGT*ETEST*1", "--expires", "1h", "--max-energy-wh", "3")
	if code != 0 {
		t.Fatalf("token issue: %s", out)
	}
	signed := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	dataDir := filepath.Join(dir, "data")
	cfg := testConfig(s, dataDir, "access:\n  issuers: [\"emsp-1="+issuer+".pub\"]\n")
	cfg = strings.Replace(cfg, "http:\n  listen: 127.0.0.1:0\n", "http:\n  listen: 127.0.0.1:0\n  token_file: "+tokenFile+"\n", 1)
	cfg += "sessions:\n  mode: free\n  max_energy_wh: 500000\n  max_duration: 2h\n"
	g := startGateway(t, dir, cfg)
	viewer := web.ViewerToken(token)
	base := "http://" + g.API

	// The viewer role reads but may not command; no token reads nothing.
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/api/v1/status", "", http.StatusUnauthorized},
		{"GET", "/api/v1/status", viewer, http.StatusOK},
		{"GET", "/api/v1/sessions", viewer, http.StatusOK},
		{"POST", "/api/v1/commands/start", viewer, http.StatusForbidden},
		{"GET", "/api/v1/installer", viewer, http.StatusForbidden},
		{"GET", "/api/v1/installer", token, http.StatusOK},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader("{}"))
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s with %q: %s, want %d", tc.method, tc.path, tc.token, resp.Status, tc.want)
		}
	}

	b := newBrowser(t, base)
	// First load, not logged in: the Access page, within the budget.
	b.do("first load", chromedp.Navigate(base+"/"))
	b.wait("access page", `document.body.dataset.page === "access"`)
	first, lines := b.weight()
	t.Logf("first load (login page): %.0f bytes transferred\n%s", first, strings.Join(lines, "\n"))
	if first > pageWeightBudget || first == 0 {
		t.Errorf("first load transferred %.0f bytes, budget %d", first, pageWeightBudget)
	}
	b.shoot("access")

	// The viewer sees Live and Sessions but no Control or Installer in the menu.
	b.do("viewer login", chromedp.SetValue(chromedp.ID("a-token"), viewer), chromedp.Click(chromedp.CSS("#a-login button[type=submit]")))
	b.wait("viewer role", `document.getElementById("role").textContent === "viewer"`)
	if hidden := b.text(`nav a[data-page=control][hidden]`); hidden == "" {
		t.Error("the viewer's menu shows Control")
	}
	b.page("access")
	b.do("logout", chromedp.Click(chromedp.ID("a-logout")))
	b.wait("logged out", `document.getElementById("role").textContent === "not logged in"`)

	// The installer logs in with the operator token; Live comes with the live data.
	b.do("admin login", chromedp.SetValue(chromedp.ID("a-token"), token), chromedp.Click(chromedp.CSS("#a-login button[type=submit]")))
	b.wait("admin role", `document.getElementById("role").textContent === "admin"`)
	b.page("live")
	b.wait("live data", `document.getElementById("conn").textContent === "live" && document.getElementById("l-energy").textContent.endsWith("kWh")`)
	liveWeight, lines := b.weight()
	t.Logf("viewer login and logout, operator login, Live page: %.0f bytes transferred (the event stream counts once it ends)\n%s", liveWeight, strings.Join(lines, "\n"))

	// Control: start with an id_token, through the operator's checks. The begin entry, and so
	// the Live page, names it by its hash (gateway/access).
	b.page("control")
	b.do("start", chromedp.SetValue(chromedp.ID("c-idtoken"), "DRIVER42"), chromedp.Click(chromedp.CSS("#c-start button[type=submit]")))
	b.wait("started", `document.getElementById("c-result").textContent.startsWith("Start: done")`)
	b.page("live")
	b.wait("power flowing", `Number(document.getElementById("l-power").dataset.power) > 1000`)
	b.wait("per-phase values", `document.querySelectorAll("#l-phases tbody tr").length === 3 && document.querySelector("#l-phases tbody").textContent.includes(" V")`)
	b.wait("session authorization and limits", `document.getElementById("l-session").textContent.includes("auth=operator tok=`+access.TokenHash("DRIVER42")+`") &&
		!document.getElementById("l-session").textContent.includes("DRIVER42") &&
		document.getElementById("l-session").textContent.includes("500,000 Wh") && document.getElementById("l-session").textContent.includes("2 h 0 min 0 s")`)
	for _, unit := range []string{" kW", " kWh", " Hz"} {
		if !strings.Contains(b.text("#page-live"), unit) {
			t.Errorf("Live page shows no value in %q", unit)
		}
	}
	// The chart: at least one step of the hour (10 s) and the live value.
	b.wait("chart drawn", `(document.querySelector("#l-chart path.line") || {getAttribute: () => ""}).getAttribute("d").includes("L")`)
	b.shoot("live")

	b.page("control")
	b.wait("stop enabled", `!document.getElementById("c-stop").disabled`)
	b.do("pause", chromedp.Click(chromedp.ID("c-pause")))
	b.wait("paused", `document.getElementById("c-result").textContent.startsWith("Pause: done") && document.getElementById("c-session").textContent.includes("paused")`)
	b.do("resume", chromedp.Click(chromedp.ID("c-resume")))
	b.wait("resumed", `document.getElementById("c-result").textContent.startsWith("Resume: done") && document.getElementById("c-session").textContent.includes("charging")`)
	b.shoot("control")
	b.do("stop", chromedp.Click(chromedp.ID("c-stop")))
	b.wait("stopped", `document.getElementById("c-result").textContent.startsWith("Stop: done")`)

	// Each command is in the chain with who asked.
	var begin, end ledger.Entry
	var paused, resumed bool
	for _, e := range rig.Entries(t, dataDir, 0) {
		switch {
		case e.Kind == ledger.KindSessionBegin:
			begin = e
		case e.Kind == ledger.KindSessionEnd:
			end = e
		case e.Event == ledger.EventSessionPaused:
			paused = strings.Contains(e.Detail, "by=web/admin")
		case e.Event == ledger.EventSessionResumed:
			resumed = strings.Contains(e.Detail, "by=web/admin")
		}
	}
	if !strings.Contains(begin.Detail, "tok="+access.TokenHash("DRIVER42")) || strings.Contains(begin.Detail, "DRIVER42") || !strings.Contains(begin.Detail, "by=web/admin") {
		t.Errorf("begin entry %d detail %q, want the id token's hash (never the token) and by=web/admin", begin.Seq, begin.Detail)
	}
	if end.Event != ledger.EndRemote || !strings.Contains(end.Detail, "by=web/admin") {
		t.Errorf("end entry %d: %s %q, want remote by=web/admin", end.Seq, end.Event, end.Detail)
	}
	if !paused || !resumed {
		t.Errorf("pause/resume by=web/admin in the chain: paused %v, resumed %v", paused, resumed)
	}

	// Sessions: the record, its QR code, and the verify button once the end entry is anchored.
	rig.WaitFor(t, 30*time.Second, "end entry anchored", func() bool {
		var st struct {
			Anchor *struct {
				ConfirmedThrough uint64 `json:"confirmed_through"`
			} `json:"anchor"`
		}
		apiGet(t, g, token, "/api/v1/status", &st)
		return st.Anchor != nil && st.Anchor.ConfirmedThrough >= end.Seq
	})
	b.page("sessions")
	b.wait("session listed", fmt.Sprintf(`document.querySelector('#s-table tr[data-id=%q]') !== null`, end.SessionID))
	// By keyboard: the row takes the focus and Enter opens it.
	b.do("open session", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector('#s-table tr[data-id=%q]').focus()`, end.SessionID)),
		chromedp.KeyEvent("\r"))
	b.wait("OCMF record", `document.getElementById("s-ocmf").value.startsWith("OCMF|")`)
	b.wait("QR code", `document.getElementById("s-qr").complete && document.getElementById("s-qr").naturalWidth > 100`)
	b.do("verify", chromedp.Click(chromedp.ID("s-verify")))
	b.wait("verdict", `document.querySelector("#s-steps li[data-verdict]") !== null`)
	if v := b.text("#s-steps li[data-verdict]"); v != "Result: VALID" {
		t.Errorf("verify: %s\n%s", v, b.text("#s-steps"))
	}
	t.Logf("verify steps: %s", b.text("#s-steps"))
	b.shoot("session")

	// A record with one figure changed is INVALID, so is a proof with one byte changed.
	record, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById("s-ocmf").value`))
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(record, `"TX":"R","RV":`, `"TX":"R","RV":1`, 1)
	if tampered == record {
		t.Fatalf("cannot tamper with %s", record)
	}
	b.do("paste tampered record", chromedp.SetValue(chromedp.ID("s-record"), tampered), chromedp.Click(chromedp.CSS("#s-check button[type=submit]")))
	b.wait("tampered record verdict", `document.querySelector("#s-check-steps li[data-verdict]") !== null`)
	if v := b.text("#s-check-steps li[data-verdict]"); v != "Result: INVALID" {
		t.Errorf("tampered record: %s\n%s", v, b.text("#s-check-steps"))
	}
	b.shoot("tampered")
	proof := string(apiGet(t, g, token, fmt.Sprintf("/api/v1/proofs/%d", end.Seq), nil))
	var p struct {
		Entry string `json:"entry"`
	}
	json.Unmarshal([]byte(proof), &p)
	i := len(p.Entry) - 10
	flip := map[byte]string{'0': "1"}[p.Entry[i]]
	if flip == "" {
		flip = "0"
	}
	badProof := strings.Replace(proof, p.Entry, p.Entry[:i]+flip+p.Entry[i+1:], 1)
	b.do("paste tampered proof", chromedp.SetValue(chromedp.ID("s-record"), badProof), chromedp.Click(chromedp.CSS("#s-check button[type=submit]")))
	b.wait("tampered proof verdict", `document.querySelector("#s-check-steps li[data-verdict]") !== null && document.getElementById("s-check-steps").textContent.includes("signature, Merkle")`)
	if v := b.text("#s-check-steps li[data-verdict]"); v != "Result: INVALID" {
		t.Errorf("tampered proof: %s\n%s", v, b.text("#s-check-steps"))
	}

	// CSV export: one row per session, OCPI CDR-like columns, energy in kWh.
	rows, err := csv.NewReader(strings.NewReader(string(apiGet(t, g, token, "/api/v1/sessions.csv", nil)))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][0] != "id" || rows[1][0] != end.SessionID || rows[1][6] != web.KWh(end.ImportMWh-begin.ImportMWh) {
		t.Errorf("CSV export: %q", rows)
	}

	// Installer: the wiring check with contact timing, the meter test, keys as QR codes.
	b.page("installer")
	b.wait("keys", `document.querySelectorAll("#i-keys img").length >= 3`)
	b.do("hal check", chromedp.Click(chromedp.ID("i-hal")))
	b.wait("hal check done", `/^(PASS|FAIL|not run)/.test(document.getElementById("i-hal-result").textContent)`)
	if r := b.text("#i-hal-result"); !strings.HasPrefix(r, "PASS · contact timing: close ") || !strings.Contains(r, " ms") {
		t.Errorf("wiring check: %s\n%s", r, b.text("#i-hal-table"))
	}
	b.do("meter test", chromedp.Click(chromedp.ID("i-meter")))
	b.wait("meter test done", `/^(read ok|failed)/.test(document.getElementById("i-meter-result").textContent)`)
	if r := b.text("#i-meter-kv"); !strings.HasPrefix(b.text("#i-meter-result"), "read ok") || !strings.Contains(r, "sdm630") || !strings.Contains(r, "71000042") {
		t.Errorf("meter test: %s: %s", b.text("#i-meter-result"), r)
	}
	if c := b.text("#i-config"); strings.Contains(c, token) || !strings.Contains(c, "token_file:") {
		t.Errorf("configuration shown with the token or without the http section:\n%s", c)
	}
	b.shoot("installer")

	// A latched fault (the meter was swapped) is shown with its cause; clearing it asks first,
	// then lands in the chain with who cleared it.
	s.MeterFault(t, `{"kind":"replace","drop":true}`)
	b.page("control")
	b.wait("fault shown", `!document.getElementById("c-clear").disabled && document.getElementById("c-faults").textContent.includes("meter replaced")`)
	b.shoot("fault")
	b.do("clear fault", chromedp.Click(chromedp.ID("c-clear")))
	b.wait("confirmation", `document.getElementById("c-confirm").open && document.getElementById("c-confirm-list").textContent.includes("meter replaced")`)
	b.do("confirm", chromedp.Click(chromedp.ID("c-confirm-ok")))
	b.wait("cleared", `document.getElementById("c-result").textContent.includes("cleared meter_replaced")`)
	cleared := rig.WaitEntry(t, dataDir, end.Seq, 10*time.Second, "fault_cleared", func(e ledger.Entry) bool { return e.Event == ledger.EventFaultCleared })
	if !strings.Contains(cleared.Detail, "meter_replaced") || !strings.Contains(cleared.Detail, "by=web/admin") {
		t.Errorf("fault_cleared detail %q", cleared.Detail)
	}

	// A signed token starts a session bounded by the token's own 3 Wh limit.
	b.do("start with a signed token", chromedp.Evaluate[chromedp.Void](`document.getElementById("c-idtoken").value = ""`),
		chromedp.SetValue(chromedp.ID("c-token"), signed), chromedp.Click(chromedp.CSS("#c-start button[type=submit]")))
	b.wait("started with the token", `document.getElementById("c-result").textContent.startsWith("Start: done")`)
	b.page("live")
	b.wait("token authorization and limit", `document.getElementById("l-session").textContent.includes("auth=") && document.getElementById("l-session").textContent.includes("3 Wh")`)
	b.shoot("live-token")
	b.page("control")
	b.wait("the token's limit ends the session", `document.getElementById("c-session").textContent === "no session"`)

	// Events: the chain's events with their sequence numbers, filterable.
	b.page("events")
	b.wait("events listed", fmt.Sprintf(`document.getElementById("e-table").textContent.includes("fault_cleared") && document.getElementById("e-table").textContent.includes(%q)`, fmt.Sprint(cleared.Seq)))
	b.shoot("events")
	b.do("filter", chromedp.SetValue(chromedp.ID("e-kind"), "session"), chromedp.Evaluate[chromedp.Void](`document.getElementById("e-kind").dispatchEvent(new Event("change"))`))
	b.wait("filtered", `[...document.querySelectorAll("#e-table tbody tr td:nth-child(3)")].every(td => td.textContent.startsWith("session_"))`)
	b.shoot("events-filtered")
	// The operator's Access page hands out the viewer token for drivers.
	b.page("access")
	b.wait("viewer token shown", fmt.Sprintf(`document.getElementById("a-viewer-token").textContent === %q && document.getElementById("a-viewer-qr").naturalWidth > 100`, viewer))
	b.shoot("access-operator")
	b.page("sessions")
	b.shoot("sessions")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	t.Logf("screenshots in %s", b.dir)
}
