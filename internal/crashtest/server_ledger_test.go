package crashtest

// What the server crash matrix knows about its streams: every batch it
// sent, with its exact records and outcome (acknowledged, rejected with
// 412, or unknown because the server died), and what each verification
// saw. check compares a stream read back after a restart with all of it.

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/s2lite/s2lite/client"
)

type batchKind int

const (
	kindRecords batchKind = iota // envelope records only
	kindFence                    // one fence command, its token names the batch
	kindTrim                     // an envelope record, then a trim command
)

type appendOutcome int

const (
	outPending  appendOutcome = iota
	outAcked                  // 200: durable at ack.start..ack.end
	outRejected               // 412: never appended
	outUnknown                // the request failed (the server died): all or nothing
)

type header struct{ name, value []byte }

// sentRecord is a record as sent: ts is the client timestamp, if any.
type sentRecord struct {
	ts      *uint64
	headers []header
	body    []byte
}

// appendRecord is r as the client sends it.
func (r sentRecord) appendRecord() client.AppendRecord {
	a := client.AppendRecord{Timestamp: r.ts, Body: r.body}
	for _, h := range r.headers {
		a.Headers = append(a.Headers, client.Header{Name: h.name, Value: h.value})
	}
	return a
}

// sentBatch is one append request.
type sentBatch struct {
	id       string
	stream   *streamLedger
	kind     batchKind
	recs     []sentRecord
	newToken string // kindFence
	trimTo   uint64 // kindTrim

	fencingToken *string
	matchSeq     *uint64

	sendMs, doneMs int64 // wall clock around the request
	outcome        appendOutcome
	ack            client.AppendAck
	// at is where a verification found the batch (its first seq num), -1
	// while never found.
	at int64
}

// readRecord is a record as read back.
type readRecord struct {
	seq, ts uint64
	headers []header
	body    []byte
}

// readRecordOf is a record read back through the client.
func readRecordOf(r client.SequencedRecord) readRecord {
	rr := readRecord{seq: r.SeqNum, ts: r.Timestamp, body: r.Body}
	for _, h := range r.Headers {
		rr.headers = append(rr.headers, header{h.Name, h.Value})
	}
	return rr
}

// streamSnapshot is a stream as one server process showed it.
type streamSnapshot struct {
	tail  client.Position
	first uint64 // the first record's seq num (the tail if there is none)
	recs  []readRecord
	token string // the fencing token, from a 412 to a wrong token
}

func (s *streamSnapshot) equal(o *streamSnapshot) bool {
	return s.tail == o.tail && s.first == o.first && s.token == o.token &&
		slices.EqualFunc(s.recs, o.recs, func(a, b readRecord) bool {
			return a.seq == b.seq && a.ts == b.ts && bytes.Equal(a.body, b.body) && headersEqual(a.headers, b.headers)
		})
}

// streamLedger is everything known about one stream.
type streamLedger struct {
	name   string
	fenced bool // clients fence it and append with its token
	trims  bool // clients trim it
	weight int  // how often clients pick it
	// cipher, when set, is the stream's cipher (the basin had it as its
	// stream_cipher when the stream was created); every append and read
	// of the stream carries key.
	cipher string
	key    client.EncryptionKey

	// Live hints for the clients, never checked against.
	nextSeq   uint64 // best guess of the next seq num (match_seq_num)
	tailKnown uint64 // a tail known durable (trim points stay below it)
	token     string // the token to append with

	// Durable knowledge, checked by every verification.
	ackedTrim uint64            // the highest trim point an acknowledged trim set
	fences    map[uint64]string // fence records acknowledged or seen: seq -> token
	seen      map[uint64]uint64 // what the last verification saw: seq -> fingerprint
	lastTail  uint64
	lastFirst uint64
	batches   []*sentBatch
}

// serverLedger is the matrix's knowledge of every stream of one store.
type serverLedger struct {
	mu      sync.Mutex
	basin   string
	streams []*streamLedger
	batches map[string]*sentBatch
}

