package hal

import (
	"encoding/hex"
	"errors"
	"strings"
)

// Card is one read of an ISO/IEC 14443 Type A card by a CardReader: a UID, or the error of a
// read that failed.
type Card struct {
	// UID is the card's unique identifier: 4, 7 or 10 bytes (ISO/IEC 14443-3 single, double and
	// triple size). Empty when Err is set.
	UID []byte
	// Err is a failed read: ErrCardCollision, ErrCardRead, or the bus error of the backend.
	Err error
}

// IDToken is the UID as an id_token: upper-case hex without separators, the usual OCPP idTag
// spelling of an RFID UID ("04A1B2C3D4E5F6"). It is empty for a failed read.
func (c Card) IDToken() string {
	if c.Err != nil {
		return ""
	}
	return strings.ToUpper(hex.EncodeToString(c.UID))
}

// Card read failures a reader reports as Card.Err.
var (
	// ErrCardCollision is two or more cards in the field at once (anticollision did not settle).
	ErrCardCollision = errors.New("card collision")
	// ErrCardRead is a read the card did not complete: CRC or parity error, the card left the
	// field too soon, or no answer within the reader's timeout.
	ErrCardRead = errors.New("card read failed")
	// ErrBadUID is a UID of a length ISO/IEC 14443-3 does not define.
	ErrBadUID = errors.New("UID is not 4, 7 or 10 bytes")
)

// ValidUID reports whether uid has a length ISO/IEC 14443-3 defines.
func ValidUID(uid []byte) bool { return len(uid) == 4 || len(uid) == 7 || len(uid) == 10 }

// CardReader is a contactless card reader (an MFRC522 on SPI, or hal/sim's Reader).
type CardReader interface {
	// Cards delivers each card once per presentation (a card held in the field is not
	// repeated) and each failed read as a Card with Err. It is closed after Halt.
	Cards() <-chan Card
	// Halt stops reading, switches the antenna off and closes Cards. It may be called from any
	// goroutine, any number of times.
	Halt() error
}
