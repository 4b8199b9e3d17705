package ocpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"
)

// The connection the core keeps to the CSMS, for either protocol face: dial with the
// configured credentials and TLS (connect), BootNotification until Accepted, then one loop
// that sends whatever is due whenever something wakes it — the face's statuses and triggered
// messages, the core's security events, the face's queued transaction messages, the core's
// firmware and upload statuses — and heartbeats. Both faces run this loop; what differs between
// OCPP 1.6 and 2.0.1 is behind face.

// face is what one protocol face adds to the core's connection: ChargePoint itself for
// OCPP 1.6, ChargePoint201 for 2.0.1.
type face interface {
	// subprotocol is the WebSocket subprotocol the face speaks.
	subprotocol() string
	// handle answers one call from the CSMS; after, when not nil, runs once the answer is sent.
	handle(ctx context.Context, action string, payload json.RawMessage) (res any, after func(), cerr *CallError)
	// boot sends BootNotification until the CSMS accepts.
	boot(ctx context.Context, conn *rpcConn) error
	// heartbeatInterval is the interval in force; the CSMS may change it at any time.
	heartbeatInterval() time.Duration
	// attach is called with the accepted connection, and with nil once it is lost.
	attach(conn *rpcConn)
	// flush sends the face's statuses and triggered messages that are due.
	flush(ctx context.Context, conn *rpcConn) error
	// drain sends the face's queued transaction messages, in order.
	drain(ctx context.Context, conn *rpcConn) error
}

// run keeps f's connection until ctx ends, dialling again with backoff whenever it is lost.
func (cp *ChargePoint) run(ctx context.Context, f face) error {
	// Each second: the charging limit (schedules change it on whole seconds) and the firmware
	// job, in goroutines of their own as the firmware tick may fetch a bundle's manifest.
	for _, tick := range []func(){cp.applyLimit, func() { cp.firmwareTick(ctx) }} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				tick()
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
		defer func() { <-done }()
	}
	for ctx.Err() == nil {
		ws, err := cp.connect(ctx, f.subprotocol())
		if err != nil {
			return nil // only ctx ends the retries
		}
		err = cp.serve(ctx, ws, f)
		cp.online.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		cp.log.Warn("CSMS connection lost", "err", err)
	}
	return nil
}

// serve runs one connection of face f: boot, then whatever is due each time the core is
// woken (poke), and heartbeats.
func (cp *ChargePoint) serve(ctx context.Context, ws *websocket.Conn, f face) error {
	conn := newRPCConn(ws, cp.cfg.CallTimeout, f.handle)
	readDone := make(chan error, 1)
	go func() { readDone <- conn.readLoop(ctx) }()
	defer func() {
		conn.close(errors.New("charge point closed the connection"))
		<-readDone
	}()
	stop := context.AfterFunc(ctx, func() { conn.close(ctx.Err()) })
	defer stop()

	if err := f.boot(ctx, conn); err != nil {
		return err
	}
	heartbeat := max(f.heartbeatInterval(), time.Second)
	cp.online.Store(true)
	cp.log.Info("CSMS accepted the charge point", "protocol", f.subprotocol(), "heartbeat", heartbeat)
	f.attach(conn)
	defer f.attach(nil)
	cp.mu.Lock()
	cp.renewChecked = time.Time{} // a new connection may present a new certificate: look at once
	cp.mu.Unlock()
	hb := time.NewTicker(heartbeat)
	defer hb.Stop()
	for {
		if d := max(f.heartbeatInterval(), time.Second); d != heartbeat { // changed by the CSMS: applies at once
			heartbeat = d
			hb.Reset(d)
		}
		// Queued transaction messages before firmware statuses: a session's end is reported
		// before the installation that waited for it.
		for _, send := range []func(context.Context, *rpcConn) error{
			f.flush, cp.sendSecurityEvents, f.drain, cp.sendFirmwareStatus, cp.sendDiagnosticsStatus, cp.renewClientCert,
		} {
			if err := send(ctx, conn); err != nil {
				return err
			}
		}
		select {
		case <-cp.wake:
		case <-hb.C:
			if err := conn.call(ctx, "", "Heartbeat", struct{}{}, &heartbeatConf{}); err != nil {
				return fmt.Errorf("heartbeat: %w", err)
			}
		case <-conn.done:
			return conn.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
