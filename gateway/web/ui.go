package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/chargegate/chargegate/ledger/proofcheck"
)

// Box is what the UI's pages ask of the appliance beyond the snapshot (gateway/cmd/chargegate
// implements it over the Operator, the store and the board). Methods fail with an error whose
// text is shown to the user; ErrNotFound for an unknown session.
type Box interface {
	// Command runs an operator command through the same path and checks as the MQTT link
	// (gateway.Operator.Execute); by names who asked, for the chain. It returns the result,
	// the reply code on failure and the error.
	Command(ctx context.Context, name string, payload []byte, by string) (any, string, error)
	// SessionAuth returns how the session that began at entry beginSeq was authorized (nil if
	// unknown); it is asked once a second while a session runs, so it should remember.
	SessionAuth(ctx context.Context, beginSeq uint64) *SessionAuth
	// Sessions lists the sessions the chain holds, newest first.
	Sessions(ctx context.Context) ([]SessionRow, error)
	// Session returns one session with its OCMF record and key.
	Session(ctx context.Context, id string) (*SessionDetail, error)
	// VerifySession checks a session's entries, OCMF record and anchoring.
	VerifySession(ctx context.Context, id string) (*VerifyReport, error)
	// VerifyRecord checks a pasted OCMF record or proof file.
	VerifyRecord(ctx context.Context, text []byte) *VerifyReport
	// Proof returns the proof file (ledger/anchor) of entry seq.
	Proof(ctx context.Context, seq uint64) ([]byte, error)
	// Events lists the chain's event entries (with session begin and end), newest first.
	Events(ctx context.Context) ([]EventRow, error)
	// HALCheck runs the installer's wiring check on the running board (no session may run).
	HALCheck(ctx context.Context) (*HALReport, error)
	// MeterTest detects the meter model on the configured bus and reads it once.
	MeterTest(ctx context.Context) (*MeterTest, error)
	// Installer returns the installer's facts: version, keys, redacted configuration, updates.
	Installer(ctx context.Context) (*InstallerInfo, error)
}

// ErrNotFound is returned by a Box for an unknown session or entry.
var ErrNotFound = errors.New("not found")

// SessionRow is one session in the history.
type SessionRow struct {
	ID            string    `json:"id"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end,omitzero"` // zero while running
	BeginSeq      uint64    `json:"begin_seq"`
	EndSeq        uint64    `json:"end_seq,omitempty"`
	BeginMWh      int64     `json:"begin_import_mwh"`
	EndMWh        int64     `json:"end_import_mwh,omitempty"`
	EnergyMWh     int64     `json:"energy_mwh"`
	Reason        string    `json:"reason,omitempty"`
	Authorization string    `json:"authorization"`
	MeterSerial   string    `json:"meter_serial"`
}

// SessionDetail is one session with what a driver or auditor checks.
type SessionDetail struct {
	SessionRow
	EVSEID     string `json:"evse_id"`
	OCMF       string `json:"ocmf,omitempty"`
	OCMFSigner string `json:"ocmf_signer,omitempty"` // meter | gateway
	OCMFKey    string `json:"ocmf_public_key,omitempty"`
	Receipt    bool   `json:"receipt"`
}

// VerifyReport is the verify button's answer: the overall verdict and each step.
type VerifyReport struct {
	Verdict proofcheck.Verdict `json:"verdict"`
	Steps   []proofcheck.Step  `json:"steps"`
}

// EventRow is one entry of the Events page.
type EventRow struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Event     string    `json:"event,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
}

// HALReport is `chargegate hal check`'s report: each pin PASS/FAIL with contact timings.
type HALReport struct {
	Pass              bool        `json:"pass"`
	Results           []HALResult `json:"results"`
	CloseMs           []float64   `json:"close_ms"`
	OpenMs            []float64   `json:"open_ms"`
	FeedbackTimeoutMs float64     `json:"feedback_timeout_ms"`
}

// HALResult is the verdict on one pin.
type HALResult struct {
	Role   string `json:"role"`
	Pin    string `json:"pin"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
}

// MeterTest is the meter detection and one test read.
type MeterTest struct {
	URL        string    `json:"url"`
	Configured string    `json:"configured_model"`
	Detected   string    `json:"detected_model,omitempty"`
	Serial     string    `json:"serial,omitempty"`
	Firmware   string    `json:"firmware,omitempty"`
	Error      string    `json:"error,omitempty"`
	ImportMWh  int64     `json:"energy_import_mwh"`
	PowerW     float64   `json:"power_w"`
	VoltageV   []float64 `json:"voltage_v,omitempty"`
	CurrentA   []float64 `json:"current_a,omitempty"`
	Frequency  float64   `json:"frequency_hz,omitempty"`
	Status     string    `json:"status,omitempty"`
	Note       string    `json:"note,omitempty"`
}

