package web

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
)

var update = flag.Bool("update", false, "rewrite golden files")

func snap() Snapshot {
	return Snapshot{Status: gateway.Status{Alarms: map[string]string{}, Meter: gateway.MeterStatus{Readable: true}}}
}

// fakeBox answers commands and lists nothing; it records who asked.
type fakeBox struct {
	Box
	by []string
}

func (f *fakeBox) Command(_ context.Context, name string, _ []byte, by string) (any, string, error) {
	f.by = append(f.by, name+" "+by)
	return map[string]any{"ok": true}, "", nil
}

func do(h http.Handler, method, path string, hdr map[string]string, cookie *http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader("{}"))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestRolesAndCSRF: the viewer reads but never commands; a cookie login commands only with the
// CSRF token from the same origin; a bearer token needs no CSRF token.
func TestRolesAndCSRF(t *testing.T) {
	box := &fakeBox{}
	h := New(Options{Token: "op-token", Snapshot: snap, Box: box})
	viewer := ViewerToken("op-token")
	if len(viewer) != 32 || viewer == ViewerToken("other") {
		t.Fatalf("viewer token %q", viewer)
	}
	login := func(tok string) (*http.Cookie, string) {
		req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"token":"`+tok+`"}`))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			t.Fatalf("login %s: %d %s", tok, w.Code, w.Body)
		}
		c := w.Result().Cookies()[0]
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict", c)
		}
		csrf := w.Body.String()
		csrf = csrf[strings.Index(csrf, `"csrf":"`)+8:]
		return c, csrf[:strings.Index(csrf, `"`)]
	}
	admin, csrf := login("op-token")
	viewCookie, viewCSRF := login(viewer)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		cookie *http.Cookie
		want   int
	}{
		{"no login", "GET", "/api/v1/sessions/x", nil, nil, 401},
		{"page is public", "GET", "/", nil, nil, 200},
		{"viewer bearer reads", "GET", "/api/v1/status", map[string]string{"Authorization": "Bearer " + viewer}, nil, 200},
		{"viewer bearer commands", "POST", "/api/v1/commands/stop", map[string]string{"Authorization": "Bearer " + viewer}, nil, 403},
		{"viewer cookie commands", "POST", "/api/v1/commands/stop", map[string]string{"X-CSRF-Token": viewCSRF}, viewCookie, 403},
		{"viewer cookie installer", "GET", "/api/v1/installer", nil, viewCookie, 403},
		{"admin bearer commands", "POST", "/api/v1/commands/stop", map[string]string{"Authorization": "Bearer op-token"}, nil, 200},
		{"cookie without CSRF token", "POST", "/api/v1/commands/stop", nil, admin, 403},
		{"cookie with another session's token", "POST", "/api/v1/commands/stop", map[string]string{"X-CSRF-Token": viewCSRF}, admin, 403},
		{"cookie cross-site", "POST", "/api/v1/commands/stop", map[string]string{"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}, admin, 403},
		{"cookie other origin", "POST", "/api/v1/commands/stop", map[string]string{"X-CSRF-Token": csrf, "Origin": "http://evil.example"}, admin, 403},
		{"cookie same origin with token", "POST", "/api/v1/commands/stop", map[string]string{"X-CSRF-Token": csrf, "Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"}, admin, 200},
		{"forged cookie", "GET", "/api/v1/status", nil, &http.Cookie{Name: cookieName, Value: "admin.99999999999.AAAA"}, 401},
	} {
		if w := do(h, tc.method, tc.path, tc.hdr, tc.cookie); w.Code != tc.want {
			t.Errorf("%s: %s %s = %d, want %d (%s)", tc.name, tc.method, tc.path, w.Code, tc.want, strings.TrimSpace(w.Body.String()))
		}
	}
	if len(box.by) != 2 || box.by[0] != "stop web/admin" {
		t.Errorf("commands reached the box as %q, want two stops by web/admin", box.by)
	}
}

// TestNoTokenStillNeedsCSRF: without a token everyone on the (loopback) address is an operator,
// but another site's page must not command through the visitor's browser.
func TestNoTokenStillNeedsCSRF(t *testing.T) {
	box := &fakeBox{}
	h := New(Options{Snapshot: snap, Box: box})
	if w := do(h, "POST", "/api/v1/commands/stop", map[string]string{"Origin": "http://evil.example"}, nil); w.Code != 403 {
		t.Errorf("cross-origin command without a token: %d, want 403", w.Code)
	}
	w := do(h, "GET", "/api/v1/session", nil, nil)
	body := w.Body.String()
	csrf := body[strings.Index(body, `"csrf":"`)+8:]
	csrf = csrf[:strings.Index(csrf, `"`)]
	if w := do(h, "POST", "/api/v1/commands/stop", map[string]string{"X-CSRF-Token": csrf}, nil); w.Code != 200 {
		t.Errorf("same-origin command with the CSRF token: %d %s", w.Code, w.Body)
	}
}

// TestCachingHeaders: the page is revalidated, the hashed files are immutable, API answers
// are never cached, and files are sent gzipped.
func TestCachingHeaders(t *testing.T) {
	s := New(Options{Snapshot: snap})
	w := do(s, "GET", "/", map[string]string{"Accept-Encoding": "gzip"}, nil)
	if w.Header().Get("Cache-Control") != "no-cache" || w.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("page: %v", w.Header())
	}
	if !strings.Contains(w.Header().Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("page CSP %q", w.Header().Get("Content-Security-Policy"))
	}
	for _, f := range []string{"app.js", "app.css", "icon.svg"} {
		w := do(s, "GET", "/ui/"+s.assetVersion+"/"+f, nil, nil)
		if w.Code != 200 || w.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: %d %q", f, w.Code, w.Header().Get("Cache-Control"))
		}
		etag := w.Header().Get("ETag")
		if w := do(s, "GET", "/ui/"+s.assetVersion+"/"+f, map[string]string{"If-None-Match": etag}, nil); w.Code != 304 {
			t.Errorf("%s revalidated: %d, want 304", f, w.Code)
		}
	}
	if w := do(s, "GET", "/ui/0123456789ab/app.js", nil, nil); w.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("an old version's file is cached: %q", w.Header().Get("Cache-Control"))
	}
	if w := do(s, "GET", "/api/v1/status", nil, nil); w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("status cached: %q", w.Header().Get("Cache-Control"))
	}
}

