package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Mode is what the proxy does with connections.
type Mode int

// Proxy modes.
const (
	Pass      Mode = iota // forward both ways (with the configured latency)
	Blackhole             // accept, read and discard, never answer: a network partition
	Refuse                // accept and reset at once: a closed port
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Blackhole:
		return "blackhole"
	case Refuse:
		return "refuse"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Proxy is a fault-injecting TCP proxy. Its methods are safe from any goroutine.
type Proxy struct {
	ln     net.Listener
	log    *slog.Logger
	dialer net.Dialer

	mu      sync.Mutex
	target  string
	mode    Mode
	latency time.Duration
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// Listen starts a proxy on addr (e.g. "127.0.0.1:0") forwarding to target. It serves until
// Close. logger may be nil.
func Listen(addr, target string, logger *slog.Logger) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("proxy listen: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{ln: ln, log: logger, target: target, conns: map[net.Conn]struct{}{},
		dialer: net.Dialer{Timeout: 5 * time.Second}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr returns the proxy's listening address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetMode switches what happens to new connections and, for Blackhole and Refuse, resets the
// open ones too, so that the client meets the fault on its next request.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	p.mode = m
	p.mu.Unlock()
	p.log.Info("proxy mode", "mode", m.String())
	if m != Pass {
		p.ResetAll()
	}
}

// SetLatency delays every chunk forwarded in either direction by d (0 = none).
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// SetTarget changes where new connections are forwarded (a server restarted on another port).
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

// ResetAll aborts every open connection with a TCP reset and returns how many there were.
func (p *Proxy) ResetAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		reset(c)
		n++
	}
	return n
}

// Close stops the proxy and resets every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.ResetAll()
	p.wg.Wait()
	return err
}

func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0) // close sends RST instead of FIN
	}
	c.Close()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) settings() (Mode, string, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.target, p.latency
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Error("proxy accept", "err", err)
			}
			return
		}
		if !p.track(c) {
			reset(c)
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			p.handle(c)
		}()
	}
}

func (p *Proxy) handle(c net.Conn) {
	mode, target, _ := p.settings()
	switch mode {
	case Refuse:
		reset(c)
		return
	case Blackhole:
		io.Copy(io.Discard, c) // until the client gives up or ResetAll
		c.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	up, err := p.dialer.DialContext(ctx, "tcp", target)
	cancel()
	if err != nil {
		p.log.Warn("proxy dial", "target", target, "err", err)
		reset(c)
		return
	}
	if !p.track(up) {
		reset(up)
		reset(c)
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, c); done <- struct{}{} }()
	go func() { p.pipe(c, up); done <- struct{}{} }()
	<-done
	// One side ended: end the other too, keeping a reset a reset.
	c.Close()
	up.Close()
	<-done
}

// pipe copies src to dst chunk by chunk, delaying each chunk by the current latency.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			mode, _, latency := p.settings()
			if mode != Pass {
				reset(dst)
				return
			}
			if latency > 0 {
				time.Sleep(latency)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
