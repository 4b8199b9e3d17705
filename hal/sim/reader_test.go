package sim_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/chargegate/chargegate/hal"
	"github.com/chargegate/chargegate/hal/sim"
)

func TestReader(t *testing.T) {
	r := sim.NewReader()
	uid := []byte{0x04, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6}
	if err := r.Present(uid); err != nil {
		t.Fatal(err)
	}
	if err := r.Present(uid); err != nil { // held in the field: not repeated
		t.Fatal(err)
	}
	r.Remove()
	if err := r.Present(uid); err != nil { // presented again
		t.Fatal(err)
	}
	if err := r.Fail(hal.ErrCardCollision); err != nil {
		t.Fatal(err)
	}
	if err := r.Present([]byte{1, 2, 3}); !errors.Is(err, hal.ErrBadUID) {
		t.Errorf("3-byte UID: %v", err)
	}
	r.Halt()
	r.Halt()
	if err := r.Present([]byte{1, 2, 3, 4}); !errors.Is(err, sim.ErrReaderHalted) {
		t.Errorf("after Halt: %v", err)
	}
	var got []hal.Card
	for c := range r.Cards() { // closed after Halt, queued cards first
		got = append(got, c)
	}
	if len(got) != 3 || got[0].IDToken() != "04A1B2C3D4E5F6" || got[1].IDToken() != "04A1B2C3D4E5F6" ||
		!errors.Is(got[2].Err, hal.ErrCardCollision) || got[2].IDToken() != "" {
		t.Errorf("cards = %+v", got)
	}
}

func TestReaderQueueFull(t *testing.T) {
	r := sim.NewReader()
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = r.Present([]byte{0, 0, 0, byte(i)})
	}
	if !errors.Is(err, sim.ErrReaderBusy) {
		t.Errorf("unread queue never filled: %v", err)
	}
	<-r.Cards()
	if err := r.Present([]byte{9, 9, 9, 9}); err != nil {
		t.Errorf("after one read: %v", err)
	}
}

// A card reader's UID becomes an id_token for the authorizer.
func ExampleReader() {
	r := sim.NewReader()
	r.Present([]byte{0x04, 0xa1, 0xb2, 0xc3})
	c := <-r.Cards()
	fmt.Println(c.IDToken())
	r.Halt()
	// Output: 04A1B2C3
}

func TestReaderServe(t *testing.T) {
	r := sim.NewReader()
	var bad []string
	in := strings.NewReader("# a driver\npresent 04A1B2C3\npresent 04a1b2c3\nremove\n\ntap 04A1B2C3\ntap 0102\nfail read\nfail collision\nwave\ntap 04112233445566\n")
	if err := r.Serve(context.Background(), in, func(line string, err error) { bad = append(bad, line) }); err != nil {
		t.Fatal(err)
	}
	r.Halt()
	var got []string
	for c := range r.Cards() {
		switch {
		case errors.Is(c.Err, hal.ErrCardRead):
			got = append(got, "read")
		case errors.Is(c.Err, hal.ErrCardCollision):
			got = append(got, "collision")
		default:
			got = append(got, c.IDToken())
		}
	}
	want := []string{"04A1B2C3", "04A1B2C3", "read", "collision", "04112233445566"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("cards %v, want %v", got, want)
	}
	if fmt.Sprint(bad) != fmt.Sprint([]string{"tap 0102", "wave"}) {
		t.Errorf("bad lines %v, want the 2-byte UID and the unknown command", bad)
	}
}

// FuzzReaderCommand feeds arbitrary lines to the reader's command interpreter (the FIFO other
// processes write to): no panic, and a delivered card always has a valid UID.
func FuzzReaderCommand(f *testing.F) {
	for _, s := range []string{"present 04A1B2C3", "tap 04112233445566", "remove", "fail read", "fail collision", "tap 0102", "present zz", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r := sim.NewReader()
		_ = r.Do(line)
		r.Halt()
		for c := range r.Cards() {
			if c.Err == nil && !hal.ValidUID(c.UID) {
				t.Fatalf("%q delivered UID %X", line, c.UID)
			}
		}
	})
}
