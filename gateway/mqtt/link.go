package mqtt

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/chargegate/chargegate/ledger"
)

// Sink is the name under which the link acknowledges delivered entries in the store.
const Sink = ledger.SinkMQTT

// Outbox is the store's side of reading delivery: the entries after the sink's cursor, and moving
// that cursor once the broker acknowledged them. The store is the source of truth; the MQTT
// client's own store never holds data.
type Outbox interface {
	Pending(ctx context.Context, sink string, max int) ([]ledger.Entry, error)
	Ack(ctx context.Context, sink string, through uint64) error
}

// CommandFunc executes one command. It returns the result to put in the reply or an error, whose
// text is sent back; code classifies the error for the operator (one of Codes; empty means
// CodeFailed).
type CommandFunc func(ctx context.Context, name string, payload []byte) (result any, code string, err error)

// Config holds the plain values the link needs.
type Config struct {
	Broker      string // tcp://, ssl://, tls://, ws://, wss://
	ClientID    string
	TopicPrefix string // topics live under {TopicPrefix}/{Device}/
	Device      string
	TLS         *tls.Config // nil for plain TCP
	Username    string
	Password    string // never logged
	InFlight    int    // readings published before waiting for their PUBACKs
	KeepAlive   time.Duration
	AckTimeout  time.Duration // how long to wait for a PUBACK before resending from the cursor
	Poll        time.Duration // how often to look for new entries when the outbox is empty
	// RetryMin and RetryMax bound the exponential backoff after a failed first connection or
	// delivery (defaults 1 s and 30 s); each delay is drawn from ±50 % of its nominal value.
	RetryMin time.Duration
	RetryMax time.Duration
	Logger   *slog.Logger
}

// Link is the operator link. Construct with New, run with Run.
type Link struct {
	cfg     Config
	outbox  Outbox
	command CommandFunc
	log     *slog.Logger
	client  paho.Client
	base    string

	connected chan struct{} // closed and replaced on every connection
	connMu    sync.Mutex

	live      chan livePub // telemetry and other best-effort messages, newest wins when full
	delivered atomic.Uint64
	lastAck   atomic.Uint64
	online    atomic.Bool
}

type livePub struct {
	topic    string
	payload  []byte
	qos      byte
	retained bool
}

// New validates cfg and prepares the client; nothing connects until Run.
func New(cfg Config, outbox Outbox, command CommandFunc) (*Link, error) {
	if cfg.Broker == "" || cfg.Device == "" || cfg.TopicPrefix == "" {
		return nil, errors.New("mqtt: broker, device and topic prefix are required")
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = 64
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 30 * time.Second
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 20 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(30*time.Second, cfg.RetryMin)
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "chargegate-" + cfg.Device
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Link{
		cfg: cfg, outbox: outbox, command: command, log: cfg.Logger,
		base:      cfg.TopicPrefix + "/" + cfg.Device + "/",
		connected: make(chan struct{}),
		live:      make(chan livePub, 64),
	}
	offline, _ := json.Marshal(Presence{Device: cfg.Device, State: StateOffline})
	opts := paho.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.ClientID).
		SetCleanSession(true). // the outbox resends; the broker keeps no session state for us
		SetKeepAlive(cfg.KeepAlive).
		SetConnectTimeout(10*time.Second).
		SetWriteTimeout(10*time.Second).
		SetAutoReconnect(true). // after the first connection; Run retries the first one itself
		SetMaxReconnectInterval(30*time.Second).
		SetOrderMatters(false). // command handlers run in their own goroutines
		SetMessageChannelDepth(16).
		SetWill(l.base+"status", string(offline), 1, true).
		SetOnConnectHandler(l.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			l.online.Store(false)
			l.log.Warn("mqtt connection lost", "err", err)
		})
	if cfg.TLS != nil {
		opts.SetTLSConfig(cfg.TLS)
	}
	if cfg.Username != "" {
		opts.SetUsername(cfg.Username).SetPassword(cfg.Password)
	}
	l.client = paho.NewClient(opts)
	return l, nil
}

// Topic returns the full topic for a suffix such as "readings" or "cmd/start/reply".
func (l *Link) Topic(suffix string) string { return l.base + suffix }

// Online reports whether the broker connection is up.
func (l *Link) Online() bool { return l.online.Load() }

// Delivered returns how many readings the broker acknowledged since start, and the highest
// acknowledged sequence number.
func (l *Link) Delivered() (count, through uint64) { return l.delivered.Load(), l.lastAck.Load() }

