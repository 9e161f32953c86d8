package usage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// Metric and label names (see DESIGN.md, "Usage metrics").
const (
	MetricAccountOps       = "account-ops"
	MetricBasinOps         = "basin-ops"
	MetricAppendOps        = "append-ops"
	MetricReadOps          = "read-ops"
	MetricAppendThroughput = "append-throughput"
	MetricReadThroughput   = "read-throughput"

	LabelStandard  = "standard"
	LabelExpress   = "express"
	LabelUnary     = "unary"
	LabelStreaming = "streaming"
)

// Resolution is a bucket width.
type Resolution int

const (
	Minute Resolution = iota
	Hour
	Day
)

// Seconds is the width of a bucket in seconds.
func (r Resolution) Seconds() uint32 {
	switch r {
	case Hour:
		return 3600
	case Day:
		return 86400
	}
	return 60
}

func (r Resolution) String() string {
	switch r {
	case Hour:
		return "hour"
	case Day:
		return "day"
	}
	return "minute"
}

func (r Resolution) tag() byte { return "mhd"[r] }

// MaxStreamBuckets bounds the append buckets kept per stream for the
// storage gauge (see the package doc).
const MaxStreamBuckets = 4096

// Store is what the recorder needs of the engine.
type Store interface {
	// Scan calls fn for every key with prefix, in key order.
	Scan(ctx context.Context, prefix []byte, fn func(key, value []byte) error) error
	// Write applies the batch atomically and durably.
	Write(ctx context.Context, b *Batch) error
}

// Batch is an ordered list of puts (with an optional expiry) and deletes.
type Batch struct {
	Ops []Op
}

// Op is one put (Delete false) or delete.
type Op struct {
	Key, Value []byte
	ExpiresAt  time.Time // zero: never
	Delete     bool
}

// Options configures a Recorder.
type Options struct {
	// Now is the clock; tests inject theirs. Default time.Now.
	Now func() time.Time
	// FlushInterval is how often changes are written (default 10 s):
	// the most a crash can lose.
	FlushInterval time.Duration
	// Retention of minute, hour and day buckets (defaults 24 h, 31 d,
	// 400 d).
	MinuteRetention, HourRetention, DayRetention time.Duration
	Logger                                       *slog.Logger
	// StorageCounts, when set, is the object store's cumulative request
	// and byte counts (StorageMeter.Counts): every flush attributes their
	// change since the last flush to basins (the storage-* metrics).
	StorageCounts func() StorageCounts
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 10 * time.Second
	}
	if o.MinuteRetention <= 0 {
		o.MinuteRetention = 24 * time.Hour
	}
	if o.HourRetention <= 0 {
		o.HourRetention = 31 * 24 * time.Hour
	}
	if o.DayRetention <= 0 {
		o.DayRetention = 400 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o Options) retention(r Resolution) time.Duration {
	switch r {
	case Hour:
		return o.HourRetention
	case Day:
		return o.DayRetention
	}
	return o.MinuteRetention
}

type seriesKey struct{ metric, label string }

type series struct {
	buckets [3]map[uint32]uint64
}

type counterKey struct {
	res   Resolution
	start uint32
	scope string
	s     seriesKey
}

type streamKey struct{ basin, stream string }

// point is a gauge change point: the value from the start of minute on.
type point struct {
	minute uint32 // epoch seconds, a multiple of 60
	value  uint64
}

type gaugeKey struct {
	sk     streamKey
	minute uint32
}

// bucket is one minute of appends to a stream, for the storage gauge.
type bucket struct {
	minute  uint32
	first   uint64 // first sequence number
	end     uint64 // exclusive
	bytes   uint64
	expires int64 // unix seconds; 0 = never
}

type streamStorage struct {
	total     uint64
	trimPoint uint64
	buckets   []bucket
	minExpiry int64 // smallest non-zero expires, 0 if none
}