func newServerLedger(basin string) *serverLedger {
	l := &serverLedger{basin: basin, batches: map[string]*sentBatch{}}
	for _, s := range []struct {
		name          string
		fenced, trims bool
		weight        int
		cipher        string
	}{
		{"plain", false, false, 1, ""},
		{"trimmed", false, true, 3, ""},
		{"fenced", true, false, 2, ""},
		{"fenced-trimmed", true, true, 3, ""},
		// Encrypted at rest: the same checks, on records the server
		// stores sealed and opens with the key on every read.
		{"sealed-aegis", true, true, 2, client.CipherAegis256},
		{"sealed-aes-gcm", false, true, 2, client.CipherAes256Gcm},
	} {
		sl := &streamLedger{name: s.name, fenced: s.fenced, trims: s.trims, weight: s.weight, cipher: s.cipher,
			fences: map[uint64]string{}, seen: map[uint64]uint64{}}
		if s.cipher != "" {
			sl.key = randomEncryptionKey()
		}
		l.streams = append(l.streams, sl)
	}
	return l
}

// randomEncryptionKey is a fresh 32-byte stream key.
func randomEncryptionKey() client.EncryptionKey {
	raw := make([]byte, client.EncryptionKeySize)
	_, _ = rand.Read(raw)
	k, err := client.NewEncryptionKey(raw)
	if err != nil {
		panic(err)
	}
	return k
}

// recordBody is the body of the i-th of n envelope records of batch id.
// It names its batch and place, so a checker knows a record when it sees
// one and can tell whether its batch is whole.
func recordBody(id string, i, n int, payload []byte) []byte {
	return append([]byte(fmt.Sprintf("%s/%d/%d:", id, i, n)), payload...)
}

func parseRecordBody(b []byte) (id string, i, n int, ok bool) {
	head, _, found := bytes.Cut(b, []byte(":"))
	if !found {
		return "", 0, 0, false
	}
	parts := strings.Split(string(head), "/")
	if len(parts) != 3 {
		return "", 0, 0, false
	}
	i, err1 := strconv.Atoi(parts[1])
	n, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || i < 0 || i >= n {
		return "", 0, 0, false
	}
	return parts[0], i, n, true
}

const fenceTokenPrefix = "f:"

func commandOf(r readRecord) string {
	if len(r.headers) == 1 && len(r.headers[0].name) == 0 {
		return string(r.headers[0].value)
	}
	return ""
}

func headersEqual(a, b []header) bool {
	return slices.EqualFunc(a, b, func(x, y header) bool {
		return bytes.Equal(x.name, y.name) && bytes.Equal(x.value, y.value)
	})
}

func fingerprint(r readRecord) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d|%d|", r.seq, r.ts)
	for _, x := range r.headers {
		fmt.Fprintf(h, "%d:%x=%d:%x|", len(x.name), x.name, len(x.value), x.value)
	}
	h.Write(r.body)
	return h.Sum64()
}

// register records a batch about to be sent.
func (l *serverLedger) register(b *sentBatch) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.batches[b.id]; dup {
		panic("crashtest: batch id reused: " + b.id)
	}
	b.at = -1
	l.batches[b.id] = b
	b.stream.batches = append(b.stream.batches, b)
}

// complete records a batch's outcome and updates the clients' hints;
// mismatch is what a rejection (412) said, if anything.
func (l *serverLedger) complete(b *sentBatch, o appendOutcome, ack client.AppendAck, mismatch *client.AppendConditionError, doneMs int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b.outcome, b.ack, b.doneMs = o, ack, doneMs
	s := b.stream
	switch o {
	case outAcked:
		s.nextSeq = max(s.nextSeq, ack.Tail.SeqNum)
		s.tailKnown = max(s.tailKnown, ack.Tail.SeqNum)
		switch b.kind {
		case kindFence:
			s.fences[ack.Start.SeqNum] = b.newToken
			if last, ok := maxKey(s.fences); !ok || last == ack.Start.SeqNum {
				s.token = b.newToken
			}
		case kindTrim:
			// The trim command is the second record.
			s.ackedTrim = max(s.ackedTrim, min(b.trimTo, ack.Start.SeqNum+2))
		}
	case outRejected:
		if mismatch != nil && mismatch.SeqNumMismatch != nil {
			s.nextSeq = *mismatch.SeqNumMismatch
		}
		if mismatch != nil && mismatch.FencingTokenMismatch != nil {
			s.token = *mismatch.FencingTokenMismatch
		}
	}
}

