package rtu_test

import (
	"fmt"

	"github.com/chargegate/chargegate/meter/rtu"
)

func Example() {
	// Read two holding registers at 0x0000 from unit 1.
	adu := rtu.Frame{Unit: 1, PDU: []byte{0x03, 0x00, 0x00, 0x00, 0x02}}.Append(nil)
	fmt.Printf("% X\n", adu)
	f, err := rtu.Parse(adu)
	fmt.Println(f.Unit, err)
	// Output:
	// 01 03 00 00 00 02 C4 0B
	// 1 <nil>
}
