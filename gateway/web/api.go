package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chargegate/chargegate/gateway"
)

// Snapshot is everything the local API shows: the control loop's status plus the state of the
// sinks, the anchoring and the update agent. The appliance refreshes it on its own schedule; a
// request only reads the latest one, so no request costs the store anything.
type Snapshot struct {
	gateway.Status
	Version string           `json:"version"`
	Device  string           `json:"device"`
	EVSEID  string           `json:"evse_id"`
	Backlog map[string]int64 `json:"backlog"` // entries not yet delivered, per sink
	Anchor  *AnchorStatus    `json:"anchor,omitempty"`
	MQTT    *LinkStatus      `json:"mqtt,omitempty"`
	Update  any              `json:"update,omitempty"`
	Store   *StoreStatus     `json:"store,omitempty"`
	Board   *BoardStatus     `json:"board,omitempty"`
	// EVSEs is the status of every EVSE of a box with several (the top-level fields are
	// EVSE 1's); absent on a box with one.
	EVSEs []gateway.Status `json:"evses,omitempty"`
}

// BoardStatus is the board's inputs as hal reads them (debounced): the contactor's mirror
// contact and the safety inputs.
type BoardStatus struct {
	FeedbackConfigured bool `json:"feedback_configured"`
	FeedbackClosed     bool `json:"feedback_closed"`
	EStopPressed       bool `json:"estop_pressed"`
	RCDTripped         bool `json:"rcd_tripped"`
	LidOpen            bool `json:"lid_open"`
}

// StoreStatus says what the store found when it opened: how the previous run ended and which
// numbers or entries it had to declare missing.
type StoreStatus struct {
	Unclean     bool     `json:"unclean"`               // the previous run did not close the store
	Rebooted    bool     `json:"rebooted"`              // the machine restarted since (with unclean: a power cut)
	Skipped     string   `json:"skipped,omitempty"`     // "FROM-TO": numbers never issued again (seq_skipped)
	Quarantined string   `json:"quarantined,omitempty"` // a damaged database moved aside
	Salvaged    int      `json:"salvaged,omitempty"`    // entries copied from it
	Lost        []string `json:"lost,omitempty"`        // "FROM-TO" holes declared for entries that could not be kept
}

// AnchorStatus summarises anchoring on the ledger.
type AnchorStatus struct {
	Confirmed        int64     `json:"confirmed"`
	Pending          int64     `json:"pending"`
	LastFirst        uint64    `json:"last_first_seq"`
	LastLast         uint64    `json:"last_last_seq"`
	LastBlockID      string    `json:"last_block_id,omitempty"`
	LastState        string    `json:"last_state,omitempty"`
	LastMilestone    uint32    `json:"last_milestone,omitempty"`
	ConfirmedThrough uint64    `json:"confirmed_through"`
	LastError        string    `json:"last_error,omitempty"`   // cleared by the next success
	LastErrorAt      time.Time `json:"last_error_at,omitzero"` // when LastError happened
	Failures         int64     `json:"failures"`               // failed steps since start
	Proofs           int64     `json:"proofs"`                 // inclusion proofs kept on the device since start
	ProofError       string    `json:"proof_error,omitempty"`  // the last failure to keep one
	// ReceiptsWaiting is the number of session receipts awaiting their anchor to be signed
	// again with its proofs; ReceiptsDropped those dropped from that bounded list since start
	// (they stay signed without the anchor).
	ReceiptsWaiting int64  `json:"receipts_waiting"`
	ReceiptsDropped uint64 `json:"receipts_dropped"`
}

// LinkStatus summarises the operator link.
type LinkStatus struct {
	Online    bool   `json:"online"`
	Delivered uint64 `json:"delivered"`
	Through   uint64 `json:"through"`
}

