package ocpp_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
)

// windowArchive is a diagnostics source that records the window asked for in the archive.
type windowArchive struct{}

func (windowArchive) Archive(ctx context.Context, w io.Writer, kind string, from, to time.Time) (string, error) {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	body := fmt.Sprintf("%s %s %s\n", kind, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	tw.WriteHeader(&tar.Header{Name: "window.txt", Mode: 0o644, Size: int64(len(body))})
	tw.Write([]byte(body))
	tw.Close()
	zw.Close()
	return "chargegate-" + strings.ToLower(kind) + ".tar.gz", nil
}

// uploads is a loopback upload server: the first failFirst requests fail with 503; it keeps
// every accepted body by path.
type uploads struct {
	mu        sync.Mutex
	failFirst int
	got       map[string][]byte
	methods   []string
}

func (u *uploads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.methods = append(u.methods, r.Method)
	if u.failFirst > 0 {
		u.failFirst--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPut {
		http.Error(w, "PUT only", http.StatusMethodNotAllowed)
		return
	}
	b, _ := io.ReadAll(r.Body)
	u.got[r.URL.Path] = b
	w.WriteHeader(http.StatusCreated)
}

func (u *uploads) file(path string) []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.got[path]
}

// untar returns the files of a tar.gz.
func untar(t *testing.T, b []byte) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the upload is not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("the upload is not a tar: %v", err)
		}
		c, _ := io.ReadAll(tr)
		files[h.Name] = string(c)
	}
}

// GetDiagnostics and GetLog upload the archive of the window asked for by HTTP PUT, retried
// after a failed attempt, and report Uploading then Uploaded; FTP is refused.
func TestDiagnosticsAndLogUpload(t *testing.T) {
	c := startCSMS(t, "--interval", "30")
	up := &uploads{failFirst: 1, got: map[string][]byte{}}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	cp, _, _ := startCP(t, c, newStandIn(t), t.TempDir(), func(c *ocpp.Config) { c.Diagnostics = windowArchive{} })
	c.WaitFor("online", cp.Online)

	from, to := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC), time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	res, err := c.Call("GetDiagnostics", map[string]any{"location": srv.URL + "/diag/", "retries": 2, "retryInterval": 1,
		"startTime": from.Format(time.RFC3339), "stopTime": to.Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	var conf struct{ FileName string }
	json.Unmarshal(res, &conf)
	if conf.FileName != "chargegate-diagnosticslog.tar.gz" {
		t.Errorf("GetDiagnostics fileName %q", conf.FileName)
	}
	c.WaitFor("Uploaded", func() bool { return slices.Contains(fwStatuses(t, c, "DiagnosticsStatusNotification"), "Uploaded") })
	if got := fwStatuses(t, c, "DiagnosticsStatusNotification"); !slices.Equal(got, []string{"Uploading", "Uploaded"}) {
		t.Errorf("DiagnosticsStatusNotifications %v, want [Uploading Uploaded]", got)
	}
	files := untar(t, up.file("/diag/"+conf.FileName))
	if want := "DiagnosticsLog 2026-12-05T08:00:00Z 2026-12-05T09:00:00Z\n"; files["window.txt"] != want {
		t.Errorf("archive window %q, want %q", files["window.txt"], want)
	}
	if up.methods[0] != http.MethodPut || len(up.methods) != 2 {
		t.Errorf("upload requests %v, want a failed PUT and a retried PUT", up.methods)
	}

	// GetLog SecurityLog to a full URL (no file name appended).
	res, err = c.Call("GetLog", map[string]any{"logType": "SecurityLog", "requestId": 3, "log": map[string]any{"remoteLocation": srv.URL + "/sec.tgz"}})
	if err != nil {
		t.Fatal(err)
	}
	var lc struct{ Status, Filename string }
	json.Unmarshal(res, &lc)
	if lc.Status != "Accepted" || lc.Filename != "chargegate-securitylog.tar.gz" {
		t.Errorf("GetLog = %+v", lc)
	}
	c.WaitFor("LogStatusNotification Uploaded", func() bool { return slices.Contains(fwStatuses(t, c, "LogStatusNotification"), "Uploaded#3") })
	if got := untar(t, up.file("/sec.tgz"))["window.txt"]; !strings.HasPrefix(got, "SecurityLog ") {
		t.Errorf("security log archive %q", got)
	}
	if got := c.Status("GetLog", map[string]any{"logType": "DiagnosticsLog", "requestId": 4, "log": map[string]any{"remoteLocation": "ftp://logs.example/"}}); got != "Rejected" {
		t.Errorf("GetLog to ftp:// = %s, want Rejected", got)
	}
	// ExtendedTriggerMessage LogStatusNotification: Idle, nothing uploads now.
	if got := c.Status("ExtendedTriggerMessage", map[string]any{"requestedMessage": "LogStatusNotification"}); got != "Accepted" {
		t.Errorf("ExtendedTriggerMessage = %s", got)
	}
	c.WaitFor("LogStatusNotification Idle", func() bool { return slices.Contains(fwStatuses(t, c, "LogStatusNotification"), "Idle") })
}
