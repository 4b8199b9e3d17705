// Package rtu frames Modbus RTU application data units: CRC-16, request and response
// layout, and end-of-frame detection by the t3.5 silent interval.
//
// # Wire format (Modbus over serial line V1.02, §2.5)
//
//	unit (1 byte) | function code (1) | data (0..252) | CRC-16 (2, low byte first)
//
// The CRC is CRC-16/MODBUS: polynomial 0xA001 (reflected 0x8005), initial value 0xFFFF,
// computed over unit, function code and data. A character is 11 bits on the wire (start,
// 8 data, parity or second stop, stop); 8N1 uses 10. Frames are separated by at least
// 3.5 character times of silence (t3.5); above 19200 baud the spec fixes t3.5 at 1750 µs.
//
// The package is shared by the meter simulator, which frames requests by silence on a
// serial line and by length on RTU over TCP, and by tests that need byte-exact frames.
package rtu