// Options configure the local API and the UI.
type Options struct {
	// Snapshot returns the latest status; it must be cheap (a copy), since every request calls it.
	Snapshot func() Snapshot
	// Token, when not empty, is the operator token: "Authorization: Bearer <token>" (or the
	// UI's login with it) is required on every route but /healthz, the UI's files and login.
	// ViewerToken(Token) gives the read-only viewer role.
	Token string
	// MaxConcurrent bounds the requests served at once (default 8); beyond it a request is
	// answered 503 with Retry-After at once, so a flood cannot starve the control loop of CPU.
	// The live event streams are counted apart (MaxStreams).
	MaxConcurrent int
	// MaxStreams bounds the open live event streams (default 16).
	MaxStreams int
	// SampleInterval is how often Run samples the status for the streams and the chart
	// (default 1 s); ChartStep the chart's resolution over its hour (default 10 s).
	SampleInterval time.Duration
	ChartStep      time.Duration
	// Checkpoints, when set, serves GET checkpoint, checkpoint/inclusion and
	// checkpoint/consistency (ledger/checkpoint.Log.Handler), mounted under /api/v1/ (token).
	Checkpoints http.Handler
	// Receipt, when set, returns a finished session's signed receipt (nil when there is none).
	Receipt func(ctx context.Context, sessionID string) ([]byte, error)
	// Box answers the UI's pages beyond the status; nil serves the Live page only.
	Box    Box
	Logger *slog.Logger
}

// Server is the local HTTP API and the box's web UI. Run feeds its live views.
type Server struct {
	o            Options
	h            http.Handler
	auth         *auth
	hub          *hub
	ring         *ring
	assets       map[string]*asset
	assetVersion string
	stopped      chan struct{} // closed when Run ends: the event streams end with it
}

// New returns the local HTTP API: /healthz, /metrics (Prometheus text format), /api/v1/status
// (JSON), the UI at / with its API (doc.go). Run must run for the live views to update.
func New(o Options) *Server {
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 8
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 16
	}
	if o.SampleInterval <= 0 {
		o.SampleInterval = time.Second
	}
	if o.ChartStep <= 0 {
		o.ChartStep = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	assets, version, err := loadAssets()
	if err != nil {
		panic("web: embedded files: " + err.Error()) // a build defect, caught by every test
	}
	s := &Server{o: o, auth: newAuth(o.Token), hub: newHub(o.MaxStreams), ring: newRing(o.ChartStep, time.Hour),
		assets: assets, assetVersion: version, stopped: make(chan struct{})}
	snapshot := o.Snapshot
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&metrics{snapshot: snapshot},
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		s := snapshot()
		if !s.Meter.Readable || s.Alarms[gateway.AlarmStore] != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(map[string]any{"meter_readable": s.Meter.Readable, "alarms": s.Alarms})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, snapshot())
	})
	if o.Checkpoints != nil {
		h := http.StripPrefix("/api/v1", o.Checkpoints)
		mux.Handle("GET /api/v1/checkpoint", h)
		mux.Handle("GET /api/v1/checkpoint/", h)
	}
	if o.Receipt != nil {
		mux.HandleFunc("GET /api/v1/sessions/{id}/receipt", func(w http.ResponseWriter, r *http.Request) {
			doc, err := o.Receipt(r.Context(), r.PathValue("id"))
			switch {
			case err != nil:
				http.Error(w, "receipt unavailable", http.StatusServiceUnavailable)
			case doc == nil:
				http.Error(w, "no receipt for this session", http.StatusNotFound)
			default:
				w.Header().Set("Content-Type", "application/vc+json")
				w.Header().Set("Cache-Control", "private, max-age=3600")
				w.Write(doc)
			}
		})
	}
	s.uiRoutes(mux)
	// The live streams hold their connection open: they are bounded by MaxStreams, not by
	// the request slots.
	limited := limit(o.MaxConcurrent, mux)
	s.h = s.auth.middleware(routeRole, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/events" {
			mux.ServeHTTP(w, r)
			return
		}
		limited.ServeHTTP(w, r)
	}))
	return s
}

// ServeHTTP serves the API and the UI.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

// limit serves at most n requests at once and answers the rest 503 without queueing them.
func limit(n int, next http.Handler) http.Handler {
	slots := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy: too many requests at once", http.StatusServiceUnavailable)
		}
	})
}

// metrics is a Prometheus collector that reads one snapshot per scrape, so the figures are
// consistent with each other and nothing is updated on the control loop's path.
type metrics struct {
	snapshot func() Snapshot
}

