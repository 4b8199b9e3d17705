package ota_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargegate/chargegate/ota"
	"github.com/chargegate/chargegate/ota/durable"
)

// recorder counts requests and bytes served and remembers Range headers.
type recorder struct {
	mu     sync.Mutex
	ranges []string
	bytes  atomic.Int64
}

func (r *recorder) request(req *http.Request) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ranges = append(r.ranges, req.Header.Get("Range"))
	return len(r.ranges)
}

func (r *recorder) Ranges() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ranges...)
}

// cutWriter passes through limit bytes of body, then aborts the connection mid-body.
type cutWriter struct {
	http.ResponseWriter
	limit  int
	rec    *recorder
	tamper int // flip the byte at this body position (-1: none)
	pos    int
}

func (w *cutWriter) Write(b []byte) (int, error) {
	if w.tamper >= w.pos && w.tamper < w.pos+len(b) {
		b = bytes.Clone(b)
		b[w.tamper-w.pos] ^= 0xff
	}
	if w.limit >= 0 && w.pos+len(b) > w.limit {
		n, _ := w.ResponseWriter.Write(b[:w.limit-w.pos])
		w.rec.bytes.Add(int64(n))
		w.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	w.pos += len(b)
	w.rec.bytes.Add(int64(len(b)))
	return w.ResponseWriter.Write(b)
}

// bigBundle has several chunks, so that cuts land inside payload data.
func bigBundle(t *testing.T, version string) []byte {
	b, _ := makeBundle(t, bundleSpec{version: version, secVersion: 2, size: 12000, chunk: 1024})
	return b
}

func updateDevice(t *testing.T, version string) *device {
	d := newDevice(t)
	d.valid(payload(version, 12000))
	return d
}

// faulty serves b through a cutWriter configured per request: fault gets the request's
// number (1, 2, ...) and may alter the request and choose the cut and the flipped byte.
func faulty(t *testing.T, b []byte, fault func(n int, r *http.Request) (limit, tamper int)) (*httptest.Server, *recorder) {
	rec := &recorder{}
	srv := serve(t, b, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			limit, tamper := fault(rec.request(r), r)
			h.ServeHTTP(&cutWriter{ResponseWriter: w, limit: limit, rec: rec, tamper: tamper}, r)
		})
	})
	return srv, rec
}

// commits runs the update to its end and requires a commit into slot B.
func commits(t *testing.T, d *device, url string) {
	t.Helper()
	if s, booted := d.runToEnd(url, 4); s.State != ota.StateCommitted || booted != "B" {
		t.Fatalf("ended %+v, booted %s", s, booted)
	}
}

func TestChaosCutMidBody(t *testing.T) {
	b := bigBundle(t, "2.0.0")
	srv, rec := faulty(t, b, func(int, *http.Request) (int, int) { return 3000, -1 })
	commits(t, updateDevice(t, "2.0.0"), srv.URL)
	ranges := rec.Ranges()
	if len(ranges) < 4 || ranges[0] != "" || !strings.HasPrefix(ranges[1], "bytes=") {
		t.Fatalf("requests %q: want a full request then Range resumes", ranges)
	}
	// Resume behaviour: what was fetched beyond the bundle is the part of each cut
	// response after the last whole chunk, re-fetched by the next Range request.
	t.Logf("bundle %d bytes, %d requests (cut every 3000 bytes), %d bytes served (%.2fx)",
		len(b), len(ranges), rec.bytes.Load(), float64(rec.bytes.Load())/float64(len(b)))
	if served := rec.bytes.Load(); served > int64(len(b))*2 {
		t.Errorf("served %d bytes for a %d byte bundle: resume re-fetches too much", served, len(b))
	}
}

