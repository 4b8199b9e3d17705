package ota_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ota"
)

// Hostile and broken update servers from issue 14, each on a loopback port. Every one must
// end the update with a visible error and leave the device on its booted slot.

// TestDripServerIsTooSlow: a server sending one byte every 10 ms kept "downloading 0 %" for
// ever because the stall timer restarted at each byte. The rate windows do not restart: the
// update fails with ErrTooSlow after one window, on its first request (permanent).
func TestDripServerIsTooSlow(t *testing.T) {
	b := bigBundle(t, "2.0.0")
	var requests atomic.Int64
	srv := serve(t, b, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.WriteHeader(http.StatusOK)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for i := range b {
				select {
				case <-r.Context().Done():
					return
				case <-tick.C:
				}
				w.Write(b[i : i+1])
				w.(http.Flusher).Flush()
			}
		})
	})
	d := updateDevice(t, "2.0.0")
	// 100 bytes/s arrive; 1000 B/s over 300 ms windows are required.
	d.modify = func(c *ota.Config) { c.StallTimeout, c.MinRate, c.MaxAttempts = 300*time.Millisecond, 1000, 50 }
	s, booted := d.runToEnd(srv.URL, 2)
	if s.State != ota.StateFailed || !strings.Contains(s.Error, ota.ErrTooSlow.Error()) || booted != "A" {
		t.Fatalf("ended %+v, booted %s; want failed with %q", s, booted, ota.ErrTooSlow)
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("%d requests, want 1: a too slow server is not retried", n)
	}
	t.Logf("error reported: %s", s.Error)
}

// TestCutMidWindowIsNotTooSlow: a connection that dies part-way through a window leaves
// that window short of MinRate; the empty window after it shows a stall, not a slow server,
// so the download resumes instead of failing with ErrTooSlow.
func TestCutMidWindowIsNotTooSlow(t *testing.T) {
	b := bigBundle(t, "2.0.0")
	var requests atomic.Int64
	srv := serve(t, b, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if requests.Add(1) > 1 {
				h.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.WriteHeader(http.StatusOK)
			w.Write(b[:5000])
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the link is gone, without a FIN
		})
	})
	d := updateDevice(t, "2.0.0")
	d.modify = func(c *ota.Config) { c.StallTimeout, c.MinRate = 300*time.Millisecond, 100_000 }
	commits(t, d, srv.URL)
	if n := requests.Load(); n != 2 {
		t.Fatalf("%d requests, want the cut one and one resume", n)
	}
}

// TestServerErrorsAreVisible: a server answering 500 showed no error for 15–20 minutes.
// While the agent retries, Status.LastError and Attempts say why; after MaxAttempts
// attempts without progress the update fails with the server's answer.
func TestServerErrorsAreVisible(t *testing.T) {
	var a atomic.Pointer[ota.Agent]
	var seen atomic.Pointer[ota.Status]
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 3 {
			s := a.Load().Status()
			seen.Store(&s)
		}
		http.Error(w, "backend down", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	d := newDevice(t)
	d.modify = func(c *ota.Config) { c.MaxAttempts = 4 }
	agent, ctx, _ := d.start(t)
	a.Store(agent)
	must(t, agent.Update(ctx, srv.URL))
	waitFor(t, func() bool { return agent.Status().State == ota.StateFailed })
	mid := seen.Load()
	if mid == nil || mid.State != ota.StateDownloading || !strings.Contains(mid.LastError, "500") || mid.Attempts != 2 {
		t.Fatalf("status during the retries: %+v; want downloading, last error HTTP 500, 2 attempts", mid)
	}
	s := agent.Status()
	if !strings.Contains(s.Error, "gave up after 4 attempts") || !strings.Contains(s.Error, "500") || requests.Load() != 4 {
		t.Fatalf("final %+v after %d requests", s, requests.Load())
	}
	if d.fw.RebootRequests() != 0 {
		t.Fatal("rebooted for a failed download")
	}
}

// TestRedirectRefused: a redirect to file:// (which would read the device's own files) and
// one from https to http (a downgrade anyone on the path can then serve) fail at once with
// ErrRedirect; a redirect within https is followed.
func TestRedirectRefused(t *testing.T) {
	b := bigBundle(t, "2.0.0")
	var plainHits atomic.Int64
	plain := serve(t, b, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { plainHits.Add(1); h.ServeHTTP(w, r) })
	})
	var tlsHits atomic.Int64
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tlsHits.Add(1)
		switch r.URL.Path {
		case "/to-file":
			http.Redirect(w, r, "file:///slots/a/rootfs", http.StatusFound)
		case "/to-http":
			http.Redirect(w, r, plain.URL+"/u.bundle", http.StatusFound)
		case "/to-https":
			http.Redirect(w, r, "/bundle", http.StatusMovedPermanently)
		case "/bundle":
			w.Header().Set("ETag", `"v1"`)
			http.ServeContent(w, r, "u.bundle", time.Unix(0, 0), strings.NewReader(string(b)))
		}
	}))
	t.Cleanup(secure.Close)
	for _, path := range []string{"/to-file", "/to-http"} {
		t.Run(path, func(t *testing.T) {
			tlsHits.Store(0)
			d := updateDevice(t, "2.0.0")
			d.modify = func(c *ota.Config) { c.HTTPClient, c.MaxAttempts = secure.Client(), 50 }
			s, booted := d.runToEnd(secure.URL+path+"?token=SECRET", 2)
			if s.State != ota.StateFailed || !strings.Contains(s.Error, ota.ErrRedirect.Error()) || booted != "A" {
				t.Fatalf("ended %+v, booted %s; want failed with %q", s, booted, ota.ErrRedirect)
			}
			if strings.Contains(s.Error, "SECRET") {
				t.Fatalf("error leaks the URL: %s", s.Error)
			}
			if tlsHits.Load() != 1 || plainHits.Load() != 0 {
				t.Fatalf("%d requests to the https server, %d to the http one; want 1 and 0", tlsHits.Load(), plainHits.Load())
			}
			t.Logf("error reported: %s", s.Error)
		})
	}
	t.Run("/to-https", func(t *testing.T) {
		d := updateDevice(t, "2.0.0")
		d.modify = func(c *ota.Config) { c.HTTPClient = secure.Client() }
		commits(t, d, secure.URL+"/to-https")
	})
}

// TestBadCertificateIsPermanent: a server whose certificate does not verify fails the
// update with ErrCertificate after one connection instead of retrying MaxAttempts times.
func TestBadCertificateIsPermanent(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	d := newDevice(t)
	d.modify = func(c *ota.Config) { c.MaxAttempts = 50 } // the default client: the test CA is not trusted
	s, _ := d.runToEnd(srv.URL+"/u.bundle", 2)
	if s.State != ota.StateFailed || !strings.Contains(s.Error, ota.ErrCertificate.Error()) {
		t.Fatalf("ended %+v; want failed with %q", s, ota.ErrCertificate)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1: a bad certificate is not retried", n)
	}
	t.Logf("error reported: %s", s.Error)
}
