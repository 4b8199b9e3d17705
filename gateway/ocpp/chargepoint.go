package ocpp

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/gorilla/websocket"

	"github.com/chargegate/chargegate/gateway"
	"github.com/chargegate/chargegate/ota"
)

// Subprotocol is the WebSocket subprotocol of OCPP-J 1.6.
const Subprotocol = "ocpp1.6"

// Actions of the transaction messages that go through the durable queue.
const (
	actionStart  = "StartTransaction"
	actionStop   = "StopTransaction"
	actionMeter  = "MeterValues"
	connectorOne = 1
)

// Sessions is what the charge point asks of the gateway: start a session for an idTag the CSMS
// sent (RemoteStartTransaction) and stop one (RemoteStopTransaction, or an idTag the CSMS
// rejected). Start returns the new session's id; it fails when a session cannot start (one is
// running, a fault is latched, an update is held). Stop fails when sessionID is not running.
// Hold keeps new sessions from starting (ChangeAvailability Inoperative) until release is
// called; it fails with an error matching gateway.ErrSessionRunning while a session runs
// (gateway.Controller.Hold).
type Sessions interface {
	Start(ctx context.Context, idTag string) (sessionID string, err error)
	Stop(ctx context.Context, sessionID string) error
	Hold(ctx context.Context) (release func(), err error)
}

// SessionStart announces a session that began; the charge point also notices sessions in
// Status on its own, so calling SessionStarted is optional but gives the idTag at once.
type SessionStart struct {
	ID       string
	IDTag    string
	Time     time.Time
	MeterMWh int64 // cumulative import register at the begin, milliwatt-hours
}

// Config is the charge point's identity and timing; plain values, validated by New.
type Config struct {
	// URL is the CSMS endpoint (ws:// or wss://); the identity is appended as the last path
	// segment (OCPP-J 1.6 §3.1.1).
	URL      string
	Identity string

	// Password, when set, is sent as HTTP Basic auth with the identity as user (OCPP 1.6
	// Security Whitepaper, security profile 1; use wss:// and TLS for profile 2). At most 40
	// characters (the AuthorizationKey limit).
	Password string
	// Reset restarts the appliance for the CSMS's Reset (hard: flagged as such); nil refuses
	// Reset. It is called after the running session has ended and its StopTransaction (reason
	// SoftReset or HardReset) is queued; the queue delivers it after the restart.
	Reset func(hard bool)
	// TLS configures wss:// (profile 2: server certificate check; profile 3: add a client
	// certificate). Nil uses the system roots.
	TLS *tls.Config

	// BootNotification fields (CiString20/25/50 limits are enforced by New).
	Vendor, Model, SerialNumber, FirmwareVersion, MeterType, MeterSerialNumber string

	// FallbackIDTag is the idTag reported for a session that has none OCPP can carry (started
	// without a token, or with one longer than 20 characters). Default "chargegate".
	FallbackIDTag string
	// MeterPublicKey is published read-only as MeterPublicKey1: the hex DER public key that
	// verifies the OCMF records (the meter's own or the gateway's).
	MeterPublicKey string

	HeartbeatInterval        time.Duration // until the CSMS sets one; default 5 min
	MeterValueSampleInterval time.Duration // default 60 s; 0 turns sampled values off
	RetryInterval            time.Duration // TransactionMessageRetryInterval; default 30 s
	BootRetry                time.Duration // after Pending/Rejected with interval 0; default 30 s
	CallTimeout              time.Duration // how long an answer may take; default 30 s
	ReconnectMin             time.Duration // default 1 s
	ReconnectMax             time.Duration // default 60 s

	// Pause is called with true once for each charging session (Status: state "charging")
	// while the charging profiles' limit in force is 0, and with false when the limit becomes
	// positive again (or no profile limits) after such a call; the appliance runs the control
	// loop's pause and resume commands (relay open, session kept). Nil: limits are only
	// reported (Limit, GetCompositeSchedule).
	Pause func(paused bool)
	// MaxCurrentA is the outlet's rated current, the composite schedule's limit where no
	// profile sets one. Default 32.
	MaxCurrentA float64

	// Firmware is the update agent that UpdateFirmware and SignedUpdateFirmware drive (see
	// firmware.go); nil: UpdateFirmware ends InstallationFailed, SignedUpdateFirmware Rejected.
	Firmware Firmware
	// FirmwareKeys are the release keys the update agent trusts; SignedUpdateFirmware's
	// signing certificate must hold one of them.
	FirmwareKeys []ed25519.PublicKey
	// Diagnostics builds the archive that GetDiagnostics and GetLog upload (see
	// diagnostics.go); nil: both answer that no file is available.
	Diagnostics Diagnostics
	// HTTPClient fetches signed bundles' manifests and uploads diagnostics; nil is a client
	// with timeouts.
	HTTPClient *http.Client
	// SignSample signs one periodic reading of a transaction as an OCMF record (the begin and
	// this reading), sent as SignedData beside the sampled values when the configuration key
	// SampledDataSignReadings is true. Nil: the key stays false.
	SignSample func(ctx context.Context, s Sample) (string, error)
	// DataHandlers answer the CSMS's DataTransfer of vendorId VendorID by messageId (see
	// datatransfer.go; the appliance sets MessageToken).
	DataHandlers map[string]DataHandler
	// CertDir keeps the charge point's own key and client certificate that CertificateSigned
	// installs (security profile 3); they replace Config.TLS's certificate from the next
	// connection on. Empty: SignChargePointCertificate is Rejected.
	CertDir string

	// Version picks the protocol face: "1.6" (or empty) speaks OCPP 1.6J, "2.0.1" OCPP 2.0.1
	// (ChargePoint201) over the same core; the methods below then drive the 2.0.1 face.
	Version string

	Logger *slog.Logger
}

