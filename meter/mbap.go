package meter

import (
	"encoding/binary"
	"io"
	"net"
	"time"

	"github.com/simonvetter/modbus"
)

// link is what a Bus needs from a Modbus client: *modbus.ModbusClient (RTU, RTU over TCP)
// and mbapClient (Modbus TCP) provide it. Errors are simonvetter/modbus's values or net
// errors; *ExceptionError for exception replies (mapErr turns all into this package's).
type link interface {
	Open() error
	Close() error
	SetUnitId(id uint8) error
	ReadRegisters(addr, quantity uint16, regType modbus.RegType) ([]uint16, error)
	WriteRegister(addr, value uint16) error
	WriteRegisters(addr uint16, values []uint16) error
}

// mbapDialTimeout bounds connecting, as simonvetter/modbus does for TCP.
const mbapDialTimeout = 5 * time.Second

// mbapClient is a lean Modbus TCP client: MBAP framing (Modbus Messaging on TCP/IP
// Implementation Guide v1.0b §3.1.3: transaction ID, protocol ID 0, length, unit ID), one
// request in flight, one buffer reused, one write and usually one read per request. It
// replaced simonvetter/modbus for tcp:// to cut the per-request overhead there (locks,
// allocations, separate header and body reads): in BenchmarkPollVsLibmodbus on a busy
// 2-core machine, three interleaved rounds gave 0.52–0.78× a libmodbus client with
// simonvetter/modbus and 0.76–1.05× with this client. Not safe for concurrent use: the Bus
// serialises requests.
type mbapClient struct {
	addr    string
	timeout time.Duration
	conn    net.Conn
	unit    uint8
	tid     uint16
	buf     [7 + 253 + 1]byte // header + largest PDU + one byte to notice trailing garbage
}

func newMBAPClient(addr string, timeout time.Duration) *mbapClient {
	return &mbapClient{addr: addr, timeout: timeout, unit: 1}
}

func (c *mbapClient) Open() error {
	if c.conn != nil {
		return nil
	}
	conn, err := net.DialTimeout("tcp", c.addr, mbapDialTimeout)
	if err != nil {
		return err
	}
	c.conn = conn
	return nil
}

func (c *mbapClient) Close() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

func (c *mbapClient) SetUnitId(id uint8) error {
	c.unit = id
	return nil
}

// ReadRegisters reads quantity holding (FC03) or input (FC04) registers at addr.
func (c *mbapClient) ReadRegisters(addr, quantity uint16, regType modbus.RegType) ([]uint16, error) {
	if quantity == 0 || quantity > 125 || uint32(addr)+uint32(quantity) > 0x10000 {
		return nil, modbus.ErrUnexpectedParameters
	}
	fc := byte(4)
	if regType == modbus.HOLDING_REGISTER {
		fc = 3
	}
	var req [5]byte
	req[0] = fc
	binary.BigEndian.PutUint16(req[1:], addr)
	binary.BigEndian.PutUint16(req[3:], quantity)
	pdu, err := c.exchange(req[:])
	if err != nil {
		return nil, err
	}
	if len(pdu) != 2+2*int(quantity) || int(pdu[1]) != 2*int(quantity) {
		return nil, modbus.ErrProtocolError
	}
	out := make([]uint16, quantity)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(pdu[2+2*i:])
	}
	return out, nil
}

// WriteRegister writes one register (FC06).
func (c *mbapClient) WriteRegister(addr, value uint16) error {
	var req [5]byte
	req[0] = 6
	binary.BigEndian.PutUint16(req[1:], addr)
	binary.BigEndian.PutUint16(req[3:], value)
	pdu, err := c.exchange(req[:])
	if err != nil {
		return err
	}
	if len(pdu) != 5 || string(pdu) != string(req[:]) {
		return modbus.ErrProtocolError
	}
	return nil
}

// WriteRegisters writes registers at addr (FC16).
func (c *mbapClient) WriteRegisters(addr uint16, values []uint16) error {
	if len(values) == 0 || len(values) > 123 {
		return modbus.ErrUnexpectedParameters
	}
	req := make([]byte, 6, 6+2*len(values))
	req[0] = 16
	binary.BigEndian.PutUint16(req[1:], addr)
	binary.BigEndian.PutUint16(req[3:], uint16(len(values)))
	req[5] = byte(2 * len(values))
	for _, v := range values {
		req = binary.BigEndian.AppendUint16(req, v)
	}
	pdu, err := c.exchange(req)
	if err != nil {
		return err
	}
	if len(pdu) != 5 || string(pdu) != string(req[:5]) {
		return modbus.ErrProtocolError
	}
	return nil
}

// exchange sends one request PDU and returns the reply PDU (function code first). The reply
// must carry the request's transaction ID and unit ID; an exception reply is returned as
// *ExceptionError. The returned slice aliases c.buf until the next exchange.
func (c *mbapClient) exchange(req []byte) ([]byte, error) {
	if c.conn == nil {
		return nil, net.ErrClosed
	}
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return nil, err
	}
	c.tid++
	b := c.buf[:0]
	b = binary.BigEndian.AppendUint16(b, c.tid)
	b = binary.BigEndian.AppendUint16(b, 0) // protocol ID: Modbus
	b = binary.BigEndian.AppendUint16(b, uint16(len(req)+1))
	b = append(b, c.unit)
	b = append(b, req...)
	if _, err := c.conn.Write(b); err != nil {
		return nil, err
	}
	n, err := io.ReadAtLeast(c.conn, c.buf[:], 7)
	if err != nil {
		return nil, err
	}
	length := int(binary.BigEndian.Uint16(c.buf[4:]))
	if binary.BigEndian.Uint16(c.buf[2:]) != 0 || length < 2 || length > 254 {
		return nil, modbus.ErrProtocolError
	}
	total := 6 + length
	if n > total {
		return nil, modbus.ErrProtocolError // more than one reply: out of step
	}
	if n < total {
		if _, err := io.ReadFull(c.conn, c.buf[n:total]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the header came: the frame was cut
			}
			return nil, err
		}
	}
	switch {
	case binary.BigEndian.Uint16(c.buf[0:]) != c.tid:
		return nil, modbus.ErrBadTransactionId
	case c.buf[6] != c.unit:
		return nil, modbus.ErrBadUnitId
	}
	pdu := c.buf[7:total]
	if pdu[0] == req[0]|0x80 {
		if len(pdu) != 2 {
			return nil, modbus.ErrProtocolError
		}
		return nil, &ExceptionError{Code: pdu[1], Function: req[0]}
	}
	if pdu[0] != req[0] {
		return nil, modbus.ErrProtocolError
	}
	return pdu, nil
}
