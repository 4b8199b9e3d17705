package vm_test

import (
	"slices"
	"testing"
)

// TestAudit drives the power-cut accounting through the cases a broken store produces, so that
// a harness that cannot count loss or reuse fails here in milliseconds, not after a VM run.
func TestAudit(t *testing.T) {
	h := func(seq uint64, boot byte) [32]byte { return [32]byte{byte(seq), boot} }
	disk := func(boot byte, seqs ...uint64) map[uint64][32]byte {
		m := map[uint64][32]byte{}
		for _, s := range seqs {
			m[s] = h(s, boot)
		}
		return m
	}
	type cut struct {
		acked              uint64
		onDisk             map[uint64][32]byte
		wantLost, wantReus []uint64
	}
	for _, tc := range []struct {
		name string
		cuts []cut
	}{
		{"every acknowledged entry kept", []cut{
			{acked: 3, onDisk: disk(0, 1, 2, 3, 4)},
			{acked: 6, onDisk: disk(0, 1, 2, 3, 4, 5, 6)},
		}},
		{"acknowledged tail lost", []cut{
			{acked: 5, onDisk: disk(0, 1, 2, 3), wantLost: []uint64{4, 5}},
		}},
		{"lost, then the numbers handed out again", []cut{
			{acked: 5, onDisk: disk(0, 1, 2, 3), wantLost: []uint64{4, 5}},
			{acked: 6, onDisk: merge(disk(0, 1, 2, 3), disk(1, 4, 5, 6)), wantReus: []uint64{4, 5}},
		}},
		{"an entry seen on the disk replaced by another under its number", []cut{
			{acked: 2, onDisk: disk(0, 1, 2, 3)},
			{acked: 4, onDisk: merge(disk(0, 1, 2), disk(1, 3, 4)), wantReus: []uint64{3}},
		}},
		{"an entry seen on the disk, never acknowledged, gone after the next cut", []cut{
			{acked: 2, onDisk: disk(0, 1, 2, 3)},
			{acked: 2, onDisk: disk(0, 1, 2), wantLost: []uint64{3}},
		}},
		{"the whole store gone", []cut{
			{acked: 2, onDisk: disk(0, 1, 2)},
			{acked: 3, onDisk: nil, wantLost: []uint64{1, 2, 3}},
			{acked: 1, onDisk: disk(1, 1), wantReus: []uint64{1}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAudit()
			for i, c := range tc.cuts {
				lost, reused := a.observe(c.acked, c.onDisk)
				if !slices.Equal(lost, c.wantLost) || !slices.Equal(reused, c.wantReus) {
					t.Errorf("cut %d: lost %v, reused %v; want lost %v, reused %v", i, lost, reused, c.wantLost, c.wantReus)
				}
			}
		})
	}
}

func merge(ms ...map[uint64][32]byte) map[uint64][32]byte {
	out := map[uint64][32]byte{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