// InstallerInfo is what the Installer page shows.
type InstallerInfo struct {
	Version       string     `json:"version"`
	Device        string     `json:"device"`
	EVSEID        string     `json:"evse_id"`
	EntryKey      string     `json:"entry_public_key"` // Ed25519, hex
	OCMFKey       string     `json:"ocmf_public_key"`  // DER SubjectPublicKeyInfo, hex
	MeterKey      string     `json:"meter_public_key,omitempty"`
	Config        string     `json:"config"` // YAML, in the configuration file's spelling, secrets redacted
	Update        any        `json:"update,omitempty"`
	UpdateHistory []EventRow `json:"update_history"`
	ViewerToken   string     `json:"viewer_token,omitempty"`
}

//go:embed static
var staticFS embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body, gz []byte
	ctype    string
	etag     string
}

// assets loads the embedded files, puts the content hash into index.html's references (so
// everything but index.html is cached for a year under a path that changes with it) and
// compresses them once.
func loadAssets() (map[string]*asset, string, error) {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	raw := map[string][]byte{}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		raw[p] = b
		if p != "index.html" {
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	version := hex.EncodeToString(h.Sum(nil))[:12]
	raw["index.html"] = bytes.ReplaceAll(raw["index.html"], []byte("{{assets}}"), []byte("/ui/"+version))
	out := map[string]*asset{}
	for p, b := range raw {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[p] = &asset{body: b, gz: buf.Bytes(), ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out, version, nil
}

// serveAsset writes an embedded file, gzipped when the client accepts it.
func serveAsset(w http.ResponseWriter, r *http.Request, a *asset, cache string) {
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", cache)
	hd.Set("ETag", a.etag)
	hd.Set("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		hd.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// securityHeaders are sent with every UI response: no inline scripts or styles, no framing,
// nothing from elsewhere.
func securityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
}

// uiRoutes mounts the pages and the UI's API on mux.
func (s *Server) uiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		serveAsset(w, r, s.assets["index.html"], "no-cache")
	})
	mux.HandleFunc("GET /ui/{version}/{file}", func(w http.ResponseWriter, r *http.Request) {
		a := s.assets[r.PathValue("file")]
		if a == nil || r.PathValue("file") == "index.html" {
			http.NotFound(w, r)
			return
		}
		securityHeaders(w)
		cache := "public, max-age=31536000, immutable"
		if r.PathValue("version") != s.assetVersion {
			cache = "no-cache" // an old page asking for its files: serve the current ones, briefly
		}
		serveAsset(w, r, a, cache)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		serveAsset(w, r, s.assets["icon.svg"], "public, max-age=86400")
	})
	mux.HandleFunc("GET /api/v1/session", s.auth.whoami)
	mux.HandleFunc("POST /api/v1/login", s.auth.login)
	mux.HandleFunc("POST /api/v1/logout", s.auth.logout)
	mux.HandleFunc("GET /api/v1/events", s.events)
	mux.HandleFunc("GET /api/v1/qr", s.qr)
	if s.o.Box == nil {
		return
	}
	box := s.o.Box
	mux.HandleFunc("POST /api/v1/commands/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		var in struct {
			IDToken string `json:"id_token,omitempty"`
			Token   string `json:"token,omitempty"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8192)).Decode(&in); err != nil && !errors.Is(err, io.EOF) {
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": "bad_request", "error": err.Error()})
			return
		}
		var id [8]byte
		rand.Read(id[:])
		payload, _ := json.Marshal(struct {
			RequestID string `json:"request_id"`
			IDToken   string `json:"id_token,omitempty"`
			Token     string `json:"token,omitempty"`
		}{"web-" + hex.EncodeToString(id[:]), in.IDToken, in.Token})
		res, code, err := box.Command(r.Context(), name, payload, "web/"+string(roleOf(r)))
		if err != nil {
			writeJSON(w, http.StatusConflict, map[string]any{"code": code, "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"result": res})
	})
	mux.HandleFunc("GET /api/v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		rows, err := box.Sessions(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, rows)
	})
	mux.HandleFunc("GET /api/v1/sessions.csv", func(w http.ResponseWriter, r *http.Request) {
		rows, err := box.Sessions(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="chargegate-sessions.csv"`)
		w.Header().Set("Cache-Control", "no-store")
		writeCSV(w, s.o.Snapshot().EVSEID, rows)
	})
	mux.HandleFunc("GET /api/v1/sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, err := box.Session(r.Context(), r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, d)
	})
	mux.HandleFunc("GET /api/v1/sessions/{id}/ocmf.xml", func(w http.ResponseWriter, r *http.Request) {
		d, err := box.Session(r.Context(), r.PathValue("id"))
		if err == nil && d.OCMF == "" {
			err = fmt.Errorf("%w: no OCMF record kept for this session", ErrNotFound)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="session-`+d.ID+`.xml"`)
		w.Header().Set("Cache-Control", "private, max-age=3600")
		writeTransparencyXML(w, d)
	})
	mux.HandleFunc("POST /api/v1/sessions/{id}/verify", func(w http.ResponseWriter, r *http.Request) {
		longRequest(w)
		rep, err := box.VerifySession(r.Context(), r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, rep)
	})
	mux.HandleFunc("POST /api/v1/verify", func(w http.ResponseWriter, r *http.Request) {
		longRequest(w)
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, box.VerifyRecord(r.Context(), b))
	})
	mux.HandleFunc("GET /api/v1/proofs/{seq}", func(w http.ResponseWriter, r *http.Request) {
		longRequest(w)
		seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
		if err != nil {
			http.Error(w, "bad sequence number", http.StatusBadRequest)
			return
		}
		b, err := box.Proof(r.Context(), seq)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="proof-%d.json"`, seq))
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
	})
	mux.HandleFunc("GET /api/v1/chain/events", func(w http.ResponseWriter, r *http.Request) {
		rows, err := box.Events(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, rows)
	})
	mux.HandleFunc("POST /api/v1/installer/hal-check", func(w http.ResponseWriter, r *http.Request) {
		longRequest(w)
		rep, err := box.HALCheck(r.Context())
		if err != nil {
			writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, rep)
	})
	mux.HandleFunc("POST /api/v1/installer/meter-test", func(w http.ResponseWriter, r *http.Request) {
		longRequest(w)
		rep, err := box.MeterTest(r.Context())
		if err != nil {
			writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, rep)
	})
	mux.HandleFunc("GET /api/v1/installer", func(w http.ResponseWriter, r *http.Request) {
		info, err := box.Installer(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, info)
	})
}

