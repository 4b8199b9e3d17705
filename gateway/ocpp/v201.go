package ocpp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chargegate/chargegate/gateway"
)

// Subprotocol201 is the WebSocket subprotocol of OCPP-J 2.0.1.
const Subprotocol201 = "ocpp2.0.1"

// TransactionEvent eventType values and the outbox action of the 2.0.1 face.
const (
	eventStarted           = "Started"
	eventUpdated           = "Updated"
	eventEnded             = "Ended"
	actionTransactionEvent = "TransactionEvent"
	evseOne                = 1
)

// ChargePoint201 is the OCPP 2.0.1 face of the charge point: one EVSE with one connector. It
// shares the core with the 1.6 face (ChargePoint): the OCPP-J framing (rpc.go), the dial
// with credentials and TLS (security profiles 1–3), the SQLite queue (outbox, session ↔
// transaction, configuration, security events), the connector-status derivation
// (mapping.go) and Sessions; what is 2.0.1-specific is in the v201*.go files.
type ChargePoint201 struct {
	base     *ChargePoint // the shared core: validated Config, dial and TLS, security events
	cfg      Config
	q        *Queue
	sessions Sessions
	log      *slog.Logger
	bg       sync.WaitGroup

	mu          sync.Mutex
	vals        map[string]string // device-model values by dmVar.key
	status      string            // ConnectorStatusEnumType of EVSE 1 connector 1
	statusSent  string            // the latest one the CSMS got on this connection
	current     string            // the running transaction (= chargegate session id)
	currentTok  string
	beginMWh    int64
	lastSample  time.Time
	sighted     string
	tokens      map[string]string // session → idToken, from a start the face ran
	remoteIDs   map[string]int    // idToken → remoteStartId of a RequestStartTransaction
	remoteStart map[string]int    // session → remoteStartId
	stopReasons map[string][2]string
	bootReason  string
	conn        *rpcConn // accepted by the CSMS; nil otherwise
	last        gateway.Status
	haveStatus  bool
	triggered   []string // TriggerMessage requests answered, to send

	// Sampled and clock-aligned data (v201_sampled.go).
	lastTel          gateway.Telemetry // the latest telemetry sample
	haveTel          bool
	lastAligned      time.Time              // the last AlignedDataCtrlr.Interval boundary handled
	lastEnded        time.Time              // the last SampledDataCtrlr.TxEndedInterval sample kept
	lastEndedAligned time.Time              // the last AlignedDataCtrlr.TxEndedInterval boundary kept
	endedValues      []meterValue201        // the running transaction's values for its Ended event
	idleMeter        []meterValue201        // clock-aligned values while idle, for MeterValues
	pendingStart     string                 // the idToken of a RequestStartTransaction not started yet
	resUpdates       []reservationUpdate201 // ReservationStatusUpdates to send (v201_reservation.go)
}

// New201 validates cfg as New does and prepares the 2.0.1 face; its device model starts from
// cfg and what the CSMS set before (ocpp.db). Nothing connects until Run.
// New with Config.Version "2.0.1" builds the same face behind a ChargePoint, which is how the
// appliance uses it.
func New201(cfg Config, q *Queue, sessions Sessions) (*ChargePoint201, error) {
	cfg.Version = Version201
	base, err := New(cfg, q, sessions)
	if err != nil {
		return nil, err
	}
	return base.face201, nil
}

func newFace201(base *ChargePoint) (*ChargePoint201, error) {
	vals, err := loadDeviceModel(context.Background(), base.cfg, base.q)
	if err != nil {
		return nil, err
	}
	return &ChargePoint201{base: base, cfg: base.cfg, q: base.q, sessions: base.sessions, log: base.log,
		vals: vals, tokens: map[string]string{}, remoteIDs: map[string]int{}, remoteStart: map[string]int{},
		stopReasons: map[string][2]string{}, bootReason: bootReason(base)}, nil
}

// bootReason is RemoteReset after a Reset the CSMS asked for (persisted before the restart),
// FirmwareUpdate after the restart of an update the CSMS asked for (the persisted firmware
// job, see firmwareRebooted), else PowerUp.
func bootReason(base *ChargePoint) string {
	vals, err := base.q.configValues(context.Background())
	switch {
	case err == nil && vals[bootReasonKey] != "":
		return vals[bootReasonKey]
	case base.firmwareRebooted():
		return "FirmwareUpdate"
	}
	return "PowerUp"
}

