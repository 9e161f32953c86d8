package clustertest

// The ledger: every append the workload makes, with its outcome
// (acknowledged at [start, end), unknown, or rejected), and every record a
// reader saw. A check reads a stream back from seq 0 and holds it against
// the ledger: contiguous sequence numbers, every acknowledged append at
// its acknowledged positions with its bodies, no body twice, appends of
// unknown outcome all there (in order, together) or not at all, rejected
// ones absent, nothing that was never sent, and everything a reader saw
// still there at the same position.

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

type outcome int

const (
	pending outcome = iota
	acked
	unknown  // no answer, 408, 5xx: may or may not have been applied
	rejected // an answer that guarantees no effect (4xx, 429)
)

func (o outcome) String() string {
	return [...]string{"pending", "acked", "unknown", "rejected"}[o]
}

type appendOp struct {
	stream     *streamLedger
	writer     string
	bodies     []string
	via        string // the node the request was sent to
	session    string // for a batch of an append session, which session
	sent, done time.Time
	outcome    outcome
	status     int // 0: no answer
	start, end uint64
	servedBy   string
	detail     string
}

func (op *appendOp) String() string {
	s := fmt.Sprintf("%s/%s append of %d by %s via %s sent at +%.2fs", op.stream.basin, op.stream.name, len(op.bodies), op.writer, op.via,
		op.sent.Sub(op.stream.l.begin).Seconds())
	if op.session != "" {
		s += " on " + op.session
	}
	switch op.outcome {
	case acked:
		s += fmt.Sprintf(", acked [%d,%d) by %s after %v", op.start, op.end, op.servedBy, op.done.Sub(op.sent).Round(time.Millisecond))
	default:
		s += fmt.Sprintf(", %s (%s) after %v", op.outcome, op.detail, op.done.Sub(op.sent).Round(time.Millisecond))
	}
	return s
}

type observation struct {
	body, via, servedBy string
	at                  time.Time
}

type streamLedger struct {
	l           *ledger
	basin, name string

	mu       sync.Mutex
	ops      []*appendOp
	byBody   map[string]*appendOp
	ackedEnd uint64 // the highest end of an acknowledged append
	observed map[uint64]observation
}

type ledger struct {
	begin   time.Time
	streams []*streamLedger

	mu         sync.Mutex
	violations []string
	reported   int // violations already reported by a check
}

func newLedger(begin time.Time) *ledger { return &ledger{begin: begin} }

func (l *ledger) addStream(basin, name string) *streamLedger {
	sl := &streamLedger{l: l, basin: basin, name: name, byBody: map[string]*appendOp{}, observed: map[uint64]observation{}}
	l.streams = append(l.streams, sl)
	return sl
}

// violate records a broken guarantee. The first thousand are kept.
func (l *ledger) violate(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.violations) < 1000 {
		l.violations = append(l.violations, fmt.Sprintf(format, args...))
	}
}

// newViolations returns the violations recorded since the last call.
func (l *ledger) newViolations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.violations[l.reported:]
	l.reported = len(l.violations)
	return v
}

// begin registers an append about to be sent.
func (sl *streamLedger) begin(writer, via string, bodies []string) *appendOp {
	return sl.beginOn(writer, via, "", bodies)
}

// beginOn registers a batch about to be sent on an append session.
func (sl *streamLedger) beginOn(writer, via, session string, bodies []string) *appendOp {
	op := &appendOp{stream: sl, writer: writer, bodies: bodies, via: via, session: session, sent: time.Now()}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.ops = append(sl.ops, op)
	for _, b := range bodies {
		if _, dup := sl.byBody[b]; dup {
			panic("clustertest: body reused: " + b)
		}
		sl.byBody[b] = op
	}
	return op
}

// finish records the answer to op.
func (sl *streamLedger) finish(op *appendOp, ack appendAck, ans answer) {
	done := time.Now()
	sl.mu.Lock()
	defer sl.mu.Unlock()
	op.done, op.status, op.servedBy = done, ans.status, ans.servedBy
	switch {
	case ans.status == http.StatusOK && ans.err == nil:
		op.outcome, op.start, op.end = acked, ack.Start.SeqNum, ack.End.SeqNum
		if op.end-op.start != uint64(len(op.bodies)) {
			sl.l.violate("%s: ack [%d,%d) for %d records", op, op.start, op.end, len(op.bodies))
		}
		if op.servedBy == "" {
			sl.l.violate("%s: acknowledged without an %s header", op, servedByHeader)
		}
		sl.ackedEnd = max(sl.ackedEnd, op.end)
	case ans.status == 0, ans.status == http.StatusOK, ans.status == http.StatusRequestTimeout, ans.status == 499, ans.status >= 500:
		op.outcome, op.detail = unknown, ans.String()
		if ans.status == http.StatusOK {
			sl.l.violate("%s: undecodable ack: %v", op, ans.err)
		}
	default:
		op.outcome, op.detail = rejected, ans.String()
		if ans.status != http.StatusTooManyRequests {
			// The workload's appends are all valid: a 4xx means the
			// cluster lost track of the basin or stream.
			sl.l.violate("%s: unexpected answer %s", op, ans)
		}
	}
}