// Recorder keeps the usage counters. Its methods are safe for
// concurrent use.
type Recorder struct {
	store Store
	opts  Options
	log   *slog.Logger

	mu       sync.Mutex
	counters map[string]map[seriesKey]*series // scope -> series
	gauges   map[streamKey][]point            // stream "" = basin total
	storage  map[streamKey]*streamStorage

	dirtyCounters map[counterKey]struct{}
	dirtyGauges   map[gaugeKey]struct{}
	deadGauges    map[gaugeKey]struct{}
	dirtyStorage  map[streamKey]struct{}

	// Object-store attribution (storage.go): the counts at the last
	// flush, each basin's appended and read bytes since, and each basin's
	// attributed use since Open.
	lastCounts                 StorageCounts
	periodAppended, periodRead map[string]uint64
	basinStorage               map[string]*StorageUse

	flushMu sync.Mutex // one flush at a time
	stop    chan struct{}
	done    chan struct{}
	closed  bool
}

// Key prefixes.
var (
	counterPrefix = []byte("m/c/")
	gaugePrefix   = []byte("m/g/")
	storagePrefix = []byte("m/s/")
)

// Open loads the state of store and starts the periodic flush. Close
// stops it and writes what is left.
func Open(ctx context.Context, store Store, opts Options) (*Recorder, error) {
	if store == nil {
		return nil, errors.New("usage: nil store")
	}
	r := newRecorder(store, opts)
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	if r.opts.StorageCounts != nil {
		r.lastCounts = r.opts.StorageCounts() // what came before is no basin's
	}
	go r.loop()
	return r, nil
}

func newRecorder(store Store, opts Options) *Recorder {
	opts = opts.withDefaults()
	return &Recorder{
		store:          store,
		opts:           opts,
		log:            opts.Logger,
		counters:       map[string]map[seriesKey]*series{},
		gauges:         map[streamKey][]point{},
		storage:        map[streamKey]*streamStorage{},
		dirtyCounters:  map[counterKey]struct{}{},
		dirtyGauges:    map[gaugeKey]struct{}{},
		deadGauges:     map[gaugeKey]struct{}{},
		dirtyStorage:   map[streamKey]struct{}{},
		periodAppended: map[string]uint64{},
		periodRead:     map[string]uint64{},
		basinStorage:   map[string]*StorageUse{},
		stop:           make(chan struct{}),
		done:           make(chan struct{}),
	}
}

func (r *Recorder) loop() {
	defer close(r.done)
	t := time.NewTicker(r.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := r.Flush(ctx); err != nil {
				r.log.Warn("usage metrics flush failed; retrying next period", "err", err)
			}
			cancel()
		}
	}
}

// Close stops the periodic flush and writes pending changes.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	return r.Flush(ctx)
}

func (r *Recorder) nowSecs() int64 { return r.opts.Now().Unix() }

func floorTo(t int64, res Resolution) uint32 {
	if t < 0 {
		t = 0
	}
	w := int64(res.Seconds())
	return uint32(t - t%w)
}

// seriesLocked is the series sk of scope, made empty if missing.
func (r *Recorder) seriesLocked(scope string, sk seriesKey) *series {
	m := r.counters[scope]
	if m == nil {
		m = map[seriesKey]*series{}
		r.counters[scope] = m
	}
	s := m[sk]
	if s == nil {
		s = &series{}
		for i := range s.buckets {
			s.buckets[i] = map[uint32]uint64{}
		}
		m[sk] = s
	}
	return s
}

// addLocked bumps the minute, hour and day buckets of a series at now.
func (r *Recorder) addLocked(now int64, scope string, sk seriesKey, n uint64) {
	if n == 0 {
		return
	}
	s := r.seriesLocked(scope, sk)
	for res := Minute; res <= Day; res++ {
		start := floorTo(now, res)
		s.buckets[res][start] += n
		r.dirtyCounters[counterKey{res, start, scope, sk}] = struct{}{}
	}
}

// AccountOp counts one account-level request (list-basins, …).
func (r *Recorder) AccountOp(op string) {
	now := r.nowSecs()
	r.mu.Lock()
	r.addLocked(now, "", seriesKey{MetricAccountOps, op}, 1)
	r.mu.Unlock()
}

// BasinOp counts one basin-level request on basin.
func (r *Recorder) BasinOp(basin, op string) {
	if basin == "" {
		return
	}
	now := r.nowSecs()
	r.mu.Lock()
	r.addLocked(now, basin, seriesKey{MetricBasinOps, op}, 1)
	r.mu.Unlock()
}

