package slot_test

import (
	"fmt"

	"github.com/chargegate/chargegate/ota/slot"
)

func ExampleFormatAutoboot() {
	a, err := slot.ParseAutoboot(slot.FormatAutoboot(2, 3))
	fmt.Println(a.Default, a.Tryboot, a.TrybootAB, err, len(slot.FormatAutoboot(2, 3)))
	// Output: 2 3 true <nil> 256
}