func TestChaosStall(t *testing.T) {
	b := bigBundle(t, "2.0.0")
	rec := &recorder{}
	srv := serve(t, b, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rec.request(r) == 1 {
				w.Header().Set("Content-Length", strconv.Itoa(len(b)))
				w.WriteHeader(http.StatusOK)
				w.Write(b[:5000])
				w.(http.Flusher).Flush()
				<-r.Context().Done() // stall until the client gives up
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	d := updateDevice(t, "2.0.0")
	d.modify = func(c *ota.Config) { c.StallTimeout = 200 * time.Millisecond }
	start := time.Now()
	commits(t, d, srv.URL)
	if r := rec.Ranges(); len(r) < 2 || r[1] == "" {
		t.Fatalf("requests %q: want a Range resume after the stall", r)
	}
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Fatalf("finished in %v, before the stall timeout could fire", el)
	}
}

func TestChaos200InsteadOf206(t *testing.T) {
	b := bigBundle(t, "2.0.0")
	srv, rec := faulty(t, b, func(n int, r *http.Request) (int, int) {
		r.Header.Del("Range") // a server (or proxy) that ignores Range
		if n == 1 {
			return 5000, -1
		}
		return -1, -1
	})
	commits(t, updateDevice(t, "2.0.0"), srv.URL)
	if r := rec.Ranges(); len(r) != 2 || r[1] == "" {
		t.Fatalf("requests %q: want one cut request and one resume answered with 200", r)
	}
}

func TestChaosSizeChangedBetweenResumes(t *testing.T) {
	b := bigBundle(t, "2.0.0")
	other := bigBundle(t, "2.0.1")
	other = append(other, make([]byte, 1024)...) // different size
	rec := &recorder{}
	srv := serve(t, nil, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body := b
			if rec.request(r) > 1 {
				body = other // the file was replaced on the server
			}
			http.ServeContent(&cutWriter{ResponseWriter: w, limit: 4000, rec: rec, tamper: -1}, r, "u", time.Unix(0, 0), bytes.NewReader(body))
		})
	})
	d := updateDevice(t, "2.0.0")
	s, booted := d.runToEnd(srv.URL, 4)
	if s.State != ota.StateFailed || booted != "A" || !strings.Contains(s.Error, ota.ErrBundleChanged.Error()) {
		t.Fatalf("ended %+v, booted %s; want failed with %q", s, booted, ota.ErrBundleChanged)
	}
	if d.fw.RebootRequests() != 0 {
		t.Fatal("rebooted for a failed download")
	}
}

func TestChaosTamperedChunkInTransit(t *testing.T) {
	b := bigBundle(t, "2.0.0")
	srv, rec := faulty(t, b, func(n int, _ *http.Request) (int, int) {
		if n == 1 {
			return -1, 6000 // inside the payload: one flipped byte on the first response
		}
		return -1, -1
	})
	commits(t, updateDevice(t, "2.0.0"), srv.URL)
	if r := rec.Ranges(); len(r) != 2 || r[1] == "" {
		t.Fatalf("requests %q: want the bad chunk fetched again with Range", r)
	}
}

// TestDownloadResumesAcrossRestart cuts power in the middle of the download: the next
// agent continues with a Range request from its saved cursor.
func TestDownloadResumesAcrossRestart(t *testing.T) {
	b := bigBundle(t, "2.0.0")
	srv, rec := faulty(t, b, func(int, *http.Request) (int, int) { return -1, -1 })
	d := updateDevice(t, "2.0.0")
	d.fs.CutAt(40) // about five chunks in
	if end, s := d.life(srv.URL); end != powerCut || s.State != ota.StateDownloading {
		t.Fatalf("first boot ended %v in %s, want a power cut while downloading", end, s.State)
	}
	commits(t, d, srv.URL)
	r := rec.Ranges()
	if len(r) != 2 || r[0] != "" || !strings.HasPrefix(r[1], "bytes=") || r[1] == "bytes=0-" {
		t.Fatalf("requests %q: want a resume from the saved cursor", r)
	}
	t.Logf("bundle %d bytes; resumed with %s; %d bytes served", len(b), r[1], rec.bytes.Load())
}

func TestBandwidthLimit(t *testing.T) {
	b := bigBundle(t, "2.0.0")
	srv := serve(t, b, nil)
	d := updateDevice(t, "2.0.0")
	const rate = 32 << 10
	d.modify = func(c *ota.Config) { c.BandwidthLimit = rate }
	start := time.Now()
	if end, _ := d.life(srv.URL); end != rebooted {
		t.Fatalf("first boot ended %v, want a reboot into the trial", end)
	}
	el := time.Since(start)
	if want := time.Duration(float64(len(b)) / rate * float64(time.Second)); el < want*9/10 {
		t.Fatalf("downloaded %d bytes in %v at a cap of %d B/s; want at least %v", len(b), el, rate, want)
	}
	t.Logf("%d bytes at a cap of %d B/s took %v", len(b), rate, el)
	got, err := durable.ReadFile(d.fs, "/slots/b/rootfs")
	must(t, err)
	if !bytes.Equal(got, payload("2.0.0", 12000)) {
		t.Fatal("slot B does not hold the payload")
	}
}

// TestURLNotLeaked: a bundle URL's query (an access token) appears neither in the status
// nor in an error, even when the server is unreachable.
func TestURLNotLeaked(t *testing.T) {
	srv := serve(t, nil, nil)
	url := srv.URL + "/u.bundle?token=SECRET"
	srv.Close() // connection refused from now on
	d := newDevice(t)
	d.modify = func(c *ota.Config) { c.MaxAttempts = 1 }
	s, _ := d.runToEnd(url, 2)
	if s.State != ota.StateFailed || strings.Contains(s.Error, "SECRET") || s.Error == "" {
		t.Fatalf("status %+v: want failed without the URL's token", s)
	}
	t.Logf("error reported: %s", s.Error)
}