// ackedThrough is the highest end of the appends acknowledged so far: a
// read sent now must see at least that far.
func (sl *streamLedger) ackedThrough() uint64 {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.ackedEnd
}

// observeRead checks one unary read of at most count records from seq
// from, sent when the stream was acknowledged through ackedBefore.
func (sl *streamLedger) observeRead(from uint64, count int, recs []jsonRecord, tail416 uint64, got416 bool, ackedBefore uint64, via, servedBy string) {
	at := time.Now()
	sl.mu.Lock()
	defer sl.mu.Unlock()
	where := fmt.Sprintf("%s/%s read from %d via %s (served by %q) at +%.2fs", sl.basin, sl.name, from, via, servedBy, at.Sub(sl.l.begin).Seconds())
	if got416 {
		if tail416 < ackedBefore {
			sl.l.violate("%s: stale: 416 with tail %d, but appends were acknowledged through %d before it was sent", where, tail416, ackedBefore)
		}
		return
	}
	if len(recs) < count && from+uint64(len(recs)) < ackedBefore {
		sl.l.violate("%s: stale: %d records (to %d), but appends were acknowledged through %d before it was sent", where, len(recs), from+uint64(len(recs)), ackedBefore)
	}
	for i, r := range recs {
		seq := from + uint64(i)
		if r.SeqNum != seq {
			sl.l.violate("%s: record %d has seq_num %d", where, seq, r.SeqNum)
			return
		}
		op, ok := sl.byBody[r.Body]
		if !ok {
			sl.l.violate("%s: record %d %q was never appended", where, seq, r.Body)
			continue
		}
		if op.outcome == acked {
			if k := indexOf(op.bodies, r.Body); op.start+uint64(k) != seq {
				sl.l.violate("%s: record %d %q, but it was acknowledged at %d (%s)", where, seq, r.Body, op.start+uint64(k), op)
			}
		}
		if prev, ok := sl.observed[seq]; ok {
			if prev.body != r.Body {
				sl.l.violate("%s: record %d is %q, but a read via %s (served by %q) at +%.2fs saw %q", where, seq, r.Body,
					prev.via, prev.servedBy, prev.at.Sub(sl.l.begin).Seconds(), prev.body)
			}
			continue
		}
		sl.observed[seq] = observation{body: r.Body, via: via, servedBy: servedBy, at: at}
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// checkStats counts what a check found.
type checkStats struct {
	records, acked, unknownIn, unknownOut, rejected int
}

func (s checkStats) add(o checkStats) checkStats {
	return checkStats{s.records + o.records, s.acked + o.acked, s.unknownIn + o.unknownIn, s.unknownOut + o.unknownOut, s.rejected + o.rejected}
}

func (s checkStats) String() string {
	return fmt.Sprintf("%d records; appends: %d acknowledged (all present), %d unknown present, %d unknown absent, %d rejected",
		s.records, s.acked, s.unknownIn, s.unknownOut, s.rejected)
}

// verify holds the whole stream, read from seq 0 through via, against
// the ledger. No append may be in flight.
func (sl *streamLedger) verify(recs []jsonRecord, via string) checkStats {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	name := fmt.Sprintf("%s/%s (read via %s)", sl.basin, sl.name, via)
	var st checkStats
	st.records = len(recs)
	pos := make(map[string]uint64, len(recs))
	for i, r := range recs {
		if r.SeqNum != uint64(i) {
			sl.l.violate("%s: record %d has seq_num %d: the log has a gap or is out of order", name, i, r.SeqNum)
			return st
		}
		if prev, dup := pos[r.Body]; dup {
			op := sl.byBody[r.Body]
			sl.l.violate("%s: body %q at %d and again at %d: an append applied twice (%v)", name, r.Body, prev, i, op)
			continue
		}
		pos[r.Body] = uint64(i)
		if _, ok := sl.byBody[r.Body]; !ok {
			sl.l.violate("%s: record %d %q was never appended", name, i, r.Body)
		}
	}
	for _, op := range sl.ops {
		switch op.outcome {
		case pending:
			sl.l.violate("%s: %s still in flight during a check", name, op)
		case acked:
			st.acked++
			for k, b := range op.bodies {
				seq := op.start + uint64(k)
				switch {
				case seq >= uint64(len(recs)):
					sl.l.violate("%s: LOST: %s: record %d missing (the stream ends at %d)", name, op, seq, len(recs))
				case recs[seq].Body != b:
					sl.l.violate("%s: LOST: %s: record %d is %q, want %q", name, op, seq, recs[seq].Body, b)
				}
			}
		case unknown, rejected:
			present := 0
			for _, b := range op.bodies {
				if _, ok := pos[b]; ok {
					present++
				}
			}
			switch {
			case present == 0 && op.outcome == unknown:
				st.unknownOut++
			case present == 0:
				st.rejected++
			case op.outcome == rejected:
				sl.l.violate("%s: %s: rejected, yet %d of its records are in the stream", name, op, present)
			case present < len(op.bodies):
				sl.l.violate("%s: %s: only %d of its %d records are in the stream", name, op, present, len(op.bodies))
			default:
				first := pos[op.bodies[0]]
				for k, b := range op.bodies {
					if pos[b] != first+uint64(k) {
						sl.l.violate("%s: %s: its records are not together and in order (%q at %d, first at %d)", name, op, b, pos[b], first)
						break
					}
				}
				st.unknownIn++
			}
		}
	}
	for seq, o := range sl.observed {
		switch {
		case seq >= uint64(len(recs)):
			sl.l.violate("%s: record %d %q was read via %s (served by %q) at +%.2fs but is gone (the stream ends at %d)", name, seq, o.body,
				o.via, o.servedBy, o.at.Sub(sl.l.begin).Seconds(), len(recs))
		case recs[seq].Body != o.body:
			sl.l.violate("%s: record %d is %q, but a read via %s (served by %q) at +%.2fs saw %q", name, seq, recs[seq].Body,
				o.via, o.servedBy, o.at.Sub(sl.l.begin).Seconds(), o.body)
		}
	}
	return st
}

// acksServedBy lists the acknowledged appends served by node that were
// sent after since.
func (l *ledger) acksServedBy(node string, since time.Time) []*appendOp {
	var out []*appendOp
	for _, sl := range l.streams {
		sl.mu.Lock()
		for _, op := range sl.ops {
			if op.outcome == acked && op.servedBy == node && op.sent.After(since) {
				out = append(out, op)
			}
		}
		sl.mu.Unlock()
	}
	return out
}

// phaseStats summarises the appends sent in [from, to): outcomes, answers
// and which node served the acknowledged ones.
func (l *ledger) phaseStats(from, to time.Time) string {
	var n [4]int
	statuses := map[string]int{}
	served := map[string]int{}
	for _, sl := range l.streams {
		sl.mu.Lock()
		for _, op := range sl.ops {
			if op.sent.Before(from) || !op.sent.Before(to) {
				continue
			}
			n[op.outcome]++
			switch op.outcome {
			case acked:
				served[op.servedBy]++
			case unknown, rejected:
				k := "no answer"
				if op.status != 0 {
					k = fmt.Sprint(op.status)
				}
				statuses[k]++
			}
		}
		sl.mu.Unlock()
	}
	return fmt.Sprintf("appends: %d acked (served by %s), %d unknown, %d rejected; failures by status: %s",
		n[acked], countsString(served), n[unknown], n[rejected], countsString(statuses))
}

// longestOutage is, over the streams, the longest time within [from, to)
// in which a stream had no append acknowledged (the phase's edges count as
// acknowledgements), and the stream it was on.
func (l *ledger) longestOutage(from, to time.Time) (time.Duration, string) {
	var worst time.Duration
	where := ""
	for _, sl := range l.streams {
		sl.mu.Lock()
		times := []time.Time{from}
		for _, op := range sl.ops {
			if op.outcome == acked && !op.done.Before(from) && op.done.Before(to) {
				times = append(times, op.done)
			}
		}
		sl.mu.Unlock()
		times = append(times, to)
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		for i := 1; i < len(times); i++ {
			if d := times[i].Sub(times[i-1]); d > worst {
				worst = d
				where = fmt.Sprintf("%s/%s from +%.1fs", sl.basin, sl.name, times[i-1].Sub(l.begin).Seconds())
			}
		}
	}
	return worst, where
}

func countsString(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for i, k := range ks {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}