// Protocol versions for Config.Version.
const (
	Version16  = "1.6"
	Version201 = "2.0.1"
)

// ChargePoint is one OCPP 1.6J charge point with one connector, driven by the gateway's
// notifications (it implements gateway.Notifier) and by the CSMS's calls.
type ChargePoint struct {
	cfg      Config
	q        *Queue
	sessions Sessions
	log      *slog.Logger
	wake     chan struct{}
	bg       sync.WaitGroup // RemoteStart/Stop work that outlives its call; Run waits
	online   atomic.Bool

	fwMu            sync.Mutex // serialises changes of the firmware job (firmware.go)
	mu              sync.Mutex
	conf            map[string]string
	status          gateway.Status
	haveStatus      bool
	statusNow       [2]ConnectorStatus // connector 0 and 1 as of the latest status
	statusQueue     []statusChange     // transitions not yet sent, oldest first
	resendStatus    bool               // after a boot: send statusNow of both connectors
	conn            *rpcConn           // accepted by the CSMS; nil otherwise
	current         string             // the running session as announced to the queue
	currentTag      string
	currentBeginMWh int64 // the running session's begin register
	lastSample      time.Time
	lastAligned     time.Time         // the last clock-aligned boundary sent
	sighted         string            // a session seen in Status, not yet begun
	tags            map[string]string // session → idTag, from Commander, until begun
	pendingTag      string            // idTag of a RemoteStart whose session has not shown up yet
	inoperative     bool              // ChangeAvailability: Inoperative is wanted (persisted)
	release         func()            // the gateway's hold while inoperative is in force
	triggered       []string          // TriggerMessage requests answered, to send
	stopReasons     map[string]string // session → the OCPP reason of a stop the charge point asked for
	reservation     *reservation      // ReserveNow in force (persisted)
	reservedStart   string            // an idTag that passed claimReservation, for its StartTransaction
	resTimer        *time.Timer       // ends the reservation at its expiry while Run runs
	shared          LocalList         // ShareLocalList: the Local Authorization List outside ocpp.db
	running         bool              // Run is running
	lastErr         error             // why the latest connection attempt failed
	profiles        []storedProfile   // installed charging profiles (persisted)
	txStart         time.Time         // the running session's begin, for Relative profiles
	paused          bool              // the limit in force is 0
	limitPaused     string            // the session Config.Pause(true) was called for
	fwJob           *firmwareJob      // UpdateFirmware / SignedUpdateFirmware in progress (persisted)
	fwSigned        signedCheck       // the signed job's certificate and signature, until checked
	fwSeen          ota.State         // the agent's state at the latest firmwareTick
	diag            *diagJob          // GetDiagnostics / GetLog upload in progress
	renewChecked    time.Time         // when renewClientCert last looked at the client certificate
	face201         *ChargePoint201   // Config.Version 2.0.1: the face every public method drives
	clock           func() time.Time  // the authorization cache's clock (LifeTime); nil: time.Now
}

