package stream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/s2lite/s2lite/engine"
)

// Service implements the S2 API semantics on an engine.DB. All methods are
// safe for concurrent use.
type Service struct {
	db   *engine.DB
	opts Options
	log  *slog.Logger

	// basinLocks serialise metadata changes of a basin (exclusive) against
	// stream creation in it (shared); streamLocks serialise metadata changes
	// of one stream and the loading of its in-memory handle.
	basinLocks  *lockTable
	streamLocks *lockTable

	admission *admission
	ids       idAllocator

	mu      sync.Mutex
	streams map[string]*streamHandle // loaded streams by streamMapKey
	// indexCleanups are trim points whose timestamp index entries below
	// them still await deletion, by stream id.
	indexCleanups map[uint64]uint64
	closed        bool

	closing  chan struct{} // closed by Close
	bgCtx    context.Context
	bgCancel context.CancelFunc
	kick     chan struct{}
	wg       sync.WaitGroup // background loop, drainers and queued appends
}

// New returns a Service storing everything in db and resumes background
// work left unfinished by a previous process (basin deletions). The caller
// keeps ownership of db and closes it after Close.
func New(ctx context.Context, db *engine.DB, opts Options) (*Service, error) {
	if db == nil {
		return nil, errors.New("stream: nil engine")
	}
	opts = opts.withDefaults()
	bgCtx, cancel := context.WithCancel(context.Background())
	s := &Service{
		db:            db,
		opts:          opts,
		log:           opts.Logger,
		basinLocks:    newLockTable(),
		streamLocks:   newLockTable(),
		admission:     newAdmission(opts.AppendInflightBytes),
		streams:       map[string]*streamHandle{},
		indexCleanups: map[uint64]uint64{},
		closing:       make(chan struct{}),
		bgCtx:         bgCtx,
		bgCancel:      cancel,
		kick:          make(chan struct{}, 1),
	}
	if err := s.ids.load(ctx, db); err != nil {
		cancel()
		return nil, err
	}
	if !opts.pauseBackground {
		s.wg.Add(1)
		go s.backgroundLoop()
		s.kickBackground() // resume pending basin deletions at once
	}
	return s, nil
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.AppendInflightBytes <= 0 {
		o.AppendInflightBytes = 128 << 20
	}
	o.AppendInflightBytes = max(o.AppendInflightBytes, MaxBatchBytes)
	if o.BackgroundInterval <= 0 {
		o.BackgroundInterval = 60 * time.Second
	}
	if o.HeartbeatMin <= 0 {
		o.HeartbeatMin = 5 * time.Second
	}
	if o.HeartbeatMax < o.HeartbeatMin {
		o.HeartbeatMax = max(o.HeartbeatMin, 15*time.Second)
	}
	if o.FollowerBufferBatches <= 0 {
		o.FollowerBufferBatches = 256
	}
	switch {
	case o.DeleteOnEmptyGrace == 0:
		o.DeleteOnEmptyGrace = 10 * time.Minute
	case o.DeleteOnEmptyGrace < 0:
		o.DeleteOnEmptyGrace = 0
	}
	if o.IdleStreamTimeout <= 0 {
		o.IdleStreamTimeout = 60 * time.Second
	}
	return o
}

// Close stops background work and waits for it, and for every accepted
// append to resolve. Read sessions still open end with unavailable. It
// does not close the engine.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()
	s.bgCancel()
	s.wg.Wait()
	return nil
}

// startWork counts one unit of work that Close must wait for, unless the
// service is closed. Every accepted append entry is one.
func (s *Service) startWork() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Service) checkOpen() error {
	select {
	case <-s.closing:
		return storageError("service", errClosed)
	default:
		return nil
	}
}

func (s *Service) now() time.Time { return s.opts.Now() }

func (s *Service) nowMillis() uint64 { return uint64(max(s.opts.Now().UnixMilli(), 0)) }

// kickBackground makes the background loop run soon.
func (s *Service) kickBackground() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// idAllocator hands out stream ids. Ids are reserved in blocks: the end of
// the reserved block is made durable before any id in it is used, so ids
// are never reused across restarts even though stream creations commit in
// any order. A restart skips the rest of the block.
type idAllocator struct {
	mu    sync.Mutex
	next  uint64
	limit uint64
}

const idBlock = 1024

func (a *idAllocator) load(ctx context.Context, db *engine.DB) error {
	v, err := db.Get(ctx, []byte(streamIDKey))
	switch {
	case errors.Is(err, engine.ErrNotFound):
		a.next, a.limit = 1, 1
	case err != nil:
		return fmt.Errorf("stream: load stream id reservation: %w", err)
	case len(v) != 8:
		return fmt.Errorf("stream: load stream id reservation: %w", errCorrupt)
	default:
		a.limit = binary.BigEndian.Uint64(v)
		a.next = a.limit
	}
	return nil
}

func (a *idAllocator) allocate(ctx context.Context, db *engine.DB) (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next >= a.limit {
		limit := a.next + idBlock
		b := engine.NewBatch()
		b.Set([]byte(streamIDKey), binary.BigEndian.AppendUint64(nil, limit))
		if err := db.Write(ctx, b); err != nil {
			return 0, storageError("reserve stream ids", err)
		}
		a.limit = limit
	}
	id := a.next
	a.next++
	return id, nil
}
