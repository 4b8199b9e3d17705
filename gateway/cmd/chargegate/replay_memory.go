package main

import (
	"context"
	"sync"
	"time"
)

// memoryReplay remembers executed request IDs in memory only. It is a stand-in until the store
// keeps them (sqlite RememberCommand); it forgets on restart.
type memoryReplay struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func newMemoryReplay() *memoryReplay { return &memoryReplay{seen: map[string]time.Time{}} }

func (m *memoryReplay) RememberCommand(_ context.Context, id string, expires time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	for k, exp := range m.seen {
		if now.After(exp) {
			delete(m.seen, k)
		}
	}
	if _, ok := m.seen[id]; ok {
		return false, nil
	}
	m.seen[id] = expires
	return true, nil
}