// longRequest gives a request that asks a node, cycles the relay or probes the meter a minute
// to answer, beyond the server's WriteTimeout for ordinary requests.
func longRequest(w http.ResponseWriter) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute))
}

// routeRole is the least role each route needs.
func routeRole(r *http.Request) Role {
	p := r.URL.Path
	switch {
	case p == "/" || p == "/healthz" || p == "/favicon.ico" || strings.HasPrefix(p, "/ui/"),
		p == "/api/v1/session", p == "/api/v1/login", p == "/api/v1/logout":
		return RoleNone
	case strings.HasPrefix(p, "/api/v1/commands/"), strings.HasPrefix(p, "/api/v1/installer"), p == "/metrics":
		return RoleAdmin
	}
	return RoleViewer
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, ErrNotFound) {
		code = http.StatusNotFound
	}
	writeJSON(w, code, map[string]any{"error": err.Error()})
}

// csvHeader are the sessions export's columns, named after OCPI 2.2.1 CDR fields where one
// fits (doc.go).
var csvHeader = []string{"id", "start_date_time", "end_date_time", "evse_id", "meter_id", "auth_id",
	"total_energy_kwh", "total_time_h", "stop_reason", "begin_meter_kwh", "end_meter_kwh", "begin_seq", "end_seq"}

// writeCSV writes the sessions export; energies in kWh with 3 decimals from the integer mWh
// (never through a float), times in UTC RFC 3339.
func writeCSV(w io.Writer, evseID string, rows []SessionRow) error {
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	for _, r := range rows {
		end, hours, endKWh := "", "", ""
		if !r.End.IsZero() {
			end = r.End.UTC().Format(time.RFC3339)
			hours = strconv.FormatFloat(r.End.Sub(r.Start).Hours(), 'f', 4, 64)
			endKWh = KWh(r.EndMWh)
		}
		endSeq := ""
		if r.EndSeq != 0 {
			endSeq = strconv.FormatUint(r.EndSeq, 10)
		}
		cw.Write([]string{r.ID, r.Start.UTC().Format(time.RFC3339), end, evseID, r.MeterSerial, r.Authorization,
			KWh(r.EnergyMWh), hours, r.Reason, KWh(r.BeginMWh), endKWh, strconv.FormatUint(r.BeginSeq, 10), endSeq})
	}
	cw.Flush()
	return cw.Error()
}

// KWh renders milliwatt-hours as kWh with three decimals (exact: 1 Wh = 1000 mWh).
func KWh(mwh int64) string {
	sign := ""
	if mwh < 0 {
		sign, mwh = "-", -mwh
	}
	wh := mwh / 1000
	return fmt.Sprintf("%s%d.%03d", sign, wh/1000, wh%1000)
}