// tagSession remembers the idToken a session was started with on another link (Commander).
func (cp *ChargePoint201) tagSession(session, idToken string) {
	if idToken == "" || len(idToken) > 36 {
		return
	}
	cp.mu.Lock()
	cp.tokens[session] = idToken
	cp.mu.Unlock()
}

// Online reports whether the CSMS accepted the charge point on the current connection.
func (cp *ChargePoint201) Online() bool { return cp.base.online.Load() }

// poke wakes the core's connection loop to send what is due.
func (cp *ChargePoint201) poke() { cp.base.poke() }

// value returns a device-model value by component, variable and instance.
func (cp *ChargePoint201) value(component, variable, instance string) string {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.vals[dmKey(component, variable, instance)]
}

func (cp *ChargePoint201) seconds(component, variable, instance string) time.Duration {
	n, _ := strconv.Atoi(cp.value(component, variable, instance))
	return time.Duration(n) * time.Second
}

// Run connects to the CSMS and keeps the connection, reconnecting with backoff, until ctx ends.
func (cp *ChargePoint201) Run(ctx context.Context) error {
	defer cp.bg.Wait()
	defer cp.base.operative()
	defer cp.base.runReservations()()                      // the reservation's expiry timer
	if err := cp.base.applyAvailability(ctx); err != nil { // Inoperative persisted
		cp.log.Warn("hold sessions for Inoperative", "err", err)
	}
	cp.refreshStatus()
	return cp.base.run(ctx, cp)
}

// The 2.0.1 face of the core's connection (link.go).

func (cp *ChargePoint201) subprotocol() string { return Subprotocol201 }

func (cp *ChargePoint201) heartbeatInterval() time.Duration {
	return cp.seconds(compOCPPComm, "HeartbeatInterval", "")
}

func (cp *ChargePoint201) attach(conn *rpcConn) {
	cp.mu.Lock()
	cp.statusSent, cp.conn = "", conn
	cp.mu.Unlock()
}

func (cp *ChargePoint201) flush(ctx context.Context, conn *rpcConn) error {
	for _, send := range []func(context.Context, *rpcConn) error{
		cp.sendStatus, cp.sendTriggered, cp.sendReservationUpdates, cp.sendIdleMeterValues,
	} {
		if err := send(ctx, conn); err != nil {
			return err
		}
	}
	return nil
}

