package rtu

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// DeadlineReader is a byte stream with read deadlines: a serial device opened non-blocking
// (*os.File) or a net.Conn.
type DeadlineReader interface {
	io.Reader
	SetReadDeadline(t time.Time) error
}

// Reader splits a byte stream into candidate frames.
//
// With Gap > 0 a frame ends after Gap of silence (t3.5 on a serial line): bytes that keep
// coming with shorter pauses belong to the same frame, as the spec requires. With Gap == 0
// the request length is computed from the header (RTU over TCP, where silence means
// nothing); an unknown function code then ends the frame after 50 ms of silence.
type Reader struct {
	R   DeadlineReader
	Gap time.Duration
	buf []byte
}

// ReadFrame blocks until one frame has arrived and returns its raw bytes (CRC not yet
// checked; see Parse). The slice is valid until the next call.
func (r *Reader) ReadFrame() ([]byte, error) {
	if r.buf == nil {
		r.buf = make([]byte, 0, MaxADU+64)
	}
	r.buf = r.buf[:0]
	var chunk [MaxADU]byte
	// The first byte may take forever: no deadline.
	if err := r.R.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clear read deadline: %w", err)
	}
	for {
		n, err := r.R.Read(chunk[:])
		r.buf = append(r.buf, chunk[:n]...)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && len(r.buf) > 0 {
				return r.buf, nil
			}
			if len(r.buf) > 0 && errors.Is(err, io.EOF) {
				return r.buf, nil
			}
			return nil, err
		}
		if len(r.buf) > MaxADU {
			// Garbage on the line: hand it over, the CRC check rejects it.
			return r.buf, nil
		}
		gap := r.Gap
		if gap == 0 {
			if want, ok := RequestLength(r.buf); ok && len(r.buf) >= want {
				return r.buf, nil
			}
			gap = 50 * time.Millisecond
		}
		if len(r.buf) > 0 {
			if err := r.R.SetReadDeadline(time.Now().Add(gap)); err != nil {
				return nil, fmt.Errorf("set read deadline: %w", err)
			}
		}
	}
}
