package meter

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
)

// pipeClient returns an mbapClient on one end of a pipe whose other end answers the first
// request with reply(request).
func pipeClient(t testing.TB, reply func(req []byte) []byte) *mbapClient {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	go func() {
		req := make([]byte, 260)
		n, err := b.Read(req)
		if err != nil {
			return
		}
		_, _ = b.Write(reply(req[:n]))
		b.Close()
	}()
	c := newMBAPClient("pipe", 200*time.Millisecond)
	c.conn = a
	return c
}

// TestMBAPReplies: the client accepts the reply Modbus TCP specifies and names every way a
// reply can be wrong.
func TestMBAPReplies(t *testing.T) {
	good := func(req []byte) []byte { // FC04, 2 registers 0x1234 0x5678
		return append(append([]byte(nil), req[:4]...), 0, 7, req[6], 4, 4, 0x12, 0x34, 0x56, 0x78)
	}
	tests := []struct {
		name  string
		reply func(req []byte) []byte
		want  error // nil: the registers
	}{
		{"good", good, nil},
		{"transaction id", func(req []byte) []byte { r := good(req); r[1]++; return r }, modbus.ErrBadTransactionId},
		{"protocol id", func(req []byte) []byte { r := good(req); r[3] = 1; return r }, modbus.ErrProtocolError},
		{"unit", func(req []byte) []byte { r := good(req); r[6]++; return r }, modbus.ErrBadUnitId},
		{"byte count", func(req []byte) []byte { r := good(req); r[8] = 6; return r }, modbus.ErrProtocolError},
		{"length", func(req []byte) []byte { r := good(req); r[5] = 1; return r }, modbus.ErrProtocolError},
		{"function", func(req []byte) []byte { r := good(req); r[7] = 3; return r }, modbus.ErrProtocolError},
		{"half a frame", func(req []byte) []byte { return good(req)[:9] }, io.ErrUnexpectedEOF},
		{"exception", func(req []byte) []byte { return append(append([]byte(nil), req[:4]...), 0, 3, req[6], 0x84, 2) }, &ExceptionError{Code: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := pipeClient(t, tt.reply)
			regs, err := c.ReadRegisters(0x48, 2, modbus.INPUT_REGISTER)
			var ex *ExceptionError
			switch want := tt.want.(type) {
			case nil:
				if err != nil || len(regs) != 2 || regs[0] != 0x1234 || regs[1] != 0x5678 {
					t.Fatalf("got %04x, %v", regs, err)
				}
			case *ExceptionError:
				if !errors.As(err, &ex) || ex.Code != want.Code {
					t.Fatalf("err = %v, want exception %d", err, want.Code)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			}
		})
	}
}

// FuzzMBAPReply: no reply bytes make the client panic or hand out the wrong number of
// registers.
func FuzzMBAPReply(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 7, 1, 4, 4, 0x12, 0x34, 0x56, 0x78})
	f.Add([]byte{0, 1, 0, 0, 0, 3, 1, 0x84, 2})
	f.Add([]byte{0, 1, 0, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := pipeClient(t, func(req []byte) []byte {
			if len(data) >= 2 { // keep the transaction ID right often enough to reach the body
				data = append([]byte(nil), data...)
				binary.BigEndian.PutUint16(data, binary.BigEndian.Uint16(req))
			}
			return data
		})
		regs, err := c.ReadRegisters(0x48, 2, modbus.INPUT_REGISTER)
		if err == nil && len(regs) != 2 {
			t.Fatalf("%d registers without an error", len(regs))
		}
	})
}
