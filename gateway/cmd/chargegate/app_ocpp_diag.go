package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/chargegate/chargegate/gateway/ocpp"
	"github.com/chargegate/chargegate/ledger"
)

// diagArchive builds the archive that OCPP's GetDiagnostics and GetLog upload: a tar.gz of
//
//	status.json   the appliance's status now (the local API's /api/v1/status)
//	chain.txt     the signed chain's entries in the window (at most the last 2000 entries of
//	              the store; SecurityLog: events only), one line each:
//	              seq time kind event session import_mwh detail
//	journal.txt   the service's journal in the window (journalctl -u chargegate; SecurityLog:
//	              lines naming security, certificate, firmware, update or auth); a note when
//	              there is no journal
type diagArchive struct{ a *App }

const diagChainMax = 2000

func (d diagArchive) Archive(ctx context.Context, w io.Writer, kind string, from, to time.Time) (string, error) {
	security := kind == ocpp.LogSecurity
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	now := time.Now().UTC()
	add := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: now}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	status, err := json.MarshalIndent(d.a.Snapshot(), "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode status: %w", err)
	}
	if err := add("status.json", status); err != nil {
		return "", fmt.Errorf("write archive: %w", err)
	}
	if err := add("chain.txt", d.chain(ctx, from, to, security)); err != nil {
		return "", fmt.Errorf("write archive: %w", err)
	}
	if err := add("journal.txt", journal(ctx, from, to, security)); err != nil {
		return "", fmt.Errorf("write archive: %w", err)
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("write archive: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("write archive: %w", err)
	}
	name := "diagnostics"
	if security {
		name = "securitylog"
	}
	return fmt.Sprintf("chargegate-%s-%s-%s.tar.gz", truncate(d.a.DeviceID(), 16), name, now.Format("20060102T150405Z")), nil
}

func inWindow(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || !t.After(to))
}

func (d diagArchive) chain(ctx context.Context, from, to time.Time, eventsOnly bool) []byte {
	var b bytes.Buffer
	head, _ := d.a.store.Head()
	start := uint64(1)
	if head > diagChainMax {
		start = head - diagChainMax + 1
	}
	entries, err := d.a.store.Entries(ctx, start, diagChainMax)
	if err != nil {
		fmt.Fprintf(&b, "# reading the chain failed: %v\n", err)
	}
	fmt.Fprintf(&b, "# chain head %d; entries %d..%d in the window\n", head, start, head)
	for _, e := range entries {
		if !inWindow(e.Time, from, to) || (eventsOnly && e.Kind != ledger.KindEvent) {
			continue
		}
		fmt.Fprintf(&b, "%d %s %s %s %s %d %q\n", e.Seq, e.Time.UTC().Format(time.RFC3339Nano), e.Kind, orDash(e.Event), orDash(e.SessionID), e.ImportMWh, e.Detail)
	}
	return b.Bytes()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// journal returns the service's journal lines in the window, or a note why there are none.
func journal(ctx context.Context, from, to time.Time, security bool) []byte {
	args := []string{"-u", "chargegate", "--no-pager", "-o", "short-iso-precise", "-n", "20000"}
	if !from.IsZero() {
		args = append(args, "--since", from.Local().Format("2006-01-02 15:04:05"))
	}
	if !to.IsZero() {
		args = append(args, "--until", to.Local().Format("2006-01-02 15:04:05"))
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "journalctl", args...).Output()
	if err != nil {
		return fmt.Appendf(nil, "# no journal: journalctl %s: %v\n", strings.Join(args, " "), err)
	}
	if !security {
		return out
	}
	var b bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		l := strings.ToLower(sc.Text())
		for _, w := range []string{"security", "certificate", "firmware", "update", "auth"} {
			if strings.Contains(l, w) {
				b.WriteString(sc.Text() + "\n")
				break
			}
		}
	}
	return b.Bytes()
}