// Read counts bytes read from basin and, when op is set, one read
// operation (unary or streaming).
func (r *Recorder) Read(basin string, streaming, op bool, bytes uint64) {
	now := r.nowSecs()
	label := LabelUnary
	if streaming {
		label = LabelStreaming
	}
	r.mu.Lock()
	if op {
		r.addLocked(now, basin, seriesKey{MetricReadOps, label}, 1)
	}
	r.addLocked(now, basin, seriesKey{MetricReadThroughput, ""}, bytes)
	if r.opts.StorageCounts != nil && basin != "" {
		r.periodRead[basin] += bytes
	}
	r.mu.Unlock()
}

// Append describes one acknowledged append batch.
type Append struct {
	Basin, Stream string
	Express       bool
	// FirstSeq and EndSeq delimit the batch's records; Bytes is their
	// metered size.
	FirstSeq, EndSeq uint64
	Bytes            uint64
	// ExpiresAt is when the records expire by retention; zero: never.
	ExpiresAt time.Time
	// TrimPoint is the stream's trim point after the batch.
	TrimPoint uint64
}

// Appended records an acknowledged append: its operation, its bytes, and
// the stream's storage (including a trim the batch carried).
func (r *Recorder) Appended(a Append) {
	now := r.nowSecs()
	label := LabelStandard
	if a.Express {
		label = LabelExpress
	}
	sk := streamKey{a.Basin, a.Stream}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addLocked(now, a.Basin, seriesKey{MetricAppendOps, label}, 1)
	r.addLocked(now, a.Basin, seriesKey{MetricAppendThroughput, label}, a.Bytes)
	if r.opts.StorageCounts != nil && a.Basin != "" {
		r.periodAppended[a.Basin] += a.Bytes
	}
	st := r.storage[sk]
	if st == nil {
		st = &streamStorage{}
		r.storage[sk] = st
	}
	before := st.total
	if a.EndSeq > a.FirstSeq {
		var exp int64
		if !a.ExpiresAt.IsZero() {
			exp = a.ExpiresAt.Unix()
		}
		minute := floorTo(now, Minute)
		n := len(st.buckets)
		if n > 0 && st.buckets[n-1].minute == minute && st.buckets[n-1].end == a.FirstSeq && st.buckets[n-1].expires <= exp {
			b := &st.buckets[n-1]
			b.end, b.bytes, b.expires = a.EndSeq, b.bytes+a.Bytes, exp
		} else {
			st.buckets = append(st.buckets, bucket{minute: minute, first: a.FirstSeq, end: a.EndSeq, bytes: a.Bytes, expires: exp})
		}
		if exp != 0 && (st.minExpiry == 0 || exp < st.minExpiry) {
			st.minExpiry = exp
		}
		st.total += a.Bytes
		if len(st.buckets) > MaxStreamBuckets {
			st.mergeBuckets()
		}
	}
	if a.TrimPoint > st.trimPoint {
		st.trim(a.TrimPoint)
	}
	st.expire(now)
	r.dirtyStorage[sk] = struct{}{}
	r.storageChangedLocked(now, sk, before, st.total)
}

// StreamDeleted sets a deleted stream's storage to zero.
func (r *Recorder) StreamDeleted(basin, stream string) {
	now := r.nowSecs()
	sk := streamKey{basin, stream}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.storage[sk]
	if st == nil {
		return
	}
	delete(r.storage, sk)
	r.dirtyStorage[sk] = struct{}{}
	r.storageChangedLocked(now, sk, st.total, 0)
}

// storageChangedLocked records the new storage of a stream and its
// basin as gauge change points at the current minute.
func (r *Recorder) storageChangedLocked(now int64, sk streamKey, before, after uint64) {
	minute := floorTo(now, Minute)
	r.setGaugeLocked(sk, minute, after)
	if before == after {
		return
	}
	bk := streamKey{sk.basin, ""}
	cur := r.gaugeValueLocked(bk)
	r.setGaugeLocked(bk, minute, cur-before+after)
}

func (r *Recorder) gaugeValueLocked(sk streamKey) uint64 {
	ps := r.gauges[sk]
	if len(ps) == 0 {
		return 0
	}
	return ps[len(ps)-1].value
}

