package ocmf

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// ErrTransaction reports a record whose readings do not form a complete, usable transaction.
var ErrTransaction = errors.New("OCMF record is not a complete transaction")

// endCodes are the TX values that end a transaction (OCMF Table 7).
const endCodes = "ELRAP"

// CheckTransaction applies the rules the S.A.F.E. Transparenzsoftware enforces beyond the
// signature to a record holding a whole transaction (MR layout): exactly one begin (B) and one
// end (E, L, R, A or P) reading, status G on both, no E in their error flags, identification
// level not an error state, begin value ≤ end value, begin time ≤ end time, and a relative (R)
// begin time status only with a relative end. Pagination continuity across records is for the
// backend, which sees all of them.
func (r *Record) CheckTransaction() error {
	var begin, end *ReadingData
	for i := range r.Data.RD {
		rd := &r.Data.RD[i]
		switch {
		case rd.TX == "B":
			if begin != nil {
				return fmt.Errorf("%w: two begin readings", ErrTransaction)
			}
			begin = rd
		case len(rd.TX) == 1 && strings.Contains(endCodes, rd.TX):
			if end != nil {
				return fmt.Errorf("%w: two end readings", ErrTransaction)
			}
			end = rd
		}
	}
	if begin == nil || end == nil {
		return fmt.Errorf("%w: needs one begin and one end reading", ErrTransaction)
	}
	switch r.Data.IL {
	case "MISMATCH", "INVALID", "OUTDATED", "UNKNOWN":
		return fmt.Errorf("%w: identification level %s", ErrTransaction, r.Data.IL)
	}
	for _, rd := range []*ReadingData{begin, end} {
		if rd.ST != "G" {
			return fmt.Errorf("%w: %s reading has meter status %q", ErrTransaction, rd.TX, rd.ST)
		}
		if strings.Contains(rd.EF, "E") {
			return fmt.Errorf("%w: %s reading flags its energy unusable", ErrTransaction, rd.TX)
		}
	}
	bv, err := readingValue(begin.RV)
	if err != nil {
		return err
	}
	ev, err := readingValue(end.RV)
	if err != nil {
		return err
	}
	if bv.Cmp(ev) > 0 {
		return fmt.Errorf("%w: end value %s below begin value %s", ErrTransaction, end.RV, begin.RV)
	}
	bt, bs, err := ParseTime(begin.TM)
	if err != nil {
		return err
	}
	et, es, err := ParseTime(end.TM)
	if err != nil {
		return err
	}
	if bt.After(et) {
		return fmt.Errorf("%w: end time before begin time", ErrTransaction)
	}
	if bs == 'R' && es != 'R' {
		return fmt.Errorf("%w: relative begin time needs a relative end time", ErrTransaction)
	}
	return nil
}

// readingValue parses RV exactly (a JSON number, or a string some vendors send, padded or not).
func readingValue(raw []byte) (*big.Rat, error) {
	s := strings.TrimSpace(strings.Trim(strings.TrimSpace(string(raw)), `"`))
	v, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%w: RV %q is not a number", ErrTransaction, raw)
	}
	return v, nil
}

// ParseTime parses an OCMF TM value, "2006-01-02T15:04:05,000-0700 S", returning the time and
// its status letter.
func ParseTime(tm string) (time.Time, byte, error) {
	i := strings.LastIndexByte(tm, ' ')
	if i < 0 || i != len(tm)-2 || !strings.Contains("UISR", tm[i+1:]) {
		return time.Time{}, 0, fmt.Errorf("%w: TM %q has no time status", ErrFormat, tm)
	}
	t, err := time.Parse(TimeFormat, tm[:i])
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("%w: TM %q: %v", ErrFormat, tm, err)
	}
	return t, tm[i+1], nil
}
