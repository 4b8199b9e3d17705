package chaos_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/chargegate/chargegate/gateway/chaos"
)

// A proxy in front of a server: traffic passes until the link is partitioned.
func ExampleProxy() {
	srv, _ := net.Listen("tcp", "127.0.0.1:0")
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }() // echo
		}
	}()
	p, err := chaos.Listen("127.0.0.1:0", srv.Addr().String(), nil)
	if err != nil {
		panic(err)
	}
	defer p.Close()

	echo := func() string {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			return err.Error()
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		c.Write([]byte("ping"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			return "no answer"
		}
		return string(buf)
	}
	fmt.Println(echo())
	p.SetMode(chaos.Blackhole)
	fmt.Println(echo())
	p.SetMode(chaos.Pass)
	fmt.Println(echo())
	// Output:
	// ping
	// no answer
	// ping
}