func (r *Recorder) setGaugeLocked(sk streamKey, minute uint32, v uint64) {
	ps := r.gauges[sk]
	n := len(ps)
	switch {
	case n > 0 && ps[n-1].minute == minute:
		ps[n-1].value = v
	case n > 0 && ps[n-1].value == v:
		return // no change
	default:
		ps = append(ps, point{minute, v})
	}
	r.gauges[sk] = ps
	r.dirtyGauges[gaugeKey{sk, minute}] = struct{}{}
}

func (st *streamStorage) trim(p uint64) {
	st.trimPoint = p
	keep := st.buckets[:0]
	for _, b := range st.buckets {
		switch {
		case b.end <= p:
			st.total -= min(st.total, b.bytes)
			continue
		case b.first < p:
			cut := b.bytes * (p - b.first) / (b.end - b.first)
			st.total -= min(st.total, cut)
			b.bytes -= cut
			b.first = p
		}
		keep = append(keep, b)
	}
	st.buckets = keep
	st.recomputeMinExpiry()
}

// expire drops the buckets whose retention has passed.
func (st *streamStorage) expire(now int64) bool {
	if st.minExpiry == 0 || st.minExpiry > now {
		return false
	}
	keep := st.buckets[:0]
	for _, b := range st.buckets {
		if b.expires != 0 && b.expires <= now {
			st.total -= min(st.total, b.bytes)
			continue
		}
		keep = append(keep, b)
	}
	st.buckets = keep
	st.recomputeMinExpiry()
	return true
}

func (st *streamStorage) recomputeMinExpiry() {
	st.minExpiry = 0
	for _, b := range st.buckets {
		if b.expires != 0 && (st.minExpiry == 0 || b.expires < st.minExpiry) {
			st.minExpiry = b.expires
		}
	}
}

// mergeBuckets halves the bucket list by merging neighbours; a merged
// bucket expires at the later of the two instants (0 if either never
// does).
func (st *streamStorage) mergeBuckets() {
	out := st.buckets[:0]
	for i := 0; i < len(st.buckets); i += 2 {
		b := st.buckets[i]
		if i+1 < len(st.buckets) {
			c := st.buckets[i+1]
			b.end, b.bytes = c.end, b.bytes+c.bytes
			if b.expires == 0 || c.expires == 0 {
				b.expires = 0
			} else {
				b.expires = max(b.expires, c.expires)
			}
		}
		out = append(out, b)
	}
	st.buckets = out
	st.recomputeMinExpiry()
}

// expireLocked applies retention expiry to every stream and prunes
// buckets and gauge points past their retention.
func (r *Recorder) expireLocked(now int64) {
	for sk, st := range r.storage {
		before := st.total
		if st.expire(now) {
			r.dirtyStorage[sk] = struct{}{}
			r.storageChangedLocked(now, sk, before, st.total)
		}
	}
	for _, m := range r.counters {
		for _, s := range m {
			for res := Minute; res <= Day; res++ {
				limit := now - int64(r.opts.retention(res)/time.Second)
				for start := range s.buckets[res] {
					if int64(start)+int64(res.Seconds()) <= limit {
						delete(s.buckets[res], start) // its key expires by TTL
					}
				}
			}
		}
	}
	// Gauge points: finer than an hour only within the minute retention;
	// nothing past the hour retention except the last point before it,
	// which still gives the value from then on.
	minuteLimit := now - int64(r.opts.MinuteRetention/time.Second)
	hourLimit := now - int64(r.opts.HourRetention/time.Second)
	for sk, ps := range r.gauges {
		out := ps[:0]
		for i, p := range ps {
			last := i == len(ps)-1
			next := uint32(0)
			if !last {
				next = ps[i+1].minute
			}
			drop := false
			switch {
			case last:
			case int64(next) <= hourLimit:
				drop = true // superseded before the hour retention
			case int64(p.minute) < minuteLimit && floorTo(int64(next), Hour) == floorTo(int64(p.minute), Hour):
				drop = true // coarsened: the last point of each old hour stays
			}
			if drop {
				r.deadGauges[gaugeKey{sk, p.minute}] = struct{}{}
				delete(r.dirtyGauges, gaugeKey{sk, p.minute})
				continue
			}
			out = append(out, p)
		}
		if len(out) == 1 && out[0].value == 0 && int64(out[0].minute) <= hourLimit {
			r.deadGauges[gaugeKey{sk, out[0].minute}] = struct{}{}
			delete(r.gauges, sk)
			continue
		}
		r.gauges[sk] = out
	}
}