// boot sends BootNotification until Accepted (OCPP 2.0.1 B01–B03); Pending and Rejected wait
// the interval the CSMS gave (or BootRetry).
func (cp *ChargePoint201) boot(ctx context.Context, conn *rpcConn) error {
	for {
		cp.mu.Lock()
		req := bootNotification201Req{Reason: cp.bootReason, ChargingStation: chargingStationType{
			Model: cp.cfg.Model, VendorName: cp.cfg.Vendor, SerialNumber: cp.cfg.SerialNumber, FirmwareVersion: cp.cfg.FirmwareVersion}}
		cp.mu.Unlock()
		var conf bootNotification201Conf
		if err := conn.call(ctx, "", "BootNotification", req, &conf); err != nil {
			return fmt.Errorf("boot notification: %w", err)
		}
		interval := time.Duration(conf.Interval) * time.Second
		if conf.Status == "Accepted" {
			if conf.Interval > 0 {
				cp.mu.Lock()
				cp.vals[dmKey(compOCPPComm, "HeartbeatInterval", "")] = strconv.Itoa(conf.Interval)
				cp.mu.Unlock()
			}
			cp.log.Debug("boot notification accepted", "reason", req.Reason)
			if req.Reason != "PowerUp" && req.Reason != "Triggered" {
				if err := cp.q.setConfig(ctx, bootReasonKey, ""); err != nil {
					return err
				}
			}
			cp.mu.Lock()
			cp.bootReason = "PowerUp" // a later reconnect or trigger is not a reset
			cp.mu.Unlock()
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

func dmKey(component, variable, instance string) string {
	return dmVar{component: component, variable: variable, instance: instance}.key()
}

// sendStatus sends EVSE 1 connector 1's status when it differs from the one sent on this
// connection (so every connection starts with it).
func (cp *ChargePoint201) sendStatus(ctx context.Context, conn *rpcConn) error {
	cp.mu.Lock()
	st, sent := cp.status, cp.statusSent
	cp.mu.Unlock()
	if st == "" || st == sent {
		return nil
	}
	req := statusNotification201Req{Timestamp: Time{time.Now()}, ConnectorStatus: st, EVSEID: evseOne, ConnectorID: 1}
	if err := conn.call(ctx, "", "StatusNotification", req, nil); err != nil {
		return fmt.Errorf("status notification: %w", err)
	}
	cp.mu.Lock()
	cp.statusSent = st
	cp.mu.Unlock()
	return nil
}

// drain sends the queued TransactionEvents in order, each under the message id "tx<row>".
// A CALLERROR counts as an attempt; after OCPPCommCtrlr.MessageAttempts[TransactionEvent]
// the event is given up, before that it is retried MessageAttemptInterval × attempts later
// (OCPP 2.0.1 E13); a lost connection leaves it at the head for the next connection.
func (cp *ChargePoint201) drain(ctx context.Context, conn *rpcConn) error {
	for {
		m, ok, err := cp.q.next(ctx)
		if err != nil || !ok {
			return err
		}
		if m.Action == actionData {
			// DataTransfer (a session's receipt) has the same request in 2.0.1 (P01); any
			// answer ends it, as on 1.6.
			if err := conn.call(ctx, "tx"+strconv.FormatInt(m.ID, 10), "DataTransfer", json.RawMessage(m.Payload), nil); err != nil {
				var cerr *CallError
				if !errors.As(err, &cerr) {
					return err
				}
			}
			if err := cp.q.remove(ctx, m.ID); err != nil {
				return err
			}
			continue
		}
		if m.Action != actionTransactionEvent {
			// A 1.6 message left from before the configuration chose 2.0.1: it has no
			// 2.0.1 form (the 1.6 face would need its transactionId).
			cp.log.Error("a queued OCPP 1.6 message cannot be sent over 2.0.1; dropped", "action", m.Action, "session", m.Session)
			if err := cp.q.remove(ctx, m.ID); err != nil {
				return err
			}
			continue
		}
		var conf transactionEventConf
		err = conn.call(ctx, "tx"+strconv.FormatInt(m.ID, 10), m.Action, json.RawMessage(m.Payload), &conf)
		var cerr *CallError
		if err == nil {
			if err := cp.q.remove(ctx, m.ID); err != nil {
				return err
			}
			if conf.IDTokenInfo != nil {
				if _, _, tok, err := cp.q.known(ctx, m.Session); err == nil {
					cp.base.rememberIf(ctx, cp.authRules().cache, tok, conf.IDTokenInfo.tagInfo())
				}
			}
			if conf.IDTokenInfo != nil && conf.IDTokenInfo.Status != "Accepted" && cp.value(compTx, "StopTxOnInvalidId", "") == "true" {
				cp.deauthorize(m.Session)
			}
			continue
		}
		if !errors.As(err, &cerr) {
			return err
		}
		n, aerr := cp.q.attempt(ctx, m.ID)
		if aerr != nil {
			return aerr
		}
		limit, _ := strconv.Atoi(cp.value(compOCPPComm, "MessageAttempts", instTxEvent))
		cp.log.Warn("CSMS refused a TransactionEvent", "session", m.Session, "attempt", n, "err", err)
		if n >= max(limit, 1) {
			if err := cp.q.remove(ctx, m.ID); err != nil {
				return err
			}
			cp.log.Error("gave up a TransactionEvent", "session", m.Session)
			continue
		}
		t := time.NewTimer(cp.seconds(compOCPPComm, "MessageAttemptInterval", instTxEvent) * time.Duration(n))
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

// deauthorize stops a transaction whose idToken the CSMS refused (TxCtrlr.StopTxOnInvalidId).
func (cp *ChargePoint201) deauthorize(session string) {
	cp.stopFor(session, [2]string{"Deauthorized", "DeAuthorized"})
}

// stopFor stops session, if it runs, with the given trigger and stopped reason.
func (cp *ChargePoint201) stopFor(session string, reason [2]string) bool {
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
		if err := cp.sessions.Stop(context.Background(), session); err != nil {
			cp.log.Error("stop session", "session", session, "err", err)
		}
	})
	return true
}

// Authorize decides whether idToken may charge and returns its AuthorizationStatus, by the
// core's rules (decide) over the device model's AuthCtrlr, AuthCacheCtrlr and
// LocalAuthListCtrlr: the CSMS's Authorize (idToken typed by token201) when connected, else
// the local list and cache; ErrOffline when nothing decides.
func (cp *ChargePoint201) Authorize(ctx context.Context, idToken string) (string, error) {
	info, err := cp.authorize(ctx, token201(idToken))
	return info.Status, err
}

// authorize decides for an idToken of a known type (Authorize, AuthorizeRemoteStart).
func (cp *ChargePoint201) authorize(ctx context.Context, tok idTokenType) (idTagInfo, error) {
	cp.mu.Lock()
	conn := cp.conn
	cp.mu.Unlock()
	return cp.base.decide(ctx, tok.IDToken, cp.authRules(), conn != nil, func(ctx context.Context) (idTagInfo, error) {
		return authorize201(ctx, conn, tok)
	})
}

// authorize201 asks the CSMS with OCPP 2.0.1's Authorize; the answer in the core's terms.
func authorize201(ctx context.Context, conn *rpcConn, tok idTokenType) (idTagInfo, error) {
	var conf struct {
		IDTokenInfo idTokenInfoType `json:"idTokenInfo"`
	}
	err := conn.call(ctx, "", "Authorize", struct {
		IDToken idTokenType `json:"idToken"`
	}{tok}, &conf)
	return conf.IDTokenInfo.tagInfo(), err
}

// authRules reads the local-authorization switches from the device model.
func (cp *ChargePoint201) authRules() authRules {
	on := func(c, v string) bool { return cp.value(c, v, "") == "true" }
	return authRules{list: on(compLocalList, "Enabled"), cache: on(compAuthCache, "Enabled"),
		preAuthorize: on(compAuth, "LocalPreAuthorize"), offlineLocal: on(compAuth, "LocalAuthorizeOffline"),
		offlineUnknown: on(compAuth, "OfflineTxForUnknownIdEnabled"), maxLen: 36,
		cacheLifetime: cp.seconds(compAuthCache, "LifeTime", "")}
}

// token201 types an idToken: hex of 8 or 14 digits is a card UID (ISO14443), else Central.
func token201(tok string) idTokenType {
	if n := len(tok); (n == 8 || n == 14 || n == 20) && strings.Trim(strings.ToUpper(tok), "0123456789ABCDEF") == "" {
		return idTokenType{IDToken: tok, Type: "ISO14443"}
	}
	return idTokenType{IDToken: tok, Type: "Central"}
}

// signedValue201 wraps an OCMF record as OCPP 2.0.1 SignedMeterValueType, or nil when it does
// not fit the 2,500-character limit. publicKey follows PublicKeyWithSignedMeterValue: empty
// for Never, and for OncePerTransaction after the transaction's first signed value.
func (cp *ChargePoint201) signedValue201(record string, first bool) *signedMeterValue {
	data := base64.StdEncoding.EncodeToString([]byte(record))
	if record == "" || len(data) > maxSignedData {
		if record != "" {
			cp.log.Error("OCMF record too long for signedMeterData", "chars", len(data))
		}
		return nil
	}
	key := ""
	switch cp.value(compOCPPComm, varPublicKeyWith, "") {
	case "EveryMeterValue":
		key = publicKey201(cp.cfg.MeterPublicKey)
	case "OncePerTransaction":
		if first {
			key = publicKey201(cp.cfg.MeterPublicKey)
		}
	}
	if len(key) > maxSignedData {
		key = ""
	}
	return &signedMeterValue{SignedMeterData: data, SigningMethod: signingMethod(record), EncodingMethod: "OCMF", PublicKey: key}
}

var _ gateway.Notifier = (*ChargePoint201)(nil)