// now is the authorization cache's time (tests set clock).
func (cp *ChargePoint) now() time.Time {
	cp.mu.Lock()
	c := cp.clock
	cp.mu.Unlock()
	if c == nil {
		return time.Now()
	}
	return c()
}

// New validates cfg, reads the configuration keys the CSMS changed from q and prepares the
// charge point; nothing connects until Run.
func New(cfg Config, q *Queue, sessions Sessions) (*ChargePoint, error) {
	if cfg.URL == "" || cfg.Identity == "" {
		return nil, errors.New("ocpp: url and identity are required")
	}
	if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return nil, fmt.Errorf("ocpp: url %q is not a ws:// or wss:// URL", cfg.URL)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"vendor", cfg.Vendor, 20}, {"model", cfg.Model, 20}, {"serial number", cfg.SerialNumber, 25},
		{"firmware version", cfg.FirmwareVersion, 50}, {"meter type", cfg.MeterType, 25}, {"meter serial number", cfg.MeterSerialNumber, 25}} {
		if len(f.v) > f.max {
			return nil, fmt.Errorf("ocpp: %s %q is longer than %d characters", f.name, f.v, f.max)
		}
	}
	if cfg.Version != "" && cfg.Version != Version16 && cfg.Version != Version201 {
		return nil, fmt.Errorf("ocpp: version %q is neither %q nor %q", cfg.Version, Version16, Version201)
	}
	if cfg.Vendor == "" || cfg.Model == "" {
		return nil, errors.New("ocpp: vendor and model are required")
	}
	if cfg.FallbackIDTag == "" {
		cfg.FallbackIDTag = "chargegate"
	}
	if len(cfg.Password) > 40 || strings.Contains(cfg.Identity, ":") {
		return nil, errors.New("ocpp: password longer than 40 characters, or an identity with ':' (basic auth)")
	}
	if len(cfg.MeterPublicKey) > 500 {
		return nil, errors.New("ocpp: meter public key longer than 500 characters (CiString500)")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.HeartbeatInterval, 5*time.Minute)
	if cfg.MeterValueSampleInterval < 0 {
		cfg.MeterValueSampleInterval = 0
	} else if cfg.MeterValueSampleInterval == 0 {
		cfg.MeterValueSampleInterval = time.Minute
	}
	def(&cfg.RetryInterval, 30*time.Second)
	def(&cfg.BootRetry, 30*time.Second)
	def(&cfg.CallTimeout, 30*time.Second)
	def(&cfg.ReconnectMin, time.Second)
	def(&cfg.ReconnectMax, time.Minute)
	if cfg.MaxCurrentA <= 0 {
		cfg.MaxCurrentA = 32
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment,
			TLSHandshakeTimeout: 30 * time.Second, ResponseHeaderTimeout: time.Minute}}
	}
	cp := &ChargePoint{cfg: cfg, q: q, sessions: sessions, log: cfg.Logger, wake: make(chan struct{}, 1),
		conf: defaultConfig(cfg), stopReasons: map[string]string{}, tags: map[string]string{}}
	changed, err := q.configValues(context.Background())
	if err != nil {
		return nil, err
	}
	for k, v := range changed {
		if d, ok := keyDefs[k]; ok && !d.readonly {
			cp.conf[k] = v
		}
	}
	cp.inoperative = changed[availabilityKey] == "Inoperative"
	cp.loadReservation(changed[reservationKey])
	cp.loadFirmwareJob(changed[firmwareKey])
	cp.securityEvent(EventStartupOfTheDevice, "")
	if cp.profiles, err = q.loadProfiles(context.Background()); err != nil {
		return nil, err
	}
	if cfg.Version == Version201 {
		if cp.face201, err = newFace201(cp); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

// Online reports whether the CSMS accepted the charge point on the current connection.
func (cp *ChargePoint) Online() bool {
	if f := cp.face201; f != nil {
		return f.Online()
	}
	return cp.online.Load()
}

func (cp *ChargePoint) poke() {
	select {
	case cp.wake <- struct{}{}:
	default:
	}
}

func (cp *ChargePoint) confSeconds(key string) time.Duration {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	n, _ := strconv.Atoi(cp.conf[key])
	return time.Duration(n) * time.Second
}

func (cp *ChargePoint) confBool(key string) bool {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.conf[key] == "true"
}

// Run connects to the CSMS and keeps the connection, reconnecting with backoff, until ctx ends.
func (cp *ChargePoint) Run(ctx context.Context) error {
	if f := cp.face201; f != nil {
		return f.Run(ctx)
	}
	defer cp.bg.Wait()
	defer cp.operative()
	defer cp.runReservations()()
	cp.applyAvailability(ctx)
	return cp.run(ctx, cp)
}

// connect dials the CSMS with subprotocol proto (the 1.6 face: Subprotocol; the 2.0.1 face:
// Subprotocol201) under the configured credentials and TLS, retrying with backoff.
func (cp *ChargePoint) connect(ctx context.Context, proto string) (*websocket.Conn, error) {
	target := strings.TrimSuffix(cp.cfg.URL, "/") + "/" + url.PathEscape(cp.cfg.Identity)
	dialer := websocket.Dialer{Subprotocols: []string{proto}, HandshakeTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment}
	var header http.Header
	if pw := cp.password(); pw != "" {
		header = http.Header{}
		header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cp.cfg.Identity+":"+pw)))
	}
	b := &backoff.ExponentialBackOff{
		InitialInterval: cp.cfg.ReconnectMin, RandomizationFactor: 0.3, Multiplier: 2, MaxInterval: cp.cfg.ReconnectMax,
	}
	b.Reset()
	return backoff.Retry(ctx, func() (*websocket.Conn, error) {
		if ctx.Err() != nil {
			return nil, backoff.Permanent(ctx.Err())
		}
		if strings.HasPrefix(target, "wss://") {
			dialer.TLSClientConfig = cp.tlsConfig(ctx) // installed roots and client certificate, fresh each time
		}
		ws, resp, err := dialer.DialContext(ctx, target, header)
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		if err != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			err = cp.explainDial(target, status, err)
			cp.mu.Lock()
			cp.lastErr = err
			cp.mu.Unlock()
			return nil, err
		}
		cp.mu.Lock()
		cp.lastErr = nil
		cp.mu.Unlock()
		if ws.Subprotocol() != proto {
			ws.Close()
			return nil, fmt.Errorf("connect to %s: the CSMS chose subprotocol %q, want %q", target, ws.Subprotocol(), proto)
		}
		return ws, nil
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0), backoff.WithNotify(func(err error, next time.Duration) {
		cp.log.Warn("CSMS unreachable", "err", err, "retry_in", next)
	}))
}

