package ocpp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Diagnostics (OCPP 1.6 §5.8 GetDiagnostics, §4.4 DiagnosticsStatusNotification) and logs
// (Security Whitepaper §3.4 GetLog, LogStatusNotification): the appliance builds an archive of
// the window asked for (Config.Diagnostics) and the charge point uploads it by HTTP PUT to
// the location (the location + file name when it ends with "/"; POST when the server answers
// PUT with 405). ftp:// and other schemes are refused: GetDiagnostics answers without a
// fileName and reports UploadFailed, GetLog answers Rejected. A SecurityLog archive also gets
// the charge point's security events (diagnostics_security.go). Retries and retryInterval are
// honoured (at most 5 retries; 30 s apart by default). The job lives in memory: a restart
// while uploading ends it without a final status.

// Log kinds that Diagnostics archives.
const (
	LogDiagnostics = "DiagnosticsLog"
	LogSecurity    = "SecurityLog"
)

// Diagnostics builds the archive that GetDiagnostics and GetLog upload.
type Diagnostics interface {
	// Archive writes the archive (tar.gz) of kind (LogDiagnostics or LogSecurity) covering
	// from..to (zero: open) to w and returns its file name (at most 255 characters, e.g.
	// "chargegate-diagnostics-20261205T120000Z.tar.gz"). It fails when nothing could be
	// gathered.
	Archive(ctx context.Context, w io.Writer, kind string, from, to time.Time) (name string, err error)
}

type getDiagnosticsReq struct {
	Location      string `json:"location"`
	Retries       *int   `json:"retries,omitempty"`
	RetryInterval *int   `json:"retryInterval,omitempty"`
	StartTime     *Time  `json:"startTime,omitempty"`
	StopTime      *Time  `json:"stopTime,omitempty"`
}

type getDiagnosticsConf struct {
	FileName string `json:"fileName,omitempty"`
}

type logParameters struct {
	RemoteLocation  string `json:"remoteLocation"`
	OldestTimestamp *Time  `json:"oldestTimestamp,omitempty"`
	LatestTimestamp *Time  `json:"latestTimestamp,omitempty"`
}

type getLogReq struct {
	Log           logParameters `json:"log"`
	LogType       string        `json:"logType"`
	RequestID     int           `json:"requestId"`
	Retries       *int          `json:"retries,omitempty"`
	RetryInterval *int          `json:"retryInterval,omitempty"`
}

type getLogConf struct {
	Status   string `json:"status"`
	Filename string `json:"filename,omitempty"`
}

type logStatusReq struct {
	Status    string `json:"status"`
	RequestID *int   `json:"requestId,omitempty"`
}

// diagJob is one upload; its statuses wait in out until the loop sends them.
type diagJob struct {
	getLog    bool
	requestID int
	out       []string // statuses to send, oldest first
	last      string   // the latest status sent (TriggerMessage answers it)
	done      bool     // the final status is queued
}

// uploadable refuses what cannot be uploaded: only http and https.
func uploadable(location string) error {
	u, err := url.Parse(location)
	if err != nil || u.Host == "" {
		return fmt.Errorf("location %q is not a URL", location)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("location scheme %s:// is not supported (only http:// and https://; no FTP)", u.Scheme)
	}
	return nil
}

// getDiagnostics answers GetDiagnostics: the file name to come, and the upload in the
// background. An unsupported location or a running upload gives no file name.
func (cp *ChargePoint) getDiagnostics(ctx context.Context, req getDiagnosticsReq) getDiagnosticsConf {
	var from, to time.Time
	if req.StartTime != nil {
		from = req.StartTime.Time
	}
	if req.StopTime != nil {
		to = req.StopTime.Time
	}
	name, ok := cp.startUpload(ctx, &diagJob{}, LogDiagnostics, req.Location, from, to, req.Retries, req.RetryInterval)
	if !ok {
		return getDiagnosticsConf{}
	}
	return getDiagnosticsConf{FileName: name}
}

// getLog answers GetLog: Accepted with the file name, or Rejected (unsupported location, no
// archive, another upload running).
func (cp *ChargePoint) getLog(ctx context.Context, req getLogReq) getLogConf {
	var from, to time.Time
	if t := req.Log.OldestTimestamp; t != nil {
		from = t.Time
	}
	if t := req.Log.LatestTimestamp; t != nil {
		to = t.Time
	}
	name, ok := cp.startUpload(ctx, &diagJob{getLog: true, requestID: req.RequestID}, req.LogType, req.Log.RemoteLocation, from, to, req.Retries, req.RetryInterval)
	if !ok {
		return getLogConf{Status: "Rejected"}
	}
	return getLogConf{Status: "Accepted", Filename: name}
}

