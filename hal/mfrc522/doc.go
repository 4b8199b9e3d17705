// Package mfrc522 reads ISO/IEC 14443 Type A card UIDs with an NXP MFRC522 on SPI, through
// periph.io's driver (periph.io/x/devices/v3/mfrc522), as a hal.CardReader.
//
// # Wiring (Raspberry Pi 4/5, SPI0 CE0; the common "RC522" breakout board)
//
//	RC522 pin   Raspberry Pi header         periph name
//	SDA (NSS)   pin 24  GPIO8  SPI0 CE0     SPI port "/dev/spidev0.0" (or "SPI0.0")
//	SCK         pin 23  GPIO11 SPI0 SCLK
//	MOSI        pin 19  GPIO10 SPI0 MOSI
//	MISO        pin 21  GPIO9  SPI0 MISO
//	IRQ         pin 31  GPIO6               irq_pin: GPIO6 (required: the driver waits on its edge)
//	RST         pin 22  GPIO25              reset_pin: GPIO25
//	GND         pin 20
//	3.3V        pin 17  (never 5 V: the MFRC522 is a 3.3 V part, its pins are not 5 V tolerant)
//
// SPI must be enabled (dtparam=spi=on, images/config.txt). hal/doc.go has the same table with
// the other lines of the box. The reader runs at
// 10 MHz, SPI mode 0, as periph's driver sets (MFRC522 datasheet §8.1.2: up to 10 Mbit/s).
// Keep the antenna at least 5 cm away from the contactor coil and its wiring.
//
// # Reading
//
// The reader asks the driver for a UID (ReadUID: REQA, anticollision cascade levels 1 and 2,
// SELECT; 4- and 7-byte UIDs) with a bounded wait, over and over, in one goroutine. A card held
// in the field answers every round; it is delivered once and again only after it has been out
// of the field for at least Options.Hold (a driver taps twice to stop). Failed reads — the card
// left mid-read, two cards at once, a CRC error — are delivered as Card.Err wrapping
// hal.ErrCardRead, at most one per Hold, so a card at the edge of the field cannot flood the
// appliance. A bus error backs off (cenkalti/backoff, the project's one policy) and is delivered
// the same way. Halt stops the loop, powers the chip down (the driver's Halt: soft power-down,
// antenna off) and closes Cards.
package mfrc522
