package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/chargegate/chargegate/ledger"
)

// Tree is a device's chain as an RFC 6962 Merkle tree (golang.org/x/mod/sumdb/tlog, SHA-256):
// leaf i is the entry with sequence number i+1, its record data the entry's 32-byte hash
// (ledger.Entry.Hash), or Placeholder for a number the chain does not hold (skipped, lost or
// pruned before the tree saw it). The zero Tree keeps its stored hashes (about two per entry)
// in memory; OpenTree keeps them in a file, so memory stays flat as the chain grows and the
// tree survives the store pruning old entries. It is safe for concurrent use.
type Tree struct {
	mu     sync.RWMutex
	hashes []tlog.Hash // in memory (zero Tree), indexed by tlog.StoredHashIndex
	n      int64
	count  int64    // stored hashes
	file   *os.File // nil: in memory
	synced string   // the file holding the size that is known durable
	closed bool
}

// Placeholder is the record data of a leaf whose entry the chain does not hold: a sequence
// number skipped after an unclean shutdown or a rollback, or an entry lost to damage.
var Placeholder [32]byte

// OpenTree opens (or creates, mode 0600) the tree whose stored hashes live in file path, with
// path+".size" naming how many entries are durable there. Hashes past that size (written before
// a power cut, perhaps not on the disk) are dropped; CatchUp adds them again from the store.
func OpenTree(path string) (*Tree, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open tree file: %w", err)
	}
	t := &Tree{file: f, synced: path + ".size"}
	var n int64
	if b, err := os.ReadFile(t.synced); err == nil {
		if n, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil || n < 0 {
			n = 0
		}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat tree file: %w", err)
	}
	if have := fi.Size() / tlog.HashSize; tlog.StoredHashCount(n) > have {
		n = 0 // the size file is ahead of the hashes: start over from the store
	}
	t.n, t.count = n, tlog.StoredHashCount(n)
	if err := f.Truncate(t.count * tlog.HashSize); err != nil {
		f.Close()
		return nil, fmt.Errorf("truncate tree file: %w", err)
	}
	return t, nil
}

// Sync makes the hashes appended so far durable and records their size.
func (t *Tree) Sync() error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.file == nil {
		return nil
	}
	if err := t.file.Sync(); err != nil {
		return fmt.Errorf("sync tree file: %w", err)
	}
	tmp := t.synced + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(t.n, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write tree size: %w", err)
	}
	if f, err := os.Open(tmp); err == nil {
		f.Sync()
		f.Close()
	}
	if err := os.Rename(tmp, t.synced); err != nil {
		return fmt.Errorf("record tree size: %w", err)
	}
	return nil
}

// Close closes the tree's file; safe to call more than once.
func (t *Tree) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.file == nil || t.closed {
		return nil
	}
	t.closed = true
	return t.file.Close()
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
		return fmt.Errorf("hash entry %d: %w", seq, err)
	}
	if t.file == nil {
		t.hashes = append(t.hashes, hs...)
	} else {
		b := make([]byte, 0, len(hs)*tlog.HashSize)
		for _, h := range hs {
			b = append(b, h[:]...)
		}
		if _, err := t.file.WriteAt(b, t.count*tlog.HashSize); err != nil {
			return fmt.Errorf("store the hashes of entry %d: %w", seq, err)
		}
	}
	t.count += int64(len(hs))
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
			if x < 0 || x >= t.count {
				return nil, fmt.Errorf("stored hash %d of %d", x, t.count)
			}
			if t.file == nil {
				out[i] = t.hashes[x]
				continue
			}
			if _, err := t.file.ReadAt(out[i][:], x*tlog.HashSize); err != nil {
				return nil, fmt.Errorf("read stored hash %d: %w", x, err)
			}
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

// checkLast starts the tree over when its last leaf does not match src.
func (t *Tree) checkLast(ctx context.Context, src Source) error {
	n := t.Size()
	if n == 0 {
		return nil
	}
	want := tlog.RecordHash(Placeholder[:])
	es, err := src.Entries(ctx, uint64(n), 1)
	if err != nil {
		return fmt.Errorf("read entry %d: %w", n, err)
	}
	if len(es) > 0 && es[0].Seq == uint64(n) {
		h := es[0].Hash()
		want = tlog.RecordHash(h[:])
	} else if len(es) == 0 {
		want = tlog.Hash{} // nothing at or after n: the store is shorter than the tree
	}
	got, err := t.ReadHashes([]int64{tlog.StoredHashIndex(0, n-1)})
	if err != nil {
		return err
	}
	if got[0] == want {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n, t.count, t.hashes = 0, 0, nil
	if t.file != nil {
		if err := t.file.Truncate(0); err != nil {
			return fmt.Errorf("start the tree over: %w", err)
		}
	}
	return nil
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

// CatchUp appends the entries of src after Size(). A tree whose last leaf is not the entry src
// holds under that number (its file kept while the store was restored from an older copy) is
// started over, so that it never hides what the store lost.
func (t *Tree) CatchUp(ctx context.Context, src Source) error {
	if err := t.checkLast(ctx, src); err != nil {
		return err
	}
	const batch = 4096
	for {
		from := uint64(t.Size()) + 1
		es, err := src.Entries(ctx, from, batch)
		if err != nil {
			return fmt.Errorf("read entries from %d: %w", from, err)
		}
		for _, e := range es {
			// Numbers the chain does not hold (skipped, lost, or pruned before the tree saw
			// them) are placeholder leaves, so that leaf i stays the entry numbered i+1.
			for next := uint64(t.Size()) + 1; next < e.Seq; next++ {
				if err := t.Append(next, Placeholder); err != nil {
					return err
				}
			}
			if err := t.Append(e.Seq, e.Hash()); err != nil {
				return err
			}
		}
		if len(es) < batch {
			return nil
		}
	}
}
