package fakefw_test

import (
	"context"
	"fmt"
	"os"

	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/durable/crashfs"
	"github.com/chargegate/chargegate/ota/slot"
	"github.com/chargegate/chargegate/ota/slot/fakefw"
)

func Example() {
	fs := crashfs.New()
	fs.MkdirAll("/boot", 0o755)
	durable.WriteFile(fs, "/boot/autoboot.txt", slot.FormatAutoboot(2, 3), 0o644)
	proc, _ := os.MkdirTemp("", "bootloader")
	defer os.RemoveAll(proc)
	fw := &fakefw.Firmware{FS: fs, Autoboot: "/boot/autoboot.txt", BootloaderDir: proc}

	fmt.Println(fw.Boot())
	fw.Reboot(context.Background(), "0 tryboot")
	fmt.Println(fw.Boot()) // the one-shot trial
	fmt.Println(fw.Boot()) // any later boot: the default again
	// Output:
	// 2 false <nil>
	// 3 true <nil>
	// 2 false <nil>
}
