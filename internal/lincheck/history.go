package lincheck

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// History records operations concurrently. Times are nanoseconds on the
// monotonic clock since the history began.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// NewHistory returns an empty history whose clock starts now.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the current time on the history's clock.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Meta is an operation's metadata: facts the checker does not use.
type Meta struct {
	Server     string        // base URL of the server that answered
	HTTPStatus int           // 0 when no response came
	Took       time.Duration // real duration, also of unknown outcomes
}

func (m Meta) String() string { return fmt.Sprintf("%d from %s in %v", m.HTTPStatus, m.Server, m.Took) }

// Add records one completed call; meta.Took is filled in. An Unknown
// outcome gets an infinite return time: the call may take effect at any
// point after it was made, or never.
func (h *History) Add(client int, meta Meta, in Input, call int64, out Output, ret int64) {
	meta.Took = time.Duration(ret - call)
	if out.Status == Unknown {
		ret = math.MaxInt64
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret, Metadata: meta})
}

// answeredBy is the server that answered op, if recorded.
func answeredBy(op porcupine.Operation) string {
	m, _ := op.Metadata.(Meta)
	return m.Server
}

// Operations returns a copy of the recorded operations.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// ResolveUnknown pins down appends of unknown outcome using the final
// contents of each stream, read after every client stopped. Records are
// never removed in these workloads, so an append whose record is absent
// from the final contents was not applied by any linearization that agrees
// with the final reads (themselves part of the history): it is dropped.
// One whose record is at seq S is applied there, which fixes its place in
// any linearization; its return time stays infinite. This is exact, not a
// weakening: it only prunes linearizations the final reads reject anyway,
// and without it every unapplied unknown append could be placed anywhere,
// which makes the search exponential.
//
// Only a record that occurs in exactly one append of the stream can
// identify it (fences to a reused token repeat); appends without such a
// record keep their unknown outcome. final maps stream -> records in seq
// order from 0. It returns the new history and how many appends it found
// applied and dropped.
func ResolveUnknown(ops []porcupine.Operation, final map[string][]string) (out []porcupine.Operation, applied, dropped int) {
	inInputs := map[string]map[string]int{}
	for _, op := range ops {
		in := op.Input.(Input)
		if in.Kind != Append {
			continue
		}
		if inInputs[in.Stream] == nil {
			inInputs[in.Stream] = map[string]int{}
		}
		for _, r := range in.Records {
			inInputs[in.Stream][r]++
		}
	}
	inFinal := map[string]map[string][]uint64{}
	for name, recs := range final {
		m := make(map[string][]uint64, len(recs))
		for i, r := range recs {
			m[r] = append(m[r], uint64(i))
		}
		inFinal[name] = m
	}
	out = make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		in, res := op.Input.(Input), op.Output.(Output)
		if in.Kind != Append || res.Status != Unknown {
			out = append(out, op)
			continue
		}
		key := -1
		for i, r := range in.Records {
			if inInputs[in.Stream][r] == 1 {
				key = i
				break
			}
		}
		if key < 0 {
			out = append(out, op)
			continue
		}
		seqs := inFinal[in.Stream][in.Records[key]]
		switch {
		case len(seqs) == 0:
			dropped++
			continue
		case len(seqs) > 1 || seqs[0] < uint64(key):
			// Not something this batch can have produced: leave it to the
			// checker, which rejects the history.
			out = append(out, op)
			continue
		}
		start := seqs[0] - uint64(key)
		n := uint64(len(in.Records))
		op.Output = Output{Status: OK, Start: start, End: start + n, Tail: start + n}
		out = append(out, op)
		applied++
	}
	return out, applied, dropped
}

// Stats summarises a history per stream.
type Stats struct {
	Ops, Appends, AppendsOK, Unknown, SeqMismatch, TokenMismatch int
	Reads, OutOfRange, Tails                                     int
}

func (s Stats) String() string {
	return fmt.Sprintf("%d ops: %d appends (%d ok, %d unknown, %d seq 412, %d token 412), %d reads (%d 416), %d check-tails",
		s.Ops, s.Appends, s.AppendsOK, s.Unknown, s.SeqMismatch, s.TokenMismatch, s.Reads, s.OutOfRange, s.Tails)
}

// Summarise counts operations by stream.
func Summarise(ops []porcupine.Operation) map[string]Stats {
	out := map[string]Stats{}
	for _, op := range ops {
		in, res := op.Input.(Input), op.Output.(Output)
		s := out[in.Stream]
		s.Ops++
		switch in.Kind {
		case Append:
			s.Appends++
			switch res.Status {
			case OK:
				s.AppendsOK++
			case Unknown:
				s.Unknown++
			case SeqMismatch:
				s.SeqMismatch++
			case TokenMismatch:
				s.TokenMismatch++
			}
		case Read:
			s.Reads++
			if res.Status == OutOfRange {
				s.OutOfRange++
			}
		case CheckTail:
			s.Tails++
		}
		out[in.Stream] = s
	}
	return out
}
