package chaos_test

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/chargegate/chargegate/gateway/chaos"
)

func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string, timeout time.Duration) (time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	start := time.Now()
	if _, err := c.Write([]byte("ping")); err != nil {
		return 0, err
	}
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	return time.Since(start), err
}

func TestProxyFaults(t *testing.T) {
	p, err := chaos.Listen("127.0.0.1:0", echoServer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	if _, err := roundTrip(p.Addr(), 2*time.Second); err != nil {
		t.Fatalf("pass: %v", err)
	}
	p.SetLatency(100 * time.Millisecond)
	if d, err := roundTrip(p.Addr(), 2*time.Second); err != nil || d < 200*time.Millisecond {
		t.Fatalf("latency 100ms each way: round trip %v, %v", d, err)
	}
	p.SetLatency(0)

	p.SetMode(chaos.Refuse)
	if _, err := roundTrip(p.Addr(), 2*time.Second); !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Fatalf("refuse: %v, want a reset", err)
	}
	p.SetMode(chaos.Blackhole)
	var ne net.Error
	if _, err := roundTrip(p.Addr(), 200*time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("blackhole: %v, want a timeout", err)
	}
	p.SetMode(chaos.Pass)

	// ResetAll aborts a connection in the middle of its life.
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if n := p.ResetAll(); n < 1 {
		t.Fatalf("ResetAll reset %d connections", n)
	}
	if _, err := c.Read(buf); err == nil {
		t.Fatal("read after ResetAll succeeded")
	}
}