// Flush writes every change since the last flush as one batch.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	now := r.nowSecs()
	r.attributeStorage(now)
	r.mu.Lock()
	r.expireLocked(now)
	b := &Batch{}
	counters, gauges, dead, storage := r.dirtyCounters, r.dirtyGauges, r.deadGauges, r.dirtyStorage
	r.dirtyCounters, r.dirtyGauges, r.deadGauges, r.dirtyStorage = map[counterKey]struct{}{}, map[gaugeKey]struct{}{}, map[gaugeKey]struct{}{}, map[streamKey]struct{}{}
	for ck := range counters {
		s := r.counters[ck.scope][ck.s]
		if s == nil {
			continue
		}
		v, ok := s.buckets[ck.res][ck.start]
		if !ok {
			continue
		}
		exp := time.Unix(int64(ck.start)+int64(ck.res.Seconds()), 0).Add(r.opts.retention(ck.res))
		b.Ops = append(b.Ops, Op{Key: counterKeyBytes(ck), Value: binary.BigEndian.AppendUint64(nil, v), ExpiresAt: exp})
	}
	for gk := range dead {
		b.Ops = append(b.Ops, Op{Key: gaugeKeyBytes(gk), Delete: true})
	}
	for gk := range gauges {
		ps := r.gauges[gk.sk]
		i := sort.Search(len(ps), func(i int) bool { return ps[i].minute >= gk.minute })
		if i == len(ps) || ps[i].minute != gk.minute {
			continue
		}
		b.Ops = append(b.Ops, Op{Key: gaugeKeyBytes(gk), Value: binary.BigEndian.AppendUint64(nil, ps[i].value)})
	}
	for sk := range storage {
		key := storageKeyBytes(sk)
		if st := r.storage[sk]; st != nil {
			b.Ops = append(b.Ops, Op{Key: key, Value: st.encode()})
		} else {
			b.Ops = append(b.Ops, Op{Key: key, Delete: true})
		}
	}
	r.mu.Unlock()
	if len(b.Ops) == 0 {
		return nil
	}
	if err := r.store.Write(ctx, b); err != nil {
		// Mark everything dirty again: the values are re-read at the next
		// flush, so later changes are not lost either.
		r.mu.Lock()
		for k := range counters {
			r.dirtyCounters[k] = struct{}{}
		}
		for k := range gauges {
			r.dirtyGauges[k] = struct{}{}
		}
		for k := range dead {
			r.deadGauges[k] = struct{}{}
		}
		for k := range storage {
			r.dirtyStorage[k] = struct{}{}
		}
		r.mu.Unlock()
		return fmt.Errorf("usage: flush: %w", err)
	}
	return nil
}

func counterKeyBytes(ck counterKey) []byte {
	k := append([]byte(nil), counterPrefix...)
	k = append(k, ck.res.tag())
	k = binary.BigEndian.AppendUint32(k, ck.start)
	k = append(k, ck.scope...)
	k = append(k, 0)
	k = append(k, ck.s.metric...)
	k = append(k, 0)
	return append(k, ck.s.label...)
}

func gaugeKeyBytes(gk gaugeKey) []byte {
	k := append([]byte(nil), gaugePrefix...)
	k = binary.BigEndian.AppendUint32(k, gk.minute)
	k = append(k, gk.sk.basin...)
	k = append(k, 0)
	return append(k, gk.sk.stream...)
}

func storageKeyBytes(sk streamKey) []byte {
	k := append([]byte(nil), storagePrefix...)
	k = append(k, sk.basin...)
	k = append(k, 0)
	return append(k, sk.stream...)
}

const storageFormat = 1

