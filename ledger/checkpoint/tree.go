package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/chargegate/chargegate/ledger"
)

// Tree is a device's chain as an RFC 6962 Merkle tree (golang.org/x/mod/sumdb/tlog, SHA-256):
// leaf i is the entry with sequence number i+1, its record data the entry's 32-byte hash
// (ledger.Entry.Hash). It keeps the tree's stored hashes in memory (about two per entry) and is
// safe for concurrent use.
type Tree struct {
	mu     sync.RWMutex
	hashes []tlog.Hash // indexed by tlog.StoredHashIndex
	n      int64
}

// ErrSequence means entries were appended out of order or with a hole.
var ErrSequence = errors.New("entries out of sequence")

// Append adds the entry with sequence number Size()+1, given its hash.
func (t *Tree) Append(seq uint64, entryHash [32]byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq != uint64(t.n)+1 {
		return fmt.Errorf("append entry %d to a tree of %d: %w", seq, t.n, ErrSequence)
	}
	hs, err := tlog.StoredHashesForRecordHash(t.n, tlog.RecordHash(entryHash[:]), t.readerLocked())
	if err != nil {
		return fmt.Errorf("append entry %d: %w", seq, err)
	}
	t.hashes = append(t.hashes, hs...)
	t.n++
	return nil
}

// Size returns the number of entries in the tree: the head sequence number.
func (t *Tree) Size() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.n
}

// ReadHashes implements tlog.HashReader over the stored hashes.
func (t *Tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.readerLocked().ReadHashes(indexes)
}

func (t *Tree) readerLocked() tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(t.hashes)) {
				return nil, fmt.Errorf("stored hash %d of %d", x, len(t.hashes))
			}
			out[i] = t.hashes[x]
		}
		return out, nil
	})
}

// Root returns the tree's size and root hash.
func (t *Tree) Root() (int64, tlog.Hash, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	h, err := tlog.TreeHash(t.n, t.readerLocked())
	if err != nil {
		return 0, tlog.Hash{}, fmt.Errorf("tree hash of %d: %w", t.n, err)
	}
	return t.n, h, nil
}

// InclusionProof proves entry seq in the tree of size n (seq ≤ n ≤ Size()).
func (t *Tree) InclusionProof(seq uint64, n int64) (tlog.RecordProof, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if seq == 0 || int64(seq) > n || n > t.n {
		return nil, fmt.Errorf("inclusion proof of entry %d in a tree of %d (size %d): %w", seq, n, t.n, ErrSequence)
	}
	p, err := tlog.ProveRecord(n, int64(seq)-1, t.readerLocked())
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of entry %d: %w", seq, err)
	}
	return p, nil
}

// ConsistencyProof proves that the tree of size old is a prefix of the tree of size n
// (old ≤ n ≤ Size()). It is empty when old is 0 or equals n.
func (t *Tree) ConsistencyProof(old, n int64) (tlog.TreeProof, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if old < 0 || old > n || n > t.n {
		return nil, fmt.Errorf("consistency proof %d → %d (size %d): %w", old, n, t.n, ErrSequence)
	}
	if old == 0 || old == n {
		return tlog.TreeProof{}, nil
	}
	p, err := tlog.ProveTree(n, old, t.readerLocked())
	if err != nil {
		return nil, fmt.Errorf("consistency proof %d → %d: %w", old, n, err)
	}
	return p, nil
}

// Source is what Build reads: the device's store (ledger/sqlite.Store implements it).
type Source interface {
	// Entries returns up to max entries with Seq >= from in ascending order.
	Entries(ctx context.Context, from uint64, max int) ([]ledger.Entry, error)
}

// Build reads every entry of src from sequence 1 on into a new tree.
func Build(ctx context.Context, src Source) (*Tree, error) {
	t := &Tree{}
	return t, t.CatchUp(ctx, src)
}

// CatchUp appends the entries of src after Size().
func (t *Tree) CatchUp(ctx context.Context, src Source) error {
	const batch = 4096
	for {
		from := uint64(t.Size()) + 1
		es, err := src.Entries(ctx, from, batch)
		if err != nil {
			return fmt.Errorf("read entries from %d: %w", from, err)
		}
		for _, e := range es {
			if err := t.Append(e.Seq, e.Hash()); err != nil {
				return err
			}
		}
		if len(es) < batch {
			return nil
		}
	}
}
