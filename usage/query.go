package usage

import (
	"sort"
)

// Point is one (timestamp, value) of a timeseries; T is epoch seconds.
type Point struct {
	T uint32
	V uint64
}

// Series is one labelled timeseries of a counter metric.
type Series struct {
	Label  string
	Points []Point
}

// Accumulations returns the series of metric in scope ("" for the
// account) at resolution res whose buckets start in [start, end]: one per
// label of labels, in that order, with its points (empty when none), or,
// when labels is nil, one per label with a non-zero bucket in the range,
// sorted by label. Only buckets with a value are returned.
func (r *Recorder) Accumulations(scope, metric string, labels []string, res Resolution, start, end uint32) []Series {
	r.mu.Lock()
	defer r.mu.Unlock()
	from := floorTo(int64(start), res)
	collect := func(s *series) []Point {
		if s == nil {
			return nil
		}
		var ps []Point
		for t, v := range s.buckets[res] {
			if t >= from && t <= end && v > 0 {
				ps = append(ps, Point{t, v})
			}
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].T < ps[j].T })
		return ps
	}
	m := r.counters[scope]
	if labels != nil {
		out := make([]Series, 0, len(labels))
		for _, l := range labels {
			out = append(out, Series{Label: l, Points: collect(m[seriesKey{metric, l}])})
		}
		return out
	}
	var out []Series
	for sk, s := range m {
		if sk.metric != metric {
			continue
		}
		if ps := collect(s); len(ps) > 0 {
			out = append(out, Series{Label: sk.label, Points: ps})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out
}

// Storage returns the storage gauge of a stream (or of the basin, when
// stream is "") sampled every res from start to end: each point is the
// value at the end of its step (the current value for a step in
// progress). Steps before the first known value, and steps in the future,
// have no point.
func (r *Recorder) Storage(basin, stream string, res Resolution, start, end uint32) []Point {
	now := r.nowSecs()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireStreamsLocked(now)
	ps := r.gauges[streamKey{basin, stream}]
	if len(ps) == 0 {
		return nil
	}
	step := res.Seconds()
	var out []Point
	for t := floorTo(int64(start), res); t <= end && int64(t) <= now; t += step {
		// The last change point in [.., t+step).
		i := sort.Search(len(ps), func(i int) bool { return ps[i].minute >= t+step }) - 1
		if i < 0 {
			continue
		}
		out = append(out, Point{t, ps[i].value})
		if t+step < t {
			break // overflow
		}
	}
	return out
}

// expireStreamsLocked applies retention expiry to the stream storage
// gauges, so that a query sees bytes that expired since the last flush.
func (r *Recorder) expireStreamsLocked(now int64) {
	for sk, st := range r.storage {
		before := st.total
		if st.expire(now) {
			r.dirtyStorage[sk] = struct{}{}
			r.storageChangedLocked(now, sk, before, st.total)
		}
	}
}

// ActiveBasins returns, sorted, the basins with any counted activity or
// stored bytes in [start, end].
func (r *Recorder) ActiveBasins(start, end uint32) []string {
	now := r.nowSecs()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireStreamsLocked(now)
	active := map[string]bool{}
	for scope, m := range r.counters {
		if scope == "" {
			continue
		}
	series:
		for _, s := range m {
			for res := Minute; res <= Day; res++ {
				from := floorTo(int64(start), res)
				for t, v := range s.buckets[res] {
					if v > 0 && t >= from && t <= end {
						active[scope] = true
						break series
					}
				}
			}
		}
	}
	for sk, ps := range r.gauges {
		if sk.stream != "" || active[sk.basin] {
			continue
		}
		// Non-zero at start, or at any change within the range.
		i := sort.Search(len(ps), func(i int) bool { return ps[i].minute > start }) - 1
		if i >= 0 && ps[i].value > 0 {
			active[sk.basin] = true
			continue
		}
		for _, p := range ps[i+1:] {
			if p.minute > end {
				break
			}
			if p.value > 0 {
				active[sk.basin] = true
				break
			}
		}
	}
	out := make([]string, 0, len(active))
	for b := range active {
		out = append(out, b)
	}
	sort.Strings(out)
	return out
}

// StreamStorage returns a stream's current stored bytes (0 if unknown).
func (r *Recorder) StreamStorage(basin, stream string) uint64 {
	now := r.nowSecs()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireStreamsLocked(now)
	if st := r.storage[streamKey{basin, stream}]; st != nil {
		return st.total
	}
	return 0
}
