package ocpp

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// securityEventsFile is the file of the charge point's own security events that a SecurityLog
// archive gets (see doc.go, "GetLog").
const securityEventsFile = "security_events.jsonl"

// withSecurityEvents returns the SecurityLog archive (a tar.gz from Config.Diagnostics) with
// security_events.jsonl added: the security events kept in ocpp.db (delivered or not) whose
// timestamp is within from..to (zero: open), one SecurityEventNotification request per line,
// oldest first. The appliance's archive knows its own logs, not the OCPP security events.
func (cp *ChargePoint) withSecurityEvents(ctx context.Context, archive []byte, from, to time.Time) ([]byte, error) {
	events, err := cp.q.securityLog(ctx)
	if err != nil {
		return nil, err
	}
	var lines bytes.Buffer
	for _, ev := range events {
		var e securityEvent
		if err := json.Unmarshal(ev, &e); err != nil {
			continue // not ours to judge: kept as sent, but unreadable here
		}
		if (!from.IsZero() && e.Timestamp.Before(from)) || (!to.IsZero() && e.Timestamp.After(to)) {
			continue
		}
		lines.Write(ev)
		lines.WriteByte('\n')
	}
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil, fmt.Errorf("read the security log archive: %w", err)
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read the security log archive: %w", err)
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("copy the security log archive: %w", err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return nil, fmt.Errorf("copy the security log archive: %w", err)
		}
	}
	h := &tar.Header{Name: securityEventsFile, Mode: 0o644, Size: int64(lines.Len()), ModTime: time.Now().UTC()}
	if err := tw.WriteHeader(h); err != nil {
		return nil, fmt.Errorf("add %s: %w", securityEventsFile, err)
	}
	if _, err := tw.Write(lines.Bytes()); err != nil {
		return nil, fmt.Errorf("add %s: %w", securityEventsFile, err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("add %s: %w", securityEventsFile, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("add %s: %w", securityEventsFile, err)
	}
	return out.Bytes(), nil
}
