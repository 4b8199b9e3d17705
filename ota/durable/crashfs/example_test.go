package crashfs_test

import (
	"fmt"

	"github.com/chargegate/chargegate/ota/durable"
	"github.com/chargegate/chargegate/ota/durable/crashfs"
)

func Example() {
	fs := crashfs.New()
	fs.MkdirAll("/data", 0o755)
	durable.WriteFile(fs, "/data/state", []byte("v1"), 0o600)
	fs.CutAt(2) // the second operation of the next write loses power
	err := durable.WriteFile(fs, "/data/state", []byte("v2"), 0o600)
	fs.PowerCycle()
	b, _ := durable.ReadFile(fs, "/data/state")
	fmt.Println(err, string(b))
	// Output: write /data/state.tmp: crashfs: power cut v1
}
