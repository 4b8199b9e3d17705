package web

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway"
)

// Issue 12 case 6: beyond MaxConcurrent, requests are answered 503 with Retry-After at once,
// never queued behind the slow ones.
func TestConcurrencyLimitSheds(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	h := New(Options{MaxConcurrent: 2, Snapshot: func() Snapshot {
		select {
		case entered <- struct{}{}: // one of the two slow requests
			<-release
		default:
		}
		return Snapshot{Status: gateway.Status{Alarms: map[string]string{}}}
	}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := http.Get(srv.URL + "/api/v1/status"); err == nil {
				resp.Body.Close()
			}
		}()
	}
	for len(entered) < 2 { // two requests hold both slots
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	resp, err := http.Get(srv.URL + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third request: %s, Retry-After %q; want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	t.Logf("shed after %v", time.Since(start))
	close(release)
	wg.Wait()
	resp, err = http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
		t.Error("still shedding after the slow requests finished")
	}
}

func TestTokenRequiredExceptHealthAndPage(t *testing.T) {
	h := New(Options{Token: "s3cret", Snapshot: func() Snapshot {
		return Snapshot{Status: gateway.Status{Alarms: map[string]string{}, Meter: gateway.MeterStatus{Readable: true}}}
	}})
	for _, tc := range []struct {
		path, auth string
		want       int
	}{
		{"/healthz", "", http.StatusOK},
		{"/", "", http.StatusOK},
		{"/api/v1/status", "", http.StatusUnauthorized},
		{"/api/v1/status", "Bearer wrong", http.StatusUnauthorized},
		{"/api/v1/status", "Bearer s3cret", http.StatusOK},
		{"/metrics", "", http.StatusUnauthorized},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("%s with %q: %d, want %d", tc.path, tc.auth, w.Code, tc.want)
		}
	}
}
