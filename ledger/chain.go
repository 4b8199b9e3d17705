package ledger

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"sync"
	"time"
)

// Reasons a chain fails verification; a *ChainError wraps one of them (or ErrBadSignature).
var (
	ErrBrokenLink    = errors.New("prev does not match the hash of the previous entry")
	ErrSeqGap        = errors.New("sequence number not contiguous")
	ErrKeyChanged    = errors.New("entry signed by another device key")
	ErrUndeclaredGap = errors.New("readings further apart than the poll interval without a gap entry")
	ErrEmptyChain    = errors.New("no entries")
)

// ChainError names the first bad entry of a chain and why it is bad.
type ChainError struct {
	Seq uint64 // sequence number of the first bad entry (or of the entry where reading stopped)
	Err error
}

// Error says which entry is bad and why.
func (e *ChainError) Error() string { return fmt.Sprintf("seq %d: %v", e.Seq, e.Err) }

// Unwrap returns the reason.
func (e *ChainError) Unwrap() error { return e.Err }

// ChainOptions tune chain verification.
type ChainOptions struct {
	// Key is the expected device key; nil accepts the key of the first entry and then requires it.
	Key ed25519.PublicKey
	// Prev, when set, is the expected Prev of the first entry (e.g. from an anchor or a verified
	// earlier part). Without it the first entry's link is taken on trust: a pruned store starts
	// after seq 1.
	Prev *[32]byte
	// MaxReadingInterval, when positive, requires a gap entry between two readings of one meter
	// whose times are further apart than this (declared gaps: a missed poll is never a silent hole).
	MaxReadingInterval time.Duration
}

// ChainStats summarises a verified chain.
type ChainStats struct {
	Entries     int
	First, Last uint64
	Head        [32]byte // hash of the last entry
	Gaps        int      // gap entries seen
	// Replacements lists the sequence numbers of store_replaced events that declared a break:
	// the sequence jumped forward and/or Prev is the last head the device knew, not the entry before.
	Replacements []uint64
	// Holes lists the declared holes crossed, in the order of their declarations: numbers skipped (seq_skipped), entries
	// lost (entries_lost) and the jump before a store_replaced event.
	Holes []Hole
}

// Verifier checks entries one at a time, in ascending order. The zero value with options set is ready.
type Verifier struct {
	Opts  ChainOptions
	stats ChainStats
	key   ed25519.PublicKey
	// lastReading maps meter serial to the time of its last reading since the last gap/event.
	lastReading map[string]time.Time
	// pending are jumps in the sequence not (yet) declared by an entries_lost event.
	pending []Hole
}

// Add verifies e against the entries added before: signature, device key, link, sequence
// continuity and declared gaps. It returns a *ChainError. A jump over missing entries is held
// until an entries_lost event declares it; Finish reports one that was never declared.
func (v *Verifier) Add(e *Entry) error {
	h := e.Hash()
	return v.add(e, h, e.verifyHash(h))
}

// add continues Add once the hash h and the signature check sigErr are known.
func (v *Verifier) add(e *Entry, h [32]byte, sigErr error) error {
	fail := func(err error) error { return &ChainError{Seq: e.Seq, Err: err} }
	if sigErr != nil {
		return fail(sigErr)
	}
	if v.key == nil {
		v.key = v.Opts.Key
		if v.key == nil {
			v.key = e.DeviceKey
		}
	}
	if !bytes.Equal(v.key, e.DeviceKey) {
		return fail(ErrKeyChanged)
	}
	replaced := e.Kind == KindEvent && e.Event == EventStoreReplaced
	if v.stats.Entries == 0 {
		if v.Opts.Prev != nil && e.Prev != *v.Opts.Prev && !replaced {
			return fail(ErrBrokenLink)
		}
		if replaced {
			v.stats.Replacements = append(v.stats.Replacements, e.Seq)
		}
		v.stats.First = e.Seq
	} else {
		contiguous := e.Seq == v.stats.Last+1 && e.Prev == v.stats.Head
		jump := Hole{From: v.stats.Last + 1, To: e.Seq - 1, Event: e.Event, DeclaredBy: e.Seq}
		switch {
		case replaced && e.Seq > v.stats.Last:
			v.stats.Replacements = append(v.stats.Replacements, e.Seq)
			if e.Seq > v.stats.Last+1 {
				v.stats.Holes = append(v.stats.Holes, jump)
			}
		case contiguous:
		case e.Kind == KindEvent && e.Event == EventSeqSkipped && e.Seq > v.stats.Last+1 && e.Prev == v.stats.Head:
			// Only numbers were skipped: the link to the previous entry holds, and the event
			// must name exactly the numbers it jumps over.
			if from, to, ok := ParseHole(e.Detail); !ok || from != jump.From || to != jump.To {
				return fail(fmt.Errorf("%w: seq_skipped declares %q, the jump is %d-%d", ErrSeqGap, e.Detail, jump.From, jump.To))
			}
			v.stats.Holes = append(v.stats.Holes, jump)
		case e.Seq > v.stats.Last+1:
			// Entries are missing; their hash is gone, so this entry cannot link. Accepted only
			// if a later entries_lost event declares exactly this range (Finish checks).
			jump.Event, jump.DeclaredBy = "", 0
			v.pending = append(v.pending, jump)
			clear(v.lastReading)
		case e.Seq != v.stats.Last+1:
			return fail(fmt.Errorf("%w: after %d", ErrSeqGap, v.stats.Last))
		default:
			return fail(ErrBrokenLink)
		}
	}
	if e.Kind == KindEvent && e.Event == EventEntriesLost {
		if from, to, ok := ParseHole(e.Detail); ok {
			for i, p := range v.pending {
				if p.From == from && p.To == to {
					p.Event, p.DeclaredBy = e.Event, e.Seq
					v.stats.Holes = append(v.stats.Holes, p)
					v.pending = append(v.pending[:i], v.pending[i+1:]...)
					break
				}
			}
		}
	}
	if err := v.checkDeclaredGap(e); err != nil {
		return fail(err)
	}
	if e.Kind == KindGap {
		v.stats.Gaps++
	}
	v.stats.Entries++
	v.stats.Last = e.Seq
	v.stats.Head = h
	return nil
}

