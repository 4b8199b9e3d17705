package mfrc522_test

import (
	"fmt"
	"log"

	"github.com/chargegate/chargegate/hal/mfrc522"
	"github.com/chargegate/chargegate/hal/periph"
)

// Example opens the reader as wired in doc.go and prints the first card's id_token. It needs the
// hardware, so it has no output to check.
func Example() {
	host, err := periph.Open() // initialises periph's host drivers, SPI included
	if err != nil {
		log.Fatal(err)
	}
	r, err := mfrc522.Open(mfrc522.Config{SPI: "/dev/spidev0.0", Reset: "GPIO25", IRQ: "GPIO6"}, host, mfrc522.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Halt()
	for c := range r.Cards() {
		if c.Err == nil {
			fmt.Println(c.IDToken())
			return
		}
	}
}
