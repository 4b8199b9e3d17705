package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chargegate/chargegate/ledger"
)

func TestHeadFileSlots(t *testing.T) {
	path := filepath.Join(t.TempDir(), headFileName)
	h, err := openHeadFile(path)
	if !errors.Is(err, errNoHead) {
		t.Fatalf("new head file: %v", err)
	}
	for i := uint64(1); i <= 5; i++ {
		must(t, h.write(headState{highWater: 100, seq: i, hash: [32]byte{byte(i)}}, i%2 == 0))
	}
	must(t, h.close())
	h, err = openHeadFile(path)
	if err != nil || h.state.seq != 5 || h.state.highWater != 100 || h.state.hash[0] != 5 {
		t.Fatalf("reopened = %+v, %v", h.state, err)
	}
	h.close()

	// A torn write of the newest slot falls back to the other one.
	data, _ := os.ReadFile(path)
	newest := int(5%2) * slotSize
	data[newest+20] ^= 0xFF
	must(t, os.WriteFile(path, data, 0o600))
	h, err = openHeadFile(path)
	if err != nil || h.state.seq != 4 {
		t.Fatalf("after a torn slot: %+v, %v", h.state, err)
	}
	h.close()

	// Both slots damaged: no head, reported as such.
	data[(1-5%2)*slotSize+40] ^= 0xFF
	must(t, os.WriteFile(path, data, 0o600))
	if h, err = openHeadFile(path); !errors.Is(err, errNoHead) {
		t.Fatalf("both slots damaged: %v", err)
	}
	h.close()
}

// TestHeadFileLost: without its head file a store rebuilds it from the database and goes on.
func TestHeadFileLost(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	if _, err := s.Append(ctx, readings(0, 5)...); err != nil {
		t.Fatal(err)
	}
	must(t, s.Close())
	must(t, os.Remove(filepath.Join(dir, headFileName)))
	s = openTest(t, dir, nil)
	defer s.Close()
	if seq, _ := s.Head(); seq != 5 {
		t.Fatalf("head = %d", seq)
	}
	if s.head.state.highWater < 5 {
		t.Fatalf("high-water %d below the head", s.head.state.highWater)
	}
	if st := verifyAll(t, s); len(st.Replacements) != 0 {
		t.Fatal("a lost head file caused a replacement")
	}
}

func TestReader(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := OpenReader(ctx, dir); err == nil {
		t.Fatal("reader opened a missing database")
	}
	if _, err := os.Stat(filepath.Join(dir, DBFileName)); err == nil {
		t.Fatal("reader created a database")
	}
	s := openTest(t, dir, nil)
	defer s.Close()
	if _, err := s.Append(ctx, readings(0, 5000)...); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(ctx, dir) // beside the open store, as `chargegate verify` runs
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st, err := ledger.VerifyChain(r.All(ctx), ledger.ChainOptions{Key: s.DeviceKey()})
	if err != nil || st.Entries != 5000 || st.Last != 5000 {
		t.Fatalf("reader chain: %+v, %v", st, err)
	}
	// A row that does not decode is reported at its sequence number.
	if _, err := s.w.Exec("UPDATE entries SET body = X'00' WHERE seq = 4321"); err != nil {
		t.Fatal(err)
	}
	_, err = ledger.VerifyChain(r.All(ctx), ledger.ChainOptions{Key: s.DeviceKey()})
	var ce *ledger.ChainError
	if !errors.As(err, &ce) || ce.Seq != 4321 || !errors.Is(err, ledger.ErrMalformed) {
		t.Fatalf("damaged row: %v", err)
	}
}
