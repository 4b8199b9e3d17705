package ocpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// OCPP-J message types (OCPP-J 1.6 §4.1).
const (
	msgCall       = 2
	msgCallResult = 3
	msgCallError  = 4
)

// CallError is a CALLERROR received from the CSMS (OCPP-J 1.6 §4.2.3).
type CallError struct {
	Code        string
	Description string
	Details     json.RawMessage
}

func (e *CallError) Error() string { return "CSMS answered " + e.Code + ": " + e.Description }

// errClosed: the connection went away before the answer came.
var errClosed = errors.New("connection closed")

// handlerFunc answers one call from the CSMS: the result payload, or a CallError; after, when
// not nil, runs once the result has been written (TriggerMessage: the answer goes first).
type handlerFunc func(ctx context.Context, action string, payload json.RawMessage) (res any, after func(), cerr *CallError)

// rpcConn is one OCPP-J WebSocket connection: it frames calls, matches results to them by
// message id and hands calls from the CSMS to a handler. At most one call of ours is
// outstanding at a time (OCPP-J 1.6 §4.1.1), which callMu enforces.
type rpcConn struct {
	ws      *websocket.Conn
	handler handlerFunc
	timeout time.Duration

	writeMu sync.Mutex
	callMu  sync.Mutex
	seq     atomic.Uint64

	mu      sync.Mutex
	pending map[string]chan frame
	done    chan struct{}
	err     error
}

type frame struct {
	typ     int
	id      string
	action  string
	payload json.RawMessage
	cerr    *CallError
}

func newRPCConn(ws *websocket.Conn, timeout time.Duration, h handlerFunc) *rpcConn {
	return &rpcConn{ws: ws, handler: h, timeout: timeout, pending: map[string]chan frame{}, done: make(chan struct{})}
}

// call sends action with req under id (empty: a fresh one) and decodes the answer into resp.
func (c *rpcConn) call(ctx context.Context, id, action string, req, resp any) error {
	c.callMu.Lock()
	defer c.callMu.Unlock()
	if id == "" {
		id = strconv.FormatUint(c.seq.Add(1), 10)
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode %s: %w", action, err)
	}
	ch := make(chan frame, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() { c.mu.Lock(); delete(c.pending, id); c.mu.Unlock() }()
	msg, _ := json.Marshal([]any{msgCall, id, action, json.RawMessage(payload)})
	if err := c.write(msg); err != nil {
		return fmt.Errorf("send %s: %w", action, err)
	}
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case f := <-ch:
		if f.cerr != nil {
			return f.cerr
		}
		if resp != nil {
			if err := json.Unmarshal(f.payload, resp); err != nil {
				return fmt.Errorf("decode %s answer: %w", action, err)
			}
		}
		return nil
	case <-t.C:
		// A lost answer leaves the connection in an unknown state; drop it and start over.
		c.close(fmt.Errorf("%s: no answer within %s", action, c.timeout))
		return fmt.Errorf("%s: no answer within %s: %w", action, c.timeout, errClosed)
	case <-c.done:
		return fmt.Errorf("%s: %w", action, c.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *rpcConn) write(msg []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, msg)
}

func (c *rpcConn) close(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("%w: %v", errClosed, err)
		close(c.done)
	}
	c.mu.Unlock()
	c.ws.Close()
}

// readLoop reads frames until the connection fails; calls from the CSMS run in their own
// goroutines so that a handler may itself call the CSMS (RemoteStart → Authorize).
func (c *rpcConn) readLoop(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.close(err)
			return c.err
		}
		f, err := parseFrame(data)
		if err != nil {
			// RpcFrameworkError / FormationViolation: answer when the id could be read.
			if f.id != "" {
				c.replyError(f.id, &CallError{Code: "FormationViolation", Description: err.Error()})
			}
			continue
		}
		switch f.typ {
		case msgCall:
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, after, cerr := c.handler(ctx, f.action, f.payload)
				if cerr != nil {
					c.replyError(f.id, cerr)
					return
				}
				b, err := json.Marshal(res)
				if err != nil {
					c.replyError(f.id, &CallError{Code: "InternalError", Description: "encode answer"})
					return
				}
				msg, _ := json.Marshal([]any{msgCallResult, f.id, json.RawMessage(b)})
				if c.write(msg) == nil && after != nil {
					after()
				}
			}()
		default:
			c.mu.Lock()
			ch := c.pending[f.id]
			c.mu.Unlock()
			if ch != nil {
				select {
				case ch <- f:
				default:
				}
			}
		}
	}
}

func (c *rpcConn) replyError(id string, e *CallError) {
	msg, _ := json.Marshal([]any{msgCallError, id, e.Code, e.Description, json.RawMessage("{}")})
	c.write(msg)
}

// parseFrame decodes one OCPP-J frame; the id is returned even when the rest is malformed.
func parseFrame(data []byte) (frame, error) {
	var f frame
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil || len(parts) < 3 {
		return f, fmt.Errorf("not an OCPP-J frame")
	}
	if err := json.Unmarshal(parts[0], &f.typ); err != nil {
		return f, fmt.Errorf("message type: %w", err)
	}
	if err := json.Unmarshal(parts[1], &f.id); err != nil {
		return f, fmt.Errorf("message id: %w", err)
	}
	switch f.typ {
	case msgCall:
		if len(parts) != 4 {
			return f, fmt.Errorf("CALL has %d elements, want 4", len(parts))
		}
		if err := json.Unmarshal(parts[2], &f.action); err != nil {
			return f, fmt.Errorf("action: %w", err)
		}
		f.payload = parts[3]
	case msgCallResult:
		f.payload = parts[2]
	case msgCallError:
		if len(parts) < 4 {
			return f, fmt.Errorf("CALLERROR has %d elements", len(parts))
		}
		e := &CallError{}
		json.Unmarshal(parts[2], &e.Code)
		json.Unmarshal(parts[3], &e.Description)
		if len(parts) > 4 {
			e.Details = parts[4]
		}
		f.cerr = e
	default:
		return f, fmt.Errorf("message type %d", f.typ)
	}
	return f, nil
}
