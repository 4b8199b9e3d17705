package ledger

import (
	"fmt"
	"strconv"
	"strings"
)

// Hole is a declared range of sequence numbers that has no entries: numbers skipped after an
// unclean shutdown (EventSeqSkipped), entries lost to damage (EventEntriesLost), or the break
// before a replaced store (EventStoreReplaced). See "Chain rules" in doc.go.
type Hole struct {
	From, To   uint64 // the missing sequence numbers, inclusive
	Event      string // the code of the declaring event
	DeclaredBy uint64 // sequence number of the declaring event
}

// HoleDetail returns the Detail of an event declaring the hole from..to: "seq FROM-TO: why",
// cut to MaxDetail bytes. ParseHole reads it back.
func HoleDetail(from, to uint64, why string) string {
	d := fmt.Sprintf("seq %d-%d: %s", from, to, why)
	if len(d) > MaxDetail {
		d = strings.ToValidUTF8(d[:MaxDetail], "")
	}
	return d
}

// ParseHole reads the range from the start of a declaring event's Detail ("seq FROM-TO" followed
// by ":" or the end); ok is false unless 1 ≤ FROM ≤ TO.
func ParseHole(detail string) (from, to uint64, ok bool) {
	rest, found := strings.CutPrefix(detail, "seq ")
	if !found {
		return 0, 0, false
	}
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	a, b, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false
	}
	from, err1 := strconv.ParseUint(a, 10, 64)
	to, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || from == 0 || from > to {
		return 0, 0, false
	}
	return from, to, true
}
