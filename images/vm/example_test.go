package vm_test

import (
	"bytes"
	"fmt"

	"github.com/chargegate/chargegate/images/vm"
)

// An initramfs is a tree of files written as one newc cpio archive; parents come by themselves.
func ExampleInitramfs() {
	fs := vm.NewInitramfs()
	fs.AddBytes("/init", []byte("#!/bin/busybox sh\necho hello\n"), 0o755)
	fs.AddSymlink("/bin/sh", "busybox")
	var b bytes.Buffer
	if _, err := fs.WriteTo(&b); err != nil {
		panic(err)
	}
	fmt.Printf("%s… %d bytes\n", b.Bytes()[:6], b.Len())
	// Output: 070701… 628 bytes
}
