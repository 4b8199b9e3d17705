package gateway_test

import (
	"errors"
	"fmt"

	"github.com/chargegate/chargegate/gateway"
)

func ExampleErrorCode() {
	err := fmt.Errorf("start: %w", gateway.ErrSessionRunning)
	fmt.Println(gateway.ErrorCode(err))
	fmt.Println(gateway.ErrorCode(errors.New("disk on fire")))
	// Output:
	// session_running
	// failed
}

func ExampleValidIDToken() {
	fmt.Println(gateway.ValidIDToken("04A1B2C3D4E5F6"))
	fmt.Println(gateway.ValidIDToken("tag\x00"))
	// Output:
	// <nil>
	// id_token byte 3 is 0x00: only printable ASCII is allowed
}
