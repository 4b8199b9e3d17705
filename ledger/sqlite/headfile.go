package sqlite

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The head file keeps the sequence high-water mark and the chain head outside the database, so
// that a database that is lost, rolled back or replaced never leads to a reused sequence number.
// Layout (doc.go): two 128-byte slots written alternately; each slot is
//
//	magic "CGHD" | version 2 | flags u8 | 2 zero bytes | counter u64 | high-water u64 | seq u64 | hash [32] | boot ID [16] | crc32c u32
//
// big-endian, CRC-32C over the bytes before it, zero padded; flags bit 0 = closed cleanly; the
// boot ID is the kernel's of the boot that opened the store. Version 1 slots (no flags, no boot
// ID, CRC at offset 64) are read as not clean, from an unknown boot. The valid slot with the higher counter wins,
// so a torn write of one slot loses at most the newest update.
const (
	headFileName = "head"
	slotSize     = 128
	slotDataV1   = 4 + 4 + 8 + 8 + 8 + 32 // version 1: CRC at 64
	slotData     = slotDataV1 + 16        // version 2: boot ID, CRC at 80
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// headState is one slot's content.
type headState struct {
	counter   uint64
	highWater uint64 // no entry with a higher seq exists anywhere
	seq       uint64 // chain head known at write time (≤ the database head after a crash)
	hash      [32]byte
	// clean is set only by Close, after the last commit: the database head is exact and no
	// number above it was handed out. Open clears it (fsynced) before any number is used.
	clean bool
	// boot is the kernel boot ID of the boot that last opened the store (zero: unknown).
	boot [16]byte
}

// headVersion is the slot version written; flagClean is its clean-close flag.
const (
	headVersion = 2
	flagClean   = 1
)

type headFile struct {
	f     *os.File
	state headState
}

var errNoHead = errors.New("no valid head file")

func encodeSlot(s headState) []byte {
	b := make([]byte, slotSize)
	copy(b, "CGHD")
	b[4] = headVersion
	if s.clean {
		b[5] = flagClean
	}
	binary.BigEndian.PutUint64(b[8:], s.counter)
	binary.BigEndian.PutUint64(b[16:], s.highWater)
	binary.BigEndian.PutUint64(b[24:], s.seq)
	copy(b[32:64], s.hash[:])
	copy(b[64:80], s.boot[:])
	binary.BigEndian.PutUint32(b[slotData:], crc32.Checksum(b[:slotData], crcTable))
	return b
}

func decodeSlot(b []byte) (headState, bool) {
	if len(b) < slotSize || string(b[:4]) != "CGHD" || (b[4] != 1 && b[4] != headVersion) {
		return headState{}, false
	}
	n := slotData
	if b[4] == 1 {
		n = slotDataV1
	}
	if crc32.Checksum(b[:n], crcTable) != binary.BigEndian.Uint32(b[n:]) {
		return headState{}, false
	}
	s := headState{
		counter:   binary.BigEndian.Uint64(b[8:]),
		highWater: binary.BigEndian.Uint64(b[16:]),
		seq:       binary.BigEndian.Uint64(b[24:]),
		clean:     b[4] == headVersion && b[5]&flagClean != 0,
	}
	copy(s.hash[:], b[32:64])
	if b[4] == headVersion {
		copy(s.boot[:], b[64:80])
	}
	return s, s.seq <= s.highWater
}

// openHeadFile opens or creates the head file. It returns errNoHead (with a usable file) when
// the file is new or neither slot is valid.
func openHeadFile(path string) (*headFile, error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open head file: %w", err)
	}
	h := &headFile{f: f}
	if errors.Is(statErr, fs.ErrNotExist) {
		return h, errNoHead
	}
	buf := make([]byte, 2*slotSize)
	n, _ := f.ReadAt(buf, 0)
	a, okA := decodeSlot(buf[:min(n, slotSize)])
	b, okB := decodeSlot(buf[slotSize:max(n, slotSize)])
	switch {
	case okA && (!okB || a.counter >= b.counter):
		h.state = a
	case okB:
		h.state = b
	default:
		return h, errNoHead
	}
	return h, nil
}

// write stores s in the slot after the current one; with sync it also fsyncs (fdatasync).
// Without sync the update survives a process crash (page cache) but maybe not a power cut,
// which only makes the head older, never wrong.
func (h *headFile) write(s headState, sync bool) error {
	s.counter = h.state.counter + 1
	off := int64(s.counter%2) * slotSize
	if _, err := h.f.WriteAt(encodeSlot(s), off); err != nil {
		return fmt.Errorf("write head file: %w", err)
	}
	if sync {
		if err := h.f.Sync(); err != nil {
			return fmt.Errorf("sync head file: %w", err)
		}
	}
	h.state = s
	return nil
}

func (h *headFile) close() error { return h.f.Close() }

// ReadHead reads the head file in dir without writing: the chain head (sequence number and entry
// hash) recorded after the newest commit. A chain in the database that ends before it lost its
// newest entries. ok is false when there is no valid head file.
func ReadHead(dir string) (seq uint64, hash [32]byte, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, headFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, hash, false, nil
	}
	if err != nil {
		return 0, hash, false, fmt.Errorf("read head file: %w", err)
	}
	a, okA := decodeSlot(b[:min(len(b), slotSize)])
	c, okC := decodeSlot(b[min(len(b), slotSize):])
	switch {
	case okA && (!okC || a.counter >= c.counter):
		return a.seq, a.hash, true, nil
	case okC:
		return c.seq, c.hash, true, nil
	}
	return 0, hash, false, nil
}

// bootIDFile is where Linux publishes the random ID of the running boot.
const bootIDFile = "/proc/sys/kernel/random/boot_id"

// readBootID returns the kernel's boot ID (a UUID, as 16 bytes); zero when it cannot be read.
func readBootID() [16]byte {
	var id [16]byte
	b, err := os.ReadFile(bootIDFile)
	if err != nil {
		return id
	}
	h, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(string(b)), "-", ""))
	if err != nil || len(h) != 16 {
		return id
	}
	copy(id[:], h)
	return id
}