// The 1.6 face of the core's connection (link.go).

func (cp *ChargePoint) subprotocol() string { return Subprotocol }

func (cp *ChargePoint) heartbeatInterval() time.Duration {
	if d := cp.confSeconds(KeyHeartbeatInterval); d > 0 {
		return d
	}
	return cp.cfg.HeartbeatInterval
}

func (cp *ChargePoint) attach(conn *rpcConn) {
	cp.mu.Lock()
	cp.conn = conn
	cp.resendStatus = conn != nil
	cp.mu.Unlock()
}

func (cp *ChargePoint) flush(ctx context.Context, conn *rpcConn) error {
	if err := cp.sendStatus(ctx, conn); err != nil {
		return err
	}
	return cp.sendTriggered(ctx, conn)
}

// boot sends BootNotification until the CSMS accepts (OCPP 1.6 §4.2): on Pending or Rejected
// it waits the interval the CSMS gave (or BootRetry) and asks again. On Accepted, the
// heartbeat interval it gave replaces HeartbeatInterval.
func (cp *ChargePoint) boot(ctx context.Context, conn *rpcConn) error {
	req := cp.bootRequest()
	for {
		var conf bootNotificationConf
		if err := conn.call(ctx, "", "BootNotification", req, &conf); err != nil {
			return fmt.Errorf("boot notification: %w", err)
		}
		interval := time.Duration(conf.Interval) * time.Second
		if conf.Status == "Accepted" {
			if interval > 0 {
				cp.mu.Lock()
				cp.conf[KeyHeartbeatInterval] = strconv.Itoa(conf.Interval)
				cp.mu.Unlock()
			}
			return nil
		}
		if interval <= 0 {
			interval = cp.cfg.BootRetry
		}
		cp.log.Warn("CSMS did not accept the boot notification", "status", conf.Status, "retry_in", interval)
		t := time.NewTimer(interval)
		select {
		case <-t.C:
		case <-conn.done:
			t.Stop()
			return conn.err
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// statusChange is one connector transition waiting to be notified.
type statusChange struct {
	connector int
	status    ConnectorStatus
	at        time.Time
}

// maxStatusQueue bounds the transitions kept while offline; the oldest go first (after a
// reconnect the charge point sends every connector's current status anyway).
const maxStatusQueue = 16

func (cp *ChargePoint) bootRequest() bootNotificationReq {
	return bootNotificationReq{ChargePointVendor: cp.cfg.Vendor, ChargePointModel: cp.cfg.Model, ChargePointSerialNumber: cp.cfg.SerialNumber,
		FirmwareVersion: cp.cfg.FirmwareVersion, MeterType: cp.cfg.MeterType, MeterSerialNumber: cp.cfg.MeterSerialNumber}
}

// sendStatus sends the queued connector transitions in order, as StatusNotifications; after a
// boot, the current status of both connectors instead.
func (cp *ChargePoint) sendStatus(ctx context.Context, conn *rpcConn) error {
	cp.mu.Lock()
	if cp.resendStatus && cp.haveStatus {
		now := time.Now()
		cp.statusQueue = []statusChange{{0, cp.statusNow[0], now}, {1, cp.statusNow[1], now}}
		cp.resendStatus = false
	}
	cp.mu.Unlock()
	for {
		cp.mu.Lock()
		if len(cp.statusQueue) == 0 {
			cp.mu.Unlock()
			return nil
		}
		c := cp.statusQueue[0]
		cp.mu.Unlock()
		at := Time{c.at}
		req := statusNotificationReq{ConnectorID: c.connector, ErrorCode: c.status.ErrorCode, Info: c.status.Info, Status: c.status.Status, Timestamp: &at}
		if err := conn.call(ctx, "", "StatusNotification", req, nil); err != nil {
			cp.mu.Lock()
			cp.resendStatus = true
			cp.mu.Unlock()
			return fmt.Errorf("status notification: %w", err)
		}
		cp.mu.Lock()
		if len(cp.statusQueue) > 0 && cp.statusQueue[0] == c {
			cp.statusQueue = cp.statusQueue[1:]
		}
		cp.mu.Unlock()
	}
}

// drain sends the queued transaction messages in order. A CALLERROR counts as a failed
// attempt: after TransactionMessageAttempts the message is given up (a StartTransaction with
// its whole session, since nothing of it can be sent without a transactionId); a lost
// connection returns and the message is sent again on the next one.
func (cp *ChargePoint) drain(ctx context.Context, conn *rpcConn) error {
	for {
		m, ok, err := cp.q.next(ctx)
		if err != nil || !ok {
			return err
		}
		err = cp.deliver(ctx, conn, m)
		var cerr *CallError
		if err == nil || !errors.As(err, &cerr) {
			if err != nil {
				return err
			}
			continue
		}
		n, aerr := cp.q.attempt(ctx, m.ID)
		if aerr != nil {
			return aerr
		}
		limit := int(cp.confSeconds(KeyTransactionMessageAttempts) / time.Second)
		cp.log.Warn("CSMS refused a transaction message", "action", m.Action, "session", m.Session, "attempt", n, "err", err)
		if n >= max(limit, 1) {
			if m.Action == actionStart {
				err = cp.q.dropSession(ctx, m.Session)
			} else {
				err = cp.q.remove(ctx, m.ID)
			}
			if err != nil {
				return err
			}
			cp.log.Error("gave up a transaction message", "action", m.Action, "session", m.Session)
			continue
		}
		// TransactionMessageRetryInterval × attempts (OCPP 1.6 §4.10 "Error responses to
		// transaction-related messages").
		t := time.NewTimer(cp.confSeconds(KeyTransactionMessageRetryInterval) * time.Duration(n))
		select {
		case <-t.C:
		case <-conn.done:
			t.Stop()
			return conn.err
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// deliver sends one queued message with the message id "tx<row>" (the same on every resend,
// so a CSMS can recognise a repeat) and records the outcome.
func (cp *ChargePoint) deliver(ctx context.Context, conn *rpcConn, m queued) error {
	id := "tx" + strconv.FormatInt(m.ID, 10)
	switch m.Action {
	case actionStart:
		var conf startTransactionConf
		if err := conn.call(ctx, id, m.Action, json.RawMessage(m.Payload), &conf); err != nil {
			return err
		}
		if err := cp.q.started(ctx, m.ID, m.Session, conf.TransactionID); err != nil {
			return err
		}
		cp.log.Info("transaction started", "session", m.Session, "transaction", conf.TransactionID, "id_tag_status", conf.IDTagInfo.Status)
		if _, _, tag, err := cp.q.known(ctx, m.Session); err == nil {
			cp.remember(ctx, tag, conf.IDTagInfo)
		}
		if conf.IDTagInfo.Status != "Accepted" && cp.confBool(KeyStopTransactionOnInvalidID) {
			cp.deauthorize(ctx, m.Session)
		}
		return nil
	case actionData:
		return cp.deliverData(ctx, conn, id, m)
	case actionStop, actionMeter:
		txID, ok, err := cp.q.transactionID(ctx, m.Session)
		if err != nil {
			return err
		}
		if !ok {
			// Cannot happen while the StartTransaction is ahead in the queue; a session whose
			// start was given up has no messages left.
			cp.log.Error("transaction message without a transaction id; dropped", "action", m.Action, "session", m.Session)
			return cp.q.remove(ctx, m.ID)
		}
		payload, err := withTransactionID(m.Action, m.Payload, txID)
		if err != nil {
			return err
		}
		if err := conn.call(ctx, id, m.Action, json.RawMessage(payload), nil); err != nil {
			return err
		}
		return cp.q.remove(ctx, m.ID)
	}
	cp.log.Error("unknown action in the outbox; dropped", "action", m.Action)
	return cp.q.remove(ctx, m.ID)
}

// withTransactionID fills the transactionId that the CSMS gave after the message was queued.
func withTransactionID(action string, payload []byte, txID int64) ([]byte, error) {
	switch action {
	case actionStop:
		var r stopTransactionReq
		if err := json.Unmarshal(payload, &r); err != nil {
			return nil, fmt.Errorf("decode queued %s: %w", action, err)
		}
		r.TransactionID = txID
		return json.Marshal(r)
	default:
		var r meterValuesReq
		if err := json.Unmarshal(payload, &r); err != nil {
			return nil, fmt.Errorf("decode queued %s: %w", action, err)
		}
		r.TransactionID = &txID
		return json.Marshal(r)
	}
}

// deauthorize stops a session whose idTag the CSMS refused in StartTransaction.conf (OCPP 1.6
// §9.1.32 StopTransactionOnInvalidId); its StopTransaction says DeAuthorized.
func (cp *ChargePoint) deauthorize(ctx context.Context, session string) {
	cp.stopFor(ctx, session, ReasonDeAuthorized)
}

// stopFor stops session, if it runs, with reason as its StopTransaction's reason; it reports
// whether it asked the gateway to stop.
func (cp *ChargePoint) stopFor(ctx context.Context, session, reason string) bool {
	cp.mu.Lock()
	running := session != "" && cp.current == session
	if running {
		cp.stopReasons[session] = reason
	}
	cp.mu.Unlock()
	if !running {
		return false
	}
	cp.bg.Go(func() {
		if err := cp.sessions.Stop(context.WithoutCancel(ctx), session); err != nil {
			cp.log.Error("stop session", "session", session, "reason", reason, "err", err)
		}
	})
	return true
}
