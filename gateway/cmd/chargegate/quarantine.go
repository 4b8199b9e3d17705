package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/chargegate/chargegate/ledger"
	"github.com/chargegate/chargegate/ledger/sqlite"
)

const quarantineUsage = "usage: chargegate quarantine list|export --data DIR [--out FILE]"

// quarantineRow is one line of `chargegate quarantine export`: a row of a quarantined database
// with what could be decoded of it. Valid: the entry decodes and its signature verifies under
// its own device key. Salvaged: the live database holds the identical entry.
type quarantineRow struct {
	File        string `json:"file"`
	Seq         uint64 `json:"seq"`
	Valid       bool   `json:"valid"`
	Error       string `json:"error,omitempty"`
	Salvaged    bool   `json:"salvaged"`
	Device      string `json:"device,omitempty"`
	Kind        string `json:"kind,omitempty"`
	Time        string `json:"time,omitempty"`
	TimeStatus  string `json:"time_status,omitempty"`
	SessionID   string `json:"session_id,omitempty"`
	MeterSerial string `json:"meter_serial,omitempty"`
	ImportMWh   int64  `json:"import_mwh"`
	ExportMWh   int64  `json:"export_mwh"`
	Event       string `json:"event,omitempty"`
	Detail      string `json:"detail,omitempty"`
	Hash        string `json:"hash,omitempty"`
	Prev        string `json:"prev,omitempty"`
	Entry       string `json:"entry"` // the stored bytes as found, hex
}

// cmdQuarantine implements `chargegate quarantine list|export --data DIR [--out FILE]`: it reads
// the databases the store moved aside as damaged (never deleted) without changing them. list
// prints one line per file; export writes every readable row as a JSON line (quarantineRow).
func cmdQuarantine(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "export") {
		fmt.Fprintln(stderr, quarantineUsage)
		return 2
	}
	fs := newFlagSet("quarantine "+args[0], "quarantine list|export --data DIR [--out FILE]", stderr)
	dir := fs.String("data", "", "data `DIR` of the gateway")
	out := fs.String("out", "", "export: write the JSON lines to `FILE` instead of standard output")
	fs.alias("o", "out")
	if code, ok := fs.parse(args[1:], 0); !ok {
		return code
	}
	if *dir == "" || (args[0] == "list" && *out != "") {
		fmt.Fprintln(stderr, quarantineUsage)
		return 2
	}
	files, err := sqlite.QuarantineFiles(*dir)
	if err != nil {
		fmt.Fprintln(stderr, "chargegate: quarantine:", err)
		return 1
	}
	live, err := sqlite.OpenReader(ctx, *dir)
	if err != nil {
		live = nil // no live database: nothing counts as salvaged
	} else {
		defer live.Close()
	}
	if args[0] == "list" {
		return quarantineList(ctx, files, live, stdout, stderr)
	}
	w := stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			fmt.Fprintln(stderr, "chargegate: quarantine:", err)
			return 1
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	code := 0
	for _, path := range files {
		rows, err := sqlite.ReadQuarantine(ctx, path)
		if err != nil {
			fmt.Fprintf(stderr, "chargegate: quarantine: %s: %v\n", filepath.Base(path), err)
			code = 1
		}
		for _, r := range rows {
			if err := enc.Encode(exportRow(ctx, filepath.Base(path), r, live)); err != nil {
				fmt.Fprintln(stderr, "chargegate: quarantine:", err)
				return 1
			}
		}
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintln(stderr, "chargegate: quarantine:", err)
		return 1
	}
	if *out != "" {
		if f, ok := w.(*os.File); ok {
			if err := f.Sync(); err != nil {
				fmt.Fprintln(stderr, "chargegate: quarantine:", err)
				return 1
			}
		}
	}
	return code
}

func quarantineList(ctx context.Context, files []string, live *sqlite.Reader, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprintln(stdout, "no quarantine files")
		return 0
	}
	code := 0
	for _, path := range files {
		var size int64
		if st, err := os.Stat(path); err == nil {
			size = st.Size()
		}
		rows, err := sqlite.ReadQuarantine(ctx, path)
		if err != nil {
			fmt.Fprintf(stdout, "%s: %d bytes, unreadable: %v\n", filepath.Base(path), size, err)
			code = 1
			continue
		}
		valid, salvaged := 0, 0
		var first, last uint64
		for i, r := range rows {
			if i == 0 {
				first = r.Seq
			}
			last = r.Seq
			if r.Err == nil {
				valid++
				if inLive(ctx, live, r.Entry) {
					salvaged++
				}
			}
		}
		fmt.Fprintf(stdout, "%s: %d bytes, %d rows readable (seq %d..%d), %d valid, %d damaged, %d valid ones only here\n",
			filepath.Base(path), size, len(rows), first, last, valid, len(rows)-valid, valid-salvaged)
	}
	return code
}

// inLive reports whether the live database holds exactly e.
func inLive(ctx context.Context, live *sqlite.Reader, e ledger.Entry) bool {
	if live == nil {
		return false
	}
	es, err := live.Entries(ctx, e.Seq, 1)
	return err == nil && len(es) == 1 && es[0].Seq == e.Seq && es[0].Hash() == e.Hash()
}

func exportRow(ctx context.Context, file string, r sqlite.QuarantinedRow, live *sqlite.Reader) quarantineRow {
	q := quarantineRow{File: file, Seq: r.Seq, Valid: r.Err == nil, Entry: hex.EncodeToString(r.Body)}
	if r.Err != nil {
		q.Error = r.Err.Error()
	}
	e := r.Entry
	if e.Version == 0 {
		return q // did not decode
	}
	h := e.Hash()
	q.Device = ledger.DeviceID(e.DeviceKey)
	q.Kind, q.Time, q.TimeStatus = e.Kind.String(), e.Time.UTC().Format(time.RFC3339Nano), e.TimeStatus.String()
	q.SessionID, q.MeterSerial, q.ImportMWh, q.ExportMWh = e.SessionID, e.MeterSerial, e.ImportMWh, e.ExportMWh
	q.Event, q.Detail = e.Event, e.Detail
	q.Hash, q.Prev = hex.EncodeToString(h[:]), hex.EncodeToString(e.Prev[:])
	q.Salvaged = q.Valid && inLive(ctx, live, e)
	return q
}