func maxKey(m map[uint64]string) (uint64, bool) {
	if len(m) == 0 {
		return 0, false
	}
	return slices.Max(slices.Collect(maps.Keys(m))), true
}

// settle marks every batch still pending as unknown: the run is over.
func (l *serverLedger) settle(nowMs int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.batches {
		if b.outcome == outPending {
			b.outcome, b.doneMs = outUnknown, nowMs
		}
	}
}

// oldToken is a token the stream had before its current one, to probe
// that appends with it are refused: the newest other token of a known
// fence, else the initial "".
func (l *serverLedger) oldToken(s *streamLedger, current string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	seqs := slices.Sorted(maps.Keys(s.fences))
	for i := len(seqs) - 1; i >= 0; i-- {
		if tok := s.fences[seqs[i]]; tok != current {
			return tok, true
		}
	}
	if current != "" {
		return "", true
	}
	return "", false
}

// checkStats summarises a verification of one stream.
type checkStats struct {
	records, batches, unackedVisible int
}

// check compares a stream as a restarted server shows it with everything
// the ledger knows, and on success adds what it saw to the ledger:
//
//   - sequence numbers run without a gap from the first record to the tail,
//     and neither the tail nor the trim point ever went back;
//   - every record belongs to a batch that was sent to this stream and not
//     rejected, with exactly the headers and body sent, and every batch is
//     whole and in one place (only the first record may be the rest of a
//     batch cut by the trim point);
//   - every acknowledged batch above the trim point is there, at the seq
//     nums of its acknowledgement, with the timestamps it reported;
//   - timestamps follow the stream's client-prefer rules: a client
//     timestamp in the past is kept unless an earlier record's is later, a
//     missing or future one becomes the server's clock (between the request
//     and its reply), and they never decrease;
//   - every batch sent with a fencing token was appended while the stream
//     had that token, and the stream's token now is the last fence's;
//   - the first record is exactly at the trim point: the highest of the
//     trim commands visible, acknowledged, or implied by earlier
//     verifications;
//   - every record an earlier verification saw at or above the trim point
//     is still there, unchanged.
func (l *serverLedger) check(s *streamLedger, snap *streamSnapshot) (checkStats, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var st checkStats
	recs := snap.recs
	first, tail := snap.first, snap.tail.SeqNum
	if tail < s.lastTail {
		return st, fmt.Errorf("the tail went back from %d to %d", s.lastTail, tail)
	}
	if len(recs) == 0 && first != tail {
		return st, fmt.Errorf("no records below the tail %d", tail)
	}
	for i, r := range recs {
		if r.seq != first+uint64(i) {
			return st, fmt.Errorf("gap in the sequence numbers: record %d after %d", r.seq, first+uint64(i)-1)
		}
	}
	if first+uint64(len(recs)) != tail {
		return st, fmt.Errorf("records end at %d, the tail is %d", first+uint64(len(recs)), tail)
	}
	if len(recs) > 0 && recs[len(recs)-1].ts != snap.tail.Timestamp {
		return st, fmt.Errorf("the tail's timestamp %d is not the last record's %d", snap.tail.Timestamp, recs[len(recs)-1].ts)
	}

	// The token at the first record: "" at the start of the stream or on
	// a stream never fenced; past a trim point it is taken from the first
	// batch appended with a token (a fence that may have landed below the
	// trim point is not always known).
	token, tokenKnown := "", first == 0 || !s.fenced

	found := map[*sentBatch]uint64{}
	maxTrim := uint64(0)
	var prevTs uint64
	for i := 0; i < len(recs); {
		r := recs[i]
		prevKnown := i > 0
		if i > 0 {
			prevTs = recs[i-1].ts
			if r.ts < prevTs {
				return st, fmt.Errorf("seq %d: timestamp %d is below the previous record's %d", r.seq, r.ts, prevTs)
			}
		}
		var b *sentBatch
		k := 0 // r is the k-th record of b
		switch cmd := commandOf(r); {
		case cmd == "trim":
			// Only the rest of a trim batch whose first record fell below
			// the trim point, at the first record.
			if i != 0 || len(r.body) != 8 {
				return st, fmt.Errorf("seq %d: a trim command that is not part of a whole batch", r.seq)
			}
			for _, c := range s.batches {
				if c.kind == kindTrim && c.outcome != outRejected && (c.outcome == outAcked && c.ack.Start.SeqNum+1 == r.seq || c.at >= 0 && uint64(c.at)+1 == r.seq) {
					b = c
				}
			}
			if b == nil {
				// Unacknowledged and never seen whole: any trim still in
				// doubt with this trim point.
				to := beUint64(r.body)
				for _, c := range s.batches {
					if c.kind == kindTrim && c.outcome == outUnknown && c.at < 0 && c.trimTo == to {
						b = c
					}
				}
			}
			if b == nil {
				return st, fmt.Errorf("seq %d: a trim command no batch explains", r.seq)
			}
			k = 1
		case cmd == "fence":
			id, ok := strings.CutPrefix(string(r.body), fenceTokenPrefix)
			if !ok {
				return st, fmt.Errorf("seq %d: a fence with a token never sent: %q", r.seq, r.body)
			}
			b = l.batches[id]
		case cmd != "" || (len(r.headers) > 0 && len(r.headers[0].name) == 0):
			return st, fmt.Errorf("seq %d: an unexpected command record %q", r.seq, cmd)
		default:
			id, idx, _, ok := parseRecordBody(r.body)
			if !ok {
				return st, fmt.Errorf("seq %d: a record never sent: body %.80q", r.seq, r.body)
			}
			b, k = l.batches[id], idx
		}
		if b == nil {
			return st, fmt.Errorf("seq %d: a record of a batch never sent", r.seq)
		}
		if b.stream != s {
			return st, fmt.Errorf("seq %d: a record of batch %s, sent to stream %q", r.seq, b.id, b.stream.name)
		}
		if b.outcome == outRejected {
			return st, fmt.Errorf("seq %d: batch %s is visible although it was rejected (412)", r.seq, b.id)
		}
		if k != 0 && i != 0 {
			return st, fmt.Errorf("seq %d: batch %s starts at its record %d: partially visible", r.seq, b.id, k)
		}
		n := len(b.recs) - k
		if i+n > len(recs) {
			return st, fmt.Errorf("seq %d: batch %s has %d of its %d records before the tail: partially visible", r.seq, b.id, len(recs)-i, n)
		}
		start := r.seq - uint64(k)
		if _, dup := found[b]; dup {
			return st, fmt.Errorf("seq %d: batch %s is visible twice", r.seq, b.id)
		}
		if b.at >= 0 && uint64(b.at) != start {
			return st, fmt.Errorf("seq %d: batch %s moved: an earlier verification saw it at %d", r.seq, b.id, b.at)
		}
		for j := range n {
			got, want := recs[i+j], b.recs[k+j]
			if !bytes.Equal(got.body, want.body) || !headersEqual(got.headers, want.headers) {
				return st, fmt.Errorf("seq %d: record %d of batch %s differs from what was sent", got.seq, k+j, b.id)
			}
			pk := prevKnown || j > 0
			pts := prevTs
			if j > 0 {
				pts = recs[i+j-1].ts
			}
			if err := checkTimestamp(b, want, got, pk, pts); err != nil {
				return st, err
			}
		}
		if b.outcome == outAcked {
			a := b.ack
			if a.Start.SeqNum != start || a.End.SeqNum != start+uint64(len(b.recs)) {
				return st, fmt.Errorf("batch %s is at %d..%d, acknowledged at %d..%d", b.id, start, start+uint64(len(b.recs)), a.Start.SeqNum, a.End.SeqNum)
			}
			if k == 0 && a.Start.Timestamp != r.ts || a.End.Timestamp != recs[i+n-1].ts {
				return st, fmt.Errorf("batch %s has timestamps %d..%d, acknowledged %d..%d", b.id, r.ts, recs[i+n-1].ts, a.Start.Timestamp, a.End.Timestamp)
			}
		} else {
			st.unackedVisible++
		}
		if b.fencingToken != nil && !tokenKnown {
			token, tokenKnown = *b.fencingToken, true
		}
		if b.fencingToken != nil && *b.fencingToken != token {
			return st, fmt.Errorf("batch %s was appended with token %q while the stream's token was %q", b.id, *b.fencingToken, token)
		}
		switch b.kind {
		case kindFence:
			token, tokenKnown = b.newToken, true
		case kindTrim:
			maxTrim = max(maxTrim, min(b.trimTo, start+2))
		}
		found[b] = start
		st.batches++
		i += n
	}
	st.records = len(recs)

	// Acknowledged batches above the trim point are all there.
	var lost []string
	for _, b := range s.batches {
		if b.outcome != outAcked || b.ack.End.SeqNum <= first {
			continue
		}
		if at, ok := found[b]; !ok || at != b.ack.Start.SeqNum {
			lost = append(lost, fmt.Sprintf("%s@%d..%d", b.id, b.ack.Start.SeqNum, b.ack.End.SeqNum))
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		return st, fmt.Errorf("%d acknowledged batches are lost (tail %d, trim point %d), e.g. %v", len(lost), tail, first, lost[:min(len(lost), 8)])
	}

	// The trim point.
	wantFirst := max(s.lastFirst, s.ackedTrim, maxTrim)
	if len(recs) > 0 && first != wantFirst {
		return st, fmt.Errorf("the first record is %d, the trim point should be %d (earlier %d, acknowledged trims %d, visible trims %d)",
			first, wantFirst, s.lastFirst, s.ackedTrim, maxTrim)
	}

	// What earlier verifications saw is still there.
	prints := make(map[uint64]uint64, len(recs))
	for _, r := range recs {
		prints[r.seq] = fingerprint(r)
	}
	for seq, fp := range s.seen {
		if seq < first {
			continue
		}
		if got, ok := prints[seq]; !ok || got != fp {
			return st, fmt.Errorf("seq %d: the record an earlier verification saw is gone or changed", seq)
		}
	}

	// The token.
	if tokenKnown && snap.token != token {
		return st, fmt.Errorf("the fencing token is %q, the last fence set %q", snap.token, token)
	}
	if !tokenKnown {
		// Nothing visible tells: the last known fence, or one in doubt.
		want := ""
		if seq, ok := maxKey(s.fences); ok {
			want = s.fences[seq]
		}
		ok := snap.token == want
		for _, b := range s.batches {
			if b.kind == kindFence && b.outcome != outRejected && b.newToken == snap.token {
				ok = true
			}
		}
		if !ok {
			return st, fmt.Errorf("the fencing token is %q: no fence that may have landed set it", snap.token)
		}
	}

	// All good: remember it.
	for b, at := range found {
		b.at = int64(at)
		if b.kind == kindFence {
			s.fences[at] = b.newToken
		}
	}
	s.seen = prints
	s.lastTail, s.lastFirst = tail, first
	s.tailKnown, s.nextSeq, s.token = tail, tail, snap.token
	return st, nil
}

// checkTimestamp checks one record's timestamp against the client-prefer
// rules. prevTs is the previous record's, if prevKnown.
func checkTimestamp(b *sentBatch, sent sentRecord, got readRecord, prevKnown bool, prevTs uint64) error {
	if sent.ts != nil && int64(*sent.ts) <= b.sendMs {
		// A client timestamp not in the future: kept, unless raised to an
		// earlier record's.
		c := *sent.ts
		if got.ts == c || prevKnown && got.ts == prevTs && prevTs > c || !prevKnown && got.ts > c {
			return nil
		}
		return fmt.Errorf("seq %d (batch %s): timestamp %d, the client sent %d (previous record %d)", got.seq, b.id, got.ts, c, prevTs)
	}
	// None or in the future: the server's clock during the request, or
	// the previous record's if that is later.
	lo, hi := uint64(b.sendMs-1), uint64(b.doneMs+1)
	if got.ts >= lo && got.ts <= hi || prevKnown && got.ts == prevTs {
		return nil
	}
	what := "none"
	if sent.ts != nil {
		what = strconv.FormatUint(*sent.ts, 10)
	}
	return fmt.Errorf("seq %d (batch %s): timestamp %d outside the request's time %d..%d (client sent %s, previous record %d)",
		got.seq, b.id, got.ts, lo, hi, what, prevTs)
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}
