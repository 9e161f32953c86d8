package stream

import "sync"

// lockTable hands out a reader/writer lock per name, creating it on demand
// and forgetting it when nobody holds or waits for it. Metadata changes of
// one basin or stream are serialised by it; different names never contend.
type lockTable struct {
	mu    sync.Mutex
	locks map[string]*namedLock
}

type namedLock struct {
	rw   sync.RWMutex
	refs int
}

func newLockTable() *lockTable { return &lockTable{locks: map[string]*namedLock{}} }

func (t *lockTable) acquire(name string) *namedLock {
	t.mu.Lock()
	l := t.locks[name]
	if l == nil {
		l = &namedLock{}
		t.locks[name] = l
	}
	l.refs++
	t.mu.Unlock()
	return l
}

func (t *lockTable) release(name string, l *namedLock) {
	t.mu.Lock()
	l.refs--
	if l.refs == 0 {
		delete(t.locks, name)
	}
	t.mu.Unlock()
}

// lock takes name exclusively and returns the unlock function.
func (t *lockTable) lock(name string) func() {
	l := t.acquire(name)
	l.rw.Lock()
	return func() { l.rw.Unlock(); t.release(name, l) }
}

// rlock takes name shared and returns the unlock function.
func (t *lockTable) rlock(name string) func() {
	l := t.acquire(name)
	l.rw.RLock()
	return func() { l.rw.RUnlock(); t.release(name, l) }
}
