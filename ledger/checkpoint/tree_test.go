package checkpoint_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chargegate/chargegate/ledger/checkpoint"
	"github.com/chargegate/chargegate/ledger/ledgertest"
)

// A tree kept in a file has the same root as one in memory, survives a reopen at its synced
// size, drops hashes written after the last Sync, and keeps its leaves when the store has
// pruned the entries behind them.
func TestTreeFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "data"), ledgertest.Key(t))
	appendN(t, st, 300, "M1")
	mem, err := checkpoint.Build(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tree")
	ft, err := checkpoint.OpenTree(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := ft.CatchUp(ctx, st); err != nil {
		t.Fatal(err)
	}
	n1, r1, _ := mem.Root()
	n2, r2, _ := ft.Root()
	if n1 != 300 || n1 != n2 || r1 != r2 {
		t.Fatalf("file tree %d %x, memory tree %d %x", n2, r2, n1, r1)
	}
	if err := ft.Sync(); err != nil {
		t.Fatal(err)
	}
	appendN(t, st, 20, "M1") // appended after the sync: dropped at reopen, caught up again
	if err := ft.CatchUp(ctx, st); err != nil {
		t.Fatal(err)
	}
	ft.Close()
	re, err := checkpoint.OpenTree(path)
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if re.Size() != 300 {
		t.Fatalf("reopened at %d, want the synced 300", re.Size())
	}
	if err := re.CatchUp(ctx, st); err != nil {
		t.Fatal(err)
	}
	mem, _ = checkpoint.Build(ctx, st)
	n1, r1, _ = mem.Root()
	n2, r2, _ = re.Root()
	if n1 != 320 || n1 != n2 || r1 != r2 {
		t.Fatalf("after catching up: file tree %d %x, memory tree %d %x", n2, r2, n1, r1)
	}
	if _, err := re.ConsistencyProof(300, 320); err != nil {
		t.Fatal(err)
	}
}

// A hole in the chain (numbers skipped after an unclean shutdown or a rollback) becomes
// placeholder leaves, so the tree keeps growing with the chain.
func TestTreeAcrossAHole(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir(), ledgertest.Key(t))
	appendN(t, st, 10, "M1")
	if _, err := st.SkipTo(ctx, 50, "test"); err != nil {
		t.Fatal(err)
	}
	appendN(t, st, 5, "M1")
	tr, err := checkpoint.Build(ctx, st)
	if err != nil {
		t.Fatalf("build across a hole: %v", err)
	}
	if head, _ := st.Head(); tr.Size() != int64(head) {
		t.Fatalf("tree size %d, chain head %d", tr.Size(), head)
	}
}

// A tree file kept while the store was restored from an older copy starts over, so that a
// checkpoint never claims entries the store no longer holds.
func TestTreeStartsOverWhenTheStoreIsShorter(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	st := openStore(t, data, ledgertest.Key(t))
	appendN(t, st, 10, "M1")
	st.Close()
	copyDir(t, data, filepath.Join(dir, "old"))
	st = openStore(t, data, ledgertest.Key(t))
	appendN(t, st, 10, "M1")
	path := filepath.Join(dir, "tree")
	tr, _ := checkpoint.OpenTree(path)
	if err := tr.CatchUp(ctx, st); err != nil || tr.Size() != 20 {
		t.Fatalf("catch up: %d, %v", tr.Size(), err)
	}
	tr.Sync()
	tr.Close()
	st.Close()
	os.RemoveAll(data)
	os.Rename(filepath.Join(dir, "old"), data)
	st = openStore(t, data, ledgertest.Key(t))
	tr, _ = checkpoint.OpenTree(path)
	defer tr.Close()
	if err := tr.CatchUp(ctx, st); err != nil {
		t.Fatal(err)
	}
	if head, _ := st.Head(); tr.Size() != int64(head) {
		t.Fatalf("tree size %d after the restore, store head %d", tr.Size(), head)
	}
}
