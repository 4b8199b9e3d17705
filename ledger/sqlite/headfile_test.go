package sqlite

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
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

// TestHeadSlotGolden freezes the version 2 slot layout documented in doc.go.
func TestHeadSlotGolden(t *testing.T) {
	var h [32]byte
	for i := range h {
		h[i] = 0xAB
	}
	var boot [16]byte
	for i := range boot {
		boot[i] = byte(i)
	}
	st := headState{counter: 7, highWater: 1040, seq: 16, hash: h, clean: true, boot: boot}
	const want = "43474844" + "02" + "01" + "0000" + "0000000000000007" + "0000000000000410" + "0000000000000010" +
		"abababababababababababababababababababababababababababababababab" + "000102030405060708090a0b0c0d0e0f" + "c9a0bc6c"
	b := encodeSlot(st)
	if got := hex.EncodeToString(b[:slotData+4]); got != want {
		t.Fatalf("slot = %s\nwant   %s", got, want)
	}
	if !bytes.Equal(b[slotData+4:], make([]byte, slotSize-slotData-4)) {
		t.Fatal("padding is not zero")
	}
	got, ok := decodeSlot(b)
	if !ok || got != st {
		t.Fatalf("decoded %+v, %v", got, ok)
	}
	// A version 1 slot (before the clean flag and boot ID; CRC at 64) reads as not clean, from
	// an unknown boot.
	v1 := make([]byte, slotSize)
	copy(v1, b[:slotDataV1])
	v1[4], v1[5] = 1, 0
	binary.BigEndian.PutUint32(v1[slotDataV1:], crc32.Checksum(v1[:slotDataV1], crcTable))
	if got, ok := decodeSlot(v1); !ok || got.clean || got.highWater != 1040 || got.boot != ([16]byte{}) {
		t.Fatalf("version 1 slot: %+v, %v", got, ok)
	}
}

// TestCleanCloseNoSkip: after Close the next Open continues at head+1 with no event.
func TestCleanCloseNoSkip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	_, err := s.Append(ctx, readings(0, 5)...)
	must(t, err)
	must(t, s.Close())
	s = openTest(t, dir, nil)
	defer s.Close()
	es, err := s.Append(ctx, reading(5))
	if err != nil || es[0].Seq != 6 {
		t.Fatalf("append after a clean close: %v, %v", es, err)
	}
	if r := s.Recovery(); r.Unclean {
		t.Fatalf("Recovery() after a clean close = %+v", r)
	}
	if st := verifyAll(t, s); len(st.Holes) != 0 {
		t.Fatalf("holes after a clean close: %+v", st.Holes)
	}
}

// TestLyingStorageNeverReusesSeq models the power-cut finding of issue 14: storage acknowledged
// commits 11..15 (and the unsynced head updates) but lost them. The store finds a consistent
// database ending at 10 and must not hand out 11 again: it resumes above the reserved
// high-water mark with a signed seq_skipped event.
func TestLyingStorageNeverReusesSeq(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir, func(o *Options) { o.Reserve = 16 })
	_, err := s.Append(ctx, readings(0, 10)...)
	must(t, err)
	snap := map[string][]byte{}
	for _, name := range []string{DBFileName, DBFileName + "-wal", DBFileName + "-shm", headFileName} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		must(t, err)
		snap[name] = b
	}
	lost, err := s.Append(ctx, readings(10, 5)...) // acknowledged 11..15, then lost
	must(t, err)
	s.closeDB()
	s.head.close()
	for name, b := range snap {
		must(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
	s = openTest(t, dir, func(o *Options) { o.Reserve = 16; o.bootID = rebooted })
	defer s.Close()
	es, err := s.Append(ctx, reading(20))
	must(t, err)
	if es[0].Seq <= lost[len(lost)-1].Seq {
		t.Fatalf("sequence number %d handed out again (acknowledged up to %d before the cut)", es[0].Seq, lost[len(lost)-1].Seq)
	}
	st := verifyAll(t, s)
	if len(st.Holes) != 1 || st.Holes[0].Event != ledger.EventSeqSkipped || st.Holes[0].From != 11 || st.Holes[0].To != 26 {
		t.Fatalf("holes = %+v, want seq_skipped 11-26 (10 + Reserve)", st.Holes)
	}
	if len(st.Replacements) != 0 {
		t.Fatalf("replacements %v: a consistent database is not replaced", st.Replacements)
	}
}

// TestSyncSetting reads synchronous back: FULL (2), or OFF (0) only in the lossy test build.
func TestSyncSetting(t *testing.T) {
	s := openTest(t, t.TempDir(), nil)
	defer s.Close()
	var v int
	must(t, s.w.QueryRow("PRAGMA synchronous").Scan(&v))
	want := 2
	if LossySync {
		want = 0
	}
	if v != want {
		t.Fatalf("synchronous = %d, want %d (LossySync %v)", v, want, LossySync)
	}
}

// rebooted is the boot ID of a later boot than the test's own: what a power cut leads to.
func rebooted() [16]byte { return [16]byte{0xB0, 0x07} }

// TestCrashSameBootNoSkip: a process that died in this boot left every write in the page
// cache, so the next Open continues at head+1 with no event; after a reboot it skips.
func TestCrashSameBootNoSkip(t *testing.T) {
	ctx := context.Background()
	dir, acked := crashImage(t)
	s := openTest(t, dir, nil)
	es, err := s.Append(ctx, reading(99))
	must(t, err)
	if es[0].Seq != uint64(len(acked))+1 {
		t.Fatalf("append after a crash in the same boot: seq %d, want %d", es[0].Seq, len(acked)+1)
	}
	if st := verifyAll(t, s); len(st.Holes) != 0 {
		t.Fatalf("holes after a same-boot crash: %+v", st.Holes)
	}
	if r := s.Recovery(); !r.Unclean || r.Rebooted || r.Skipped != (ledger.Hole{}) {
		t.Fatalf("Recovery() after a same-boot crash = %+v", r)
	}
	s.closeDB() // crash again, without Close
	s.head.close()
	s = openTest(t, dir, func(o *Options) { o.bootID = rebooted })
	defer s.Close()
	st := verifyAll(t, s)
	if len(st.Holes) != 1 || st.Holes[0].Event != ledger.EventSeqSkipped {
		t.Fatalf("holes after a crash and a reboot: %+v", st.Holes)
	}
	if r := s.Recovery(); !r.Unclean || !r.Rebooted || r.Skipped != st.Holes[0] {
		t.Fatalf("Recovery() after a crash and a reboot = %+v, want %+v skipped", r, st.Holes[0])
	}
}

// Entries of several EVSEs (version 2) and of the box (version 1) share one chain and come back
// with their EVSE.
func TestEntriesNameTheirEVSE(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	defer s.Close()
	recs := readings(0, 6)
	for i := range recs {
		recs[i].EVSE = uint8(i % 3) // 0 (the box), 1, 2, 0, 1, 2
	}
	es, err := s.Append(ctx, recs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range es {
		got, err := s.Entry(ctx, e.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if got.EVSE != recs[i].EVSE || got.Version != ledger.FormatVersion(recs[i]) {
			t.Errorf("seq %d: EVSE %d version %d, want EVSE %d version %d", e.Seq, got.EVSE, got.Version, recs[i].EVSE, ledger.FormatVersion(recs[i]))
		}
	}
	r, err := OpenReader(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if st, err := ledger.VerifyChain(r.All(ctx), ledger.ChainOptions{Key: s.DeviceKey()}); err != nil || st.Entries != 6 {
		t.Fatalf("mixed-version chain: %+v, %v", st, err)
	}
}