// startUpload builds the archive now (so that the answer can name it) and uploads it in the
// background; it reports false when nothing will be uploaded.
func (cp *ChargePoint) startUpload(ctx context.Context, job *diagJob, kind, location string, from, to time.Time, retries, interval *int) (string, bool) {
	cp.mu.Lock()
	busy := cp.diag != nil && !cp.diag.done
	cp.mu.Unlock()
	if busy {
		cp.log.Warn("upload refused: another one runs", "kind", kind)
		return "", false
	}
	fail := func(err error) (string, bool) {
		cp.log.Warn("upload refused", "kind", kind, "location", redact(location), "err", err)
		if !job.getLog { // GetDiagnostics has no status to refuse with: report the failure
			job.out, job.done = []string{"UploadFailed"}, true
			cp.setDiag(job)
		}
		return "", false
	}
	if err := uploadable(location); err != nil {
		return fail(err)
	}
	if cp.cfg.Diagnostics == nil {
		return fail(errors.New("no diagnostics source configured"))
	}
	var buf bytes.Buffer
	name, err := cp.cfg.Diagnostics.Archive(ctx, &buf, kind, from, to)
	if err != nil {
		return fail(fmt.Errorf("build the archive: %w", err))
	}
	if len(name) > 255 {
		name = name[:255]
	}
	target := location
	if strings.HasSuffix(target, "/") {
		target += url.PathEscape(name)
	}
	tries := 1
	if retries != nil && *retries > 0 {
		tries += min(*retries, 5)
	}
	every := 30 * time.Second
	if interval != nil && *interval > 0 {
		every = time.Duration(*interval) * time.Second
	}
	body := buf.Bytes()
	if kind == LogSecurity {
		if b, err := cp.withSecurityEvents(ctx, body, from, to); err != nil {
			cp.log.Warn("security log uploaded without the security events", "err", err)
		} else {
			body = b
		}
	}
	job.out = []string{"Uploading"}
	cp.setDiag(job)
	cp.bg.Go(func() {
		ctx := context.WithoutCancel(ctx)
		_, err := backoff.Retry(ctx, func() (struct{}, error) {
			return struct{}{}, cp.upload(ctx, target, body)
		}, backoff.WithBackOff(backoff.NewConstantBackOff(every)), backoff.WithMaxTries(uint(tries)), backoff.WithMaxElapsedTime(0))
		final := "Uploaded"
		if err != nil {
			cp.log.Warn("upload failed", "kind", kind, "location", redact(target), "err", err)
			final = "UploadFailed"
			if job.getLog {
				final = "UploadFailure"
			}
		} else {
			cp.log.Info("uploaded", "kind", kind, "location", redact(target), "bytes", len(body))
		}
		cp.mu.Lock()
		job.out = append(job.out, final)
		job.done = true
		cp.mu.Unlock()
		cp.poke()
	})
	return name, true
}

func (cp *ChargePoint) setDiag(j *diagJob) {
	cp.mu.Lock()
	cp.diag = j
	cp.mu.Unlock()
	cp.poke()
}

// upload sends body by PUT (POST when the server does not allow PUT); any 2xx is success.
func (cp *ChargePoint) upload(ctx context.Context, target string, body []byte) error {
	for _, method := range []string{http.MethodPut, http.MethodPost} {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
		if err != nil {
			cancel()
			return backoff.Permanent(fmt.Errorf("upload: %w", err))
		}
		req.Header.Set("Content-Type", "application/gzip")
		resp, err := cp.cfg.HTTPClient.Do(req)
		if err != nil {
			cancel()
			return fmt.Errorf("upload: %w", err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		cancel()
		switch {
		case resp.StatusCode/100 == 2:
			return nil
		case resp.StatusCode == http.StatusMethodNotAllowed && method == http.MethodPut:
			continue
		}
		return fmt.Errorf("upload: %s answered HTTP %d", method, resp.StatusCode)
	}
	return errors.New("upload: neither PUT nor POST allowed")
}

// redact drops the user info of a location for the log.
func redact(location string) string {
	u, err := url.Parse(location)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

// sendDiagnosticsStatus sends the queued upload statuses in order.
func (cp *ChargePoint) sendDiagnosticsStatus(ctx context.Context, conn *rpcConn) error {
	for {
		cp.mu.Lock()
		j := cp.diag
		if j == nil || len(j.out) == 0 {
			cp.mu.Unlock()
			return nil
		}
		status, getLog, id := j.out[0], j.getLog, j.requestID
		cp.mu.Unlock()
		var err error
		if getLog {
			err = conn.call(ctx, "", "LogStatusNotification", logStatusReq{Status: status, RequestID: &id}, nil)
		} else {
			err = conn.call(ctx, "", "DiagnosticsStatusNotification", statusConf{Status: status}, nil)
		}
		if err != nil {
			return fmt.Errorf("upload status notification: %w", err)
		}
		cp.mu.Lock()
		if len(j.out) > 0 && j.out[0] == status {
			j.out = j.out[1:]
		}
		j.last = status
		cp.mu.Unlock()
	}
}

// diagnosticsNow is the upload status TriggerMessage reports: Uploading while one runs, else
// Idle (OCPP 1.6 §4.4, Security Whitepaper LogStatusNotification).
func (cp *ChargePoint) diagnosticsNow(getLog bool) (string, *int) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if j := cp.diag; j != nil && !j.done && j.getLog == getLog {
		id := j.requestID
		return "Uploading", &id
	}
	return "Idle", nil
}