func (st *streamStorage) encode() []byte {
	b := []byte{storageFormat}
	b = binary.AppendUvarint(b, st.total)
	b = binary.AppendUvarint(b, st.trimPoint)
	b = binary.AppendUvarint(b, uint64(len(st.buckets)))
	for _, x := range st.buckets {
		b = binary.AppendUvarint(b, uint64(x.minute))
		b = binary.AppendUvarint(b, x.first)
		b = binary.AppendUvarint(b, x.end-x.first)
		b = binary.AppendUvarint(b, x.bytes)
		b = binary.AppendUvarint(b, uint64(x.expires))
	}
	return b
}

func decodeStorage(b []byte) (*streamStorage, error) {
	if len(b) == 0 || b[0] != storageFormat {
		return nil, errors.New("unknown stream storage format")
	}
	b = b[1:]
	var vals []uint64
	next := func() bool {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return false
		}
		b = b[n:]
		vals = append(vals, v)
		return true
	}
	if !next() || !next() || !next() {
		return nil, errors.New("truncated stream storage")
	}
	st := &streamStorage{total: vals[0], trimPoint: vals[1]}
	count := vals[2]
	if count > MaxStreamBuckets+1 {
		return nil, errors.New("too many stream storage buckets")
	}
	for i := uint64(0); i < count; i++ {
		vals = vals[:0]
		for j := 0; j < 5; j++ {
			if !next() {
				return nil, errors.New("truncated stream storage bucket")
			}
		}
		st.buckets = append(st.buckets, bucket{minute: uint32(vals[0]), first: vals[1], end: vals[1] + vals[2], bytes: vals[3], expires: int64(vals[4])})
	}
	if len(b) != 0 {
		return nil, errors.New("trailing bytes in stream storage")
	}
	st.recomputeMinExpiry()
	return st, nil
}

// load rebuilds the in-memory state from the store.
func (r *Recorder) load(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.store.Scan(ctx, counterPrefix, func(key, value []byte) error {
		k := key[len(counterPrefix):]
		if len(k) < 5 || len(value) != 8 {
			return nil // not ours to judge: skip
		}
		res := Resolution(strings.IndexByte("mhd", k[0]))
		if res < 0 {
			return nil
		}
		start := binary.BigEndian.Uint32(k[1:5])
		parts := strings.SplitN(string(k[5:]), "\x00", 3)
		if len(parts) != 3 {
			return nil
		}
		scope, sk := parts[0], seriesKey{parts[1], parts[2]}
		r.seriesLocked(scope, sk).buckets[res][start] = binary.BigEndian.Uint64(value)
		return nil
	})
	if err != nil {
		return fmt.Errorf("usage: load counters: %w", err)
	}
	err = r.store.Scan(ctx, gaugePrefix, func(key, value []byte) error {
		k := key[len(gaugePrefix):]
		if len(k) < 4 || len(value) != 8 {
			return nil
		}
		basin, stream, ok := strings.Cut(string(k[4:]), "\x00")
		if !ok {
			return nil
		}
		sk := streamKey{basin, stream}
		// Keys sort by minute first, so points arrive in order.
		r.gauges[sk] = append(r.gauges[sk], point{binary.BigEndian.Uint32(k[:4]), binary.BigEndian.Uint64(value)})
		return nil
	})
	if err != nil {
		return fmt.Errorf("usage: load gauges: %w", err)
	}
	err = r.store.Scan(ctx, storagePrefix, func(key, value []byte) error {
		basin, stream, ok := strings.Cut(string(key[len(storagePrefix):]), "\x00")
		if !ok {
			return nil
		}
		st, err := decodeStorage(value)
		if err != nil {
			r.log.Warn("usage: skipping a stream storage state", "basin", basin, "stream", stream, "err", err)
			return nil
		}
		r.storage[streamKey{basin, stream}] = st
		return nil
	})
	if err != nil {
		return fmt.Errorf("usage: load storage: %w", err)
	}
	return nil
}

// AppendDone is Appended in the stream layer's terms (stream.UsageRecorder).
func (r *Recorder) AppendDone(basin, stream string, express bool, firstSeq, endSeq, bytes uint64, expiresAt time.Time, trimPoint uint64) {
	r.Appended(Append{Basin: basin, Stream: stream, Express: express, FirstSeq: firstSeq, EndSeq: endSeq, Bytes: bytes, ExpiresAt: expiresAt, TrimPoint: trimPoint})
}
