package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// ServeTCP serves the bus as Modbus TCP (MBAP framing) on ln until ctx ends. Each
// connection is served by its own goroutine; requests on one connection are answered in
// order, like a real device.
func (b *Bus) ServeTCP(ctx context.Context, ln net.Listener) error {
	return b.serveListener(ctx, ln, func(ctx context.Context, c net.Conn) { b.serveMBAP(ctx, c) })
}

// ServeRTUOverTCP serves the bus as RTU frames carried over TCP (what simonvetter/modbus
// calls rtuovertcp://): byte-exact RTU framing, CRC included.
func (b *Bus) ServeRTUOverTCP(ctx context.Context, ln net.Listener) error {
	return b.serveListener(ctx, ln, func(ctx context.Context, c net.Conn) {
		_ = b.serveRTU(ctx, c, 0, 0)
	})
}

// serveListener accepts connections until ctx ends and serves each on its own goroutine.
// A failing Accept (out of file descriptors, say) is retried with backoff/v5's exponential
// backoff rather than ending the simulator.
func (b *Bus) serveListener(ctx context.Context, ln net.Listener, serve func(context.Context, net.Conn)) error {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
	}()
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	retry := &backoff.ExponentialBackOff{InitialInterval: 5 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: time.Second}
	for {
		c, err := backoff.Retry(ctx, func() (net.Conn, error) {
			c, err := ln.Accept()
			if err != nil && (ctx.Err() != nil || errors.Is(err, net.ErrClosed)) {
				return nil, backoff.Permanent(err)
			}
			if err != nil {
				b.sim.log.Warn("accept failed, retrying", "err", err)
			}
			return c, err
		}, backoff.WithBackOff(retry), backoff.WithMaxElapsedTime(0))
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		b.track(c, true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer b.track(c, false)
			stop := context.AfterFunc(ctx, func() { _ = c.Close() })
			defer stop()
			defer c.Close()
			serve(ctx, c)
		}()
	}
}

// track adds or removes a served connection.
func (b *Bus) track(c net.Conn, open bool) {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	if b.conns == nil {
		b.conns = map[net.Conn]struct{}{}
	}
	if open {
		b.conns[c] = struct{}{}
	} else {
		delete(b.conns, c)
	}
}

// dropConns closes every TCP connection the bus serves, as a rebooting meter or a broken
// link would; clients connect again.
func (b *Bus) dropConns() {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	for c := range b.conns {
		_ = c.Close()
	}
}

func (b *Bus) serveMBAP(ctx context.Context, c net.Conn) {
	hdr := make([]byte, 7)
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[4:]))
		if n < 2 || n > 254 || binary.BigEndian.Uint16(hdr[2:]) != 0 {
			return // not Modbus TCP: drop the connection as devices do
		}
		pdu := make([]byte, n-1)
		if _, err := io.ReadFull(c, pdu); err != nil {
			return
		}
		r := b.handle(hdr[6], pdu)
		if r.drop {
			return // the connection closes without a reply
		}
		if r.pdu == nil {
			continue
		}
		if !wait(ctx, r.delay) {
			return
		}
		out := make([]byte, 7, 7+len(r.pdu))
		copy(out, hdr[:4])
		binary.BigEndian.PutUint16(out[4:], uint16(len(r.pdu)+1))
		out[6] = r.unit
		pdu = append([]byte(nil), r.pdu...)
		if r.badCRC && len(pdu) > 1 {
			pdu[1] ^= 0x5A // no CRC on TCP: corrupt the byte count instead
		}
		out = append(out, pdu...)
		if r.truncate {
			_, _ = c.Write(out[:len(out)/2])
			return // half a frame, then the connection drops
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// wait sleeps d unless ctx ends first.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