// TestRingKeepsTheLastHour: means per step, oldest first, at most an hour of them.
func TestRingKeepsTheLastHour(t *testing.T) {
	r := newRing(10*time.Second, time.Hour)
	t0 := time.Unix(1_800_000_000, 0)
	var points int
	for i := 0; i <= 2*3600; i++ {
		if _, ok := r.add(t0.Add(time.Duration(i)*time.Second), float64(i%10)*100); ok {
			points++
		}
	}
	h := r.history()
	if len(h.Points) != 360 || points != 720 {
		t.Fatalf("%d points kept of %d, want 360", len(h.Points), points)
	}
	for i := 1; i < len(h.Points); i++ {
		if h.Points[i][0]-h.Points[i-1][0] != 10 {
			t.Fatalf("points %v, %v not 10 s apart", h.Points[i-1], h.Points[i])
		}
	}
	if got, want := h.Points[len(h.Points)-1][0], float64(t0.Unix()+2*3600); got != want {
		t.Errorf("newest point at %v, want %v", got, want)
	}
	if got := h.Points[0][1]; got != 450 {
		t.Errorf("mean %v W, want 450 W (0..900 W over each step)", got)
	}
}

// TestSessionsCSV: the export against its golden file (run with -update to rewrite it).
func TestSessionsCSV(t *testing.T) {
	start := time.Date(2026, 12, 5, 12, 23, 2, 0, time.UTC)
	rows := []SessionRow{
		{ID: "9d222a977c56f991", Start: start, End: start.Add(30 * time.Minute), BeginSeq: 5, EndSeq: 86, BeginMWh: 1_234_567,
			EndMWh: 6_734_999, EnergyMWh: 5_500_432, Reason: "remote", Authorization: "id_token=DRIVER42 by=web/admin", MeterSerial: "71000042"},
		{ID: "running", Start: start.Add(time.Hour), BeginSeq: 90, BeginMWh: 6_734_999, Authorization: "id_token=", MeterSerial: "71000042"},
	}
	var buf bytes.Buffer
	if err := writeCSV(&buf, "DE*CGT*ETEST*1", rows); err != nil {
		t.Fatal(err)
	}
	if *update {
		os.WriteFile("testdata/sessions.csv", buf.Bytes(), 0o644)
	}
	want, err := os.ReadFile("testdata/sessions.csv")
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(want) {
		t.Errorf("CSV changed (go test -update if intended):\n got %s\nwant %s", buf.String(), want)
	}
	for mwh, want := range map[int64]string{0: "0.000", 999: "0.000", 1000: "0.001", 5_500_432: "5.500", -2_000: "-0.002", 2_562_000_000_000: "2562000.000"} {
		if got := KWh(mwh); got != want {
			t.Errorf("KWh(%d) = %s, want %s", mwh, got, want)
		}
	}
}

// TestQRIsSVG: the QR endpoint answers an SVG with dark modules, and refuses what cannot fit.
func TestQRIsSVG(t *testing.T) {
	h := New(Options{Snapshot: snap})
	w := do(h, "GET", "/api/v1/qr?text=OCMF%7C%7B%7D%7C%7B%7D", nil, nil)
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/svg+xml" || !strings.Contains(w.Body.String(), `<path fill="#000" d="M`) {
		t.Errorf("qr: %d %s %.80s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if w := do(h, "GET", "/api/v1/qr?text="+strings.Repeat("x", maxQRText+1), nil, nil); w.Code != 400 {
		t.Errorf("oversized qr: %d, want 400", w.Code)
	}
}