var (
	descImport    = prometheus.NewDesc("chargegate_meter_energy_import_wh", "Cumulative imported energy of the meter, Wh.", nil, nil)
	descExport    = prometheus.NewDesc("chargegate_meter_energy_export_wh", "Cumulative exported energy of the meter, Wh.", nil, nil)
	descPower     = prometheus.NewDesc("chargegate_meter_power_watts", "Total active power.", nil, nil)
	descVoltage   = prometheus.NewDesc("chargegate_meter_voltage_volts", "Voltage per phase.", []string{"phase"}, nil)
	descCurrent   = prometheus.NewDesc("chargegate_meter_current_amperes", "Current per phase.", []string{"phase"}, nil)
	descReadable  = prometheus.NewDesc("chargegate_meter_readable", "1 if the last poll succeeded.", nil, nil)
	descPollErr   = prometheus.NewDesc("chargegate_meter_poll_errors_total", "Failed meter polls since start.", nil, nil)
	descRelay     = prometheus.NewDesc("chargegate_relay_closed", "1 while the contactor is commanded closed.", nil, nil)
	descSession   = prometheus.NewDesc("chargegate_session_active", "1 while a charging session runs.", nil, nil)
	descEntries   = prometheus.NewDesc("chargegate_ledger_entries", "Sequence number of the newest entry.", nil, nil)
	descBacklog   = prometheus.NewDesc("chargegate_backlog_entries", "Entries not yet delivered, per sink.", []string{"sink"}, nil)
	descAnchors   = prometheus.NewDesc("chargegate_anchors_confirmed", "Anchors confirmed by a milestone since start.", nil, nil)
	descAnchored  = prometheus.NewDesc("chargegate_anchored_through_seq", "Highest sequence number in a confirmed anchor.", nil, nil)
	descRcptWait  = prometheus.NewDesc("chargegate_receipts_awaiting_anchor", "Session receipts awaiting their anchor to be signed again with its proofs.", nil, nil)
	descRcptDrop  = prometheus.NewDesc("chargegate_receipts_anchor_dropped_total", "Receipts dropped from the bounded list awaiting their anchor since start; they stay signed without it.", nil, nil)
	descAlarm     = prometheus.NewDesc("chargegate_alarm", "1 for each active alarm.", []string{"alarm"}, nil)
	descMQTT      = prometheus.NewDesc("chargegate_mqtt_connected", "1 while the operator link is up.", nil, nil)
	descDelivered = prometheus.NewDesc("chargegate_mqtt_delivered_total", "Readings acknowledged by the broker since start.", nil, nil)
)

// Describe sends every metric's description without taking a snapshot.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descImport, descExport, descPower, descVoltage, descCurrent, descReadable,
		descPollErr, descRelay, descSession, descEntries, descBacklog, descAnchors, descAnchored, descRcptWait, descRcptDrop, descAlarm, descMQTT, descDelivered} {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	s := m.snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descImport, float64(s.Meter.ImportMWh)/1000)
	gauge(descExport, float64(s.Meter.ExportMWh)/1000)
	gauge(descPower, s.Meter.PowerW)
	for i, v := range s.Meter.VoltageV {
		gauge(descVoltage, v, phase(i))
	}
	for i, v := range s.Meter.CurrentA {
		gauge(descCurrent, v, phase(i))
	}
	gauge(descReadable, b2f(s.Meter.Readable))
	ch <- prometheus.MustNewConstMetric(descPollErr, prometheus.CounterValue, float64(s.PollErrors))
	gauge(descRelay, b2f(s.RelayClosed))
	gauge(descSession, b2f(s.Session != nil))
	gauge(descEntries, float64(s.Entries))
	for sink, n := range s.Backlog {
		gauge(descBacklog, float64(n), sink)
	}
	if a := s.Anchor; a != nil {
		gauge(descAnchors, float64(a.Confirmed))
		gauge(descAnchored, float64(a.ConfirmedThrough))
		gauge(descRcptWait, float64(a.ReceiptsWaiting))
		ch <- prometheus.MustNewConstMetric(descRcptDrop, prometheus.CounterValue, float64(a.ReceiptsDropped))
	}
	for name := range s.Alarms {
		gauge(descAlarm, 1, name)
	}
	if l := s.MQTT; l != nil {
		gauge(descMQTT, b2f(l.Online))
		ch <- prometheus.MustNewConstMetric(descDelivered, prometheus.CounterValue, float64(l.Delivered))
	}
}

func phase(i int) string { return string(rune('1' + i)) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