// onConnect runs in a goroutine of its own (paho) on every connection: it subscribes to the
// commands and only once the broker granted that announces "online", so that a command an
// operator sends on seeing the presence is never published before the subscription exists.
func (l *Link) onConnect(c paho.Client) {
	l.log.Info("mqtt connected", "broker", l.cfg.Broker)
	// Clean sessions forget subscriptions: subscribe on every connection.
	sub := c.Subscribe(l.base+"cmd/+", 1, l.onCommand)
	switch {
	case !sub.WaitTimeout(l.cfg.AckTimeout):
		// The connection is lost or the broker is stuck; the next connection subscribes again.
		l.log.Warn("mqtt subscribe to commands: no SUBACK in time")
	case sub.Error() != nil:
		l.log.Warn("mqtt subscribe to commands", "err", sub.Error())
	default:
		if st, ok := sub.(*paho.SubscribeToken); ok && st.Result()[l.base+"cmd/+"] == 0x80 {
			l.log.Error("mqtt subscribe to commands: the broker refused it (an ACL?): commands will not arrive")
		}
	}
	status, _ := json.Marshal(Presence{Device: l.cfg.Device, State: StateOnline})
	c.Publish(l.base+"status", 1, true, status)
	l.online.Store(true)
	l.connMu.Lock()
	close(l.connected)
	l.connected = make(chan struct{})
	l.connMu.Unlock()
}

// Run connects, delivers the outbox and live messages and answers commands until ctx is done;
// then it publishes the offline status and disconnects.
func (l *Link) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.connect(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.runLive(ctx)
	}()
	err := l.runOutbox(ctx)
	wg.Wait()
	if l.client.IsConnectionOpen() {
		offline, _ := json.Marshal(Presence{Device: l.cfg.Device, State: StateOffline})
		l.client.Publish(l.base+"status", 1, true, offline).WaitTimeout(2 * time.Second)
	}
	l.client.Disconnect(500)
	l.online.Store(false)
	return err
}

// connect makes the first connection, retrying with backoff and saying why each attempt failed
// (an expired certificate or a refused client is something the installer must see).
func (l *Link) connect(ctx context.Context) {
	_, _ = backoff.Retry(ctx, func() (struct{}, error) {
		tok := l.client.Connect()
		select {
		case <-ctx.Done():
			return struct{}{}, backoff.Permanent(ctx.Err())
		case <-tok.Done():
		}
		return struct{}{}, tok.Error()
	},
		backoff.WithBackOff(l.newBackOff()),
		backoff.WithMaxElapsedTime(0), // an appliance never gives up on its operator
		backoff.WithNotify(func(err error, next time.Duration) {
			l.log.Warn("mqtt connection failed", "broker", l.cfg.Broker, "err", err, "retry_in", next)
		}))
}

// newBackOff is the link's one retry policy: RetryMin doubling to RetryMax, each delay drawn
// from ±50 % of its nominal value so that a fleet does not retry in step.
func (l *Link) newBackOff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval: l.cfg.RetryMin, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: l.cfg.RetryMax,
	}
	b.Reset()
	return b
}

func (l *Link) waitConnected(ctx context.Context) error {
	for !l.client.IsConnectionOpen() {
		l.connMu.Lock()
		ch := l.connected
		l.connMu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-time.After(time.Second):
		}
	}
	return nil
}

// runOutbox publishes the entries after the stored cursor at QoS 1, InFlight at a time, and moves
// the cursor only through entries whose PUBACK arrived. Anything unacknowledged is sent again
// from the cursor: receivers may see duplicates, never gaps.
func (l *Link) runOutbox(ctx context.Context) error {
	retry := l.newBackOff()
	for {
		if err := l.waitConnected(ctx); err != nil {
			return nil
		}
		n, err := l.deliverBatch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			d := retry.NextBackOff()
			l.log.Warn("deliver readings", "err", err, "retry_in", d)
			if !sleepCtx(ctx, d) {
				return nil
			}
			continue
		}
		retry.Reset()
		if n == 0 && !sleepCtx(ctx, l.cfg.Poll) {
			return nil
		}
	}
}

func (l *Link) deliverBatch(ctx context.Context) (int, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	entries, err := l.outbox.Pending(qctx, Sink, l.cfg.InFlight)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	if len(entries) == 0 {
		return 0, nil
	}
	tokens := make([]paho.Token, len(entries))
	for i, e := range entries {
		payload, err := EncodeReading(e)
		if err != nil {
			return 0, fmt.Errorf("encode entry %d: %w", e.Seq, err)
		}
		tokens[i] = l.client.Publish(l.base+"readings", 1, false, payload)
	}
	var through uint64
	var delivered int
	deadline := time.Now().Add(l.cfg.AckTimeout)
	for i, t := range tokens {
		if !t.WaitTimeout(time.Until(deadline)) {
			err = fmt.Errorf("no PUBACK for entry %d within %v", entries[i].Seq, l.cfg.AckTimeout)
			break
		}
		if t.Error() != nil {
			err = fmt.Errorf("publish entry %d: %w", entries[i].Seq, t.Error())
			break
		}
		through = entries[i].Seq
		delivered++
	}
	if delivered > 0 {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		aerr := l.outbox.Ack(actx, Sink, through)
		cancel()
		if aerr != nil {
			return delivered, fmt.Errorf("ack through %d: %w", through, aerr)
		}
		l.delivered.Add(uint64(delivered))
		l.lastAck.Store(through)
	}
	return delivered, err
}