func (v *Verifier) checkDeclaredGap(e *Entry) error {
	if v.Opts.MaxReadingInterval <= 0 {
		return nil
	}
	if v.lastReading == nil {
		v.lastReading = make(map[string]time.Time)
	}
	switch e.Kind {
	case KindGap, KindEvent:
		clear(v.lastReading)
	case KindReading:
		last, ok := v.lastReading[e.MeterSerial]
		if ok && e.Time.Sub(last) > v.Opts.MaxReadingInterval {
			return fmt.Errorf("%w: %v since the previous reading of meter %q", ErrUndeclaredGap, e.Time.Sub(last), e.MeterSerial)
		}
		v.lastReading[e.MeterSerial] = e.Time
	}
	return nil
}

// Finish reports the first jump in the sequence that no entries_lost event declared, as a
// *ChainError wrapping ErrSeqGap at the entry after the jump; nil if there is none. Call it
// after the last Add: a hole's declaration comes after the hole.
func (v *Verifier) Finish() error {
	if len(v.pending) == 0 {
		return nil
	}
	p := v.pending[0]
	return &ChainError{Seq: p.To + 1, Err: fmt.Errorf("%w: after %d (%d-%d missing and not declared)", ErrSeqGap, p.From-1, p.From, p.To)}
}

// Pending returns the jumps not declared so far (what Finish would report), in order.
func (v *Verifier) Pending() []Hole { return append([]Hole(nil), v.pending...) }

// Stats returns what has been verified so far.
func (v *Verifier) Stats() ChainStats { return v.stats }

// VerifyChain verifies entries in ascending order and returns their summary, or the first
// failure as a *ChainError naming the bad sequence number. Declared holes (doc.go, "Chain
// rules") are accepted and listed in ChainStats.Holes; any other jump is ErrSeqGap. An error yielded by the iterator
// (a row that does not decode, a read failure) is reported at the sequence number after the last
// good entry unless it is a *ChainError itself. An empty chain is ErrEmptyChain. Signatures are
// checked in parallel batches on all CPUs; the result is the same as adding one by one.
func VerifyChain(entries iter.Seq2[Entry, error], opts ChainOptions) (ChainStats, error) {
	v := &Verifier{Opts: opts}
	batch := make([]Entry, 0, verifyBatch)
	hashes := make([][32]byte, verifyBatch)
	sigErrs := make([]error, verifyBatch)
	flush := func() error {
		checkSignatures(batch, hashes, sigErrs)
		for i := range batch {
			if err := v.add(&batch[i], hashes[i], sigErrs[i]); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return nil
	}
	for e, err := range entries {
		if err != nil {
			if ferr := flush(); ferr != nil {
				return v.Stats(), ferr
			}
			var ce *ChainError
			if errors.As(err, &ce) {
				return v.Stats(), err
			}
			return v.Stats(), &ChainError{Seq: v.stats.Last + 1, Err: err}
		}
		batch = append(batch, e)
		if len(batch) == verifyBatch {
			if err := flush(); err != nil {
				return v.Stats(), err
			}
		}
	}
	if err := flush(); err != nil {
		return v.Stats(), err
	}
	if err := v.Finish(); err != nil {
		return v.Stats(), err
	}
	if v.stats.Entries == 0 {
		return v.Stats(), ErrEmptyChain
	}
	return v.Stats(), nil
}

const verifyBatch = 1024

// checkSignatures hashes each entry and checks its signature, spread over GOMAXPROCS goroutines.
func checkSignatures(batch []Entry, hashes [][32]byte, errs []error) {
	check := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			hashes[i] = batch[i].Hash()
			errs[i] = batch[i].verifyHash(hashes[i])
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if workers == 1 || len(batch) < 64 {
		check(0, len(batch))
		return
	}
	var wg sync.WaitGroup
	chunk := (len(batch) + workers - 1) / workers
	for lo := 0; lo < len(batch); lo += chunk {
		wg.Go(func() { check(lo, min(lo+chunk, len(batch))) })
	}
	wg.Wait()
}