// Reading is the JSON published on the readings topic for one entry. Entry is the signed binary
// entry (base64), from which a receiver can verify everything; the other fields are for reading.
type Reading struct {
	Device      string `json:"device"`
	Seq         uint64 `json:"seq"`
	Kind        string `json:"kind"`
	Time        string `json:"time"`
	TimeStatus  string `json:"time_status"`
	SessionID   string `json:"session_id,omitempty"`
	MeterSerial string `json:"meter_serial,omitempty"`
	ImportMWh   int64  `json:"energy_import_mwh"`
	ExportMWh   int64  `json:"energy_export_mwh"`
	Event       string `json:"event,omitempty"`
	Detail      string `json:"detail,omitempty"`
	Hash        string `json:"hash"`
	Entry       string `json:"entry"`
}

// EncodeReading renders one entry for the readings topic.
func EncodeReading(e ledger.Entry) ([]byte, error) {
	bin, err := e.MarshalBinary()
	if err != nil {
		return nil, err
	}
	h := e.Hash()
	return json.Marshal(Reading{
		Device: ledger.DeviceID(e.DeviceKey), Seq: e.Seq, Kind: e.Kind.String(),
		Time: e.Time.UTC().Format(time.RFC3339Nano), TimeStatus: e.TimeStatus.String(),
		SessionID: e.SessionID, MeterSerial: e.MeterSerial, ImportMWh: e.ImportMWh, ExportMWh: e.ExportMWh,
		Event: e.Event, Detail: e.Detail, Hash: hex.EncodeToString(h[:]), Entry: base64.StdEncoding.EncodeToString(bin),
	})
}

// runLive publishes best-effort messages (telemetry, sessions, anchors) while connected.
func (l *Link) runLive(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-l.live:
			if !l.client.IsConnectionOpen() {
				continue
			}
			t := l.client.Publish(m.topic, m.qos, m.retained, m.payload)
			if m.qos > 0 && !t.WaitTimeout(l.cfg.AckTimeout) {
				l.log.Warn("no PUBACK", "topic", m.topic)
			}
		}
	}
}

// Publish queues a JSON message under the device's topics without blocking; when the queue is
// full the message is dropped and false returned. Readings never go this way.
func (l *Link) Publish(suffix string, v any, qos byte, retained bool) bool {
	b, err := json.Marshal(v)
	if err != nil {
		l.log.Error("encode message", "topic", suffix, "err", err)
		return false
	}
	select {
	case l.live <- livePub{topic: l.base + suffix, payload: b, qos: qos, retained: retained}:
		return true
	default:
		return false
	}
}

func (l *Link) onCommand(_ paho.Client, m paho.Message) {
	name := strings.TrimPrefix(m.Topic(), l.base+"cmd/")
	payload := m.Payload()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, code, err := l.command(ctx, name, payload)
	rep := Reply{RequestID: requestID(payload), OK: err == nil, Result: res, Time: time.Now().UTC()}
	if err != nil {
		if code == "" {
			code = CodeFailed
		}
		rep.Error = &ReplyError{Code: code, Message: err.Error()}
		rep.Result = nil
	}
	l.log.Info("command", "name", name, "request_id", rep.RequestID, "ok", rep.OK, "code", code)
	b, _ := json.Marshal(rep)
	// The reply topic is built from a name that matched a single-level wildcard, so it cannot
	// escape the device's subtree.
	l.client.Publish(l.base+"cmd/"+name+"/reply", 1, false, b).WaitTimeout(5 * time.Second)
}

// requestID digs the request ID out of a payload even when the rest is malformed, so that an
// error reply can still be matched by the operator.
func requestID(payload []byte) string {
	var v struct {
		RequestID string `json:"request_id"`
		Payload   string `json:"payload"` // a signed command's envelope
	}
	if json.Unmarshal(payload, &v) != nil || len(v.RequestID) > 64 {
		return ""
	}
	if v.RequestID == "" && v.Payload != "" && len(v.Payload) <= 8192 {
		if inner, err := base64.StdEncoding.DecodeString(v.Payload); err == nil {
			return requestID(inner)
		}
	}
	return v.RequestID
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
