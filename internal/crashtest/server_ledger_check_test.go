package crashtest

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/s2lite/s2lite/client"
)

// TestServerLedgerCheck makes sure the checker of the server crash matrix
// catches what it is meant to catch, on a hand-made stream. It needs no
// failpoints and runs in the ordinary test suite.
func TestServerLedgerCheck(t *testing.T) {
	type scenario struct {
		l    *serverLedger
		s    *streamLedger
		snap *streamSnapshot
		b    map[string]*sentBatch
	}
	// A fenced, trimmed stream: a 3-record batch, a fence, a batch with the
	// new token, a trim batch to 2, a batch in doubt that landed, and a
	// rejected one that did not. The first 2 records are trimmed.
	build := func() scenario {
		l := newServerLedger(crashBasin)
		s := l.streams[3]
		ts := func(v uint64) *uint64 { return &v }
		tok := func(v string) *string { return &v }
		rec := func(id string, i, n int, t *uint64) sentRecord {
			return sentRecord{ts: t, headers: []header{{[]byte("h"), []byte{0, byte(i)}}}, body: recordBody(id, i, n, []byte("x"))}
		}
		var to [8]byte
		binary.BigEndian.PutUint64(to[:], 2)
		bs := []*sentBatch{
			{id: "a", kind: kindRecords, recs: []sentRecord{rec("a", 0, 3, ts(100)), rec("a", 1, 3, ts(50)), rec("a", 2, 3, nil)}, fencingToken: tok("")},
			{id: "f", kind: kindFence, newToken: "f:f", recs: []sentRecord{{headers: []header{{nil, []byte("fence")}}, body: []byte("f:f")}}, fencingToken: tok("")},
			{id: "b", kind: kindRecords, recs: []sentRecord{rec("b", 0, 2, ts(700)), rec("b", 1, 2, ts(1000))}, fencingToken: tok("f:f")},
			{id: "t", kind: kindTrim, trimTo: 2, recs: []sentRecord{rec("t", 0, 2, nil), {headers: []header{{nil, []byte("trim")}}, body: to[:]}}, fencingToken: tok("f:f")},
			{id: "u", kind: kindRecords, recs: []sentRecord{rec("u", 0, 2, nil), rec("u", 1, 2, nil)}, fencingToken: tok("f:f")},
			{id: "r", kind: kindRecords, recs: []sentRecord{rec("r", 0, 1, nil)}, fencingToken: tok("old")},
		}
		stamps := [][]uint64{{100, 100, 1000}, {1000}, {1000, 1000}, {5000, 5000}, {5001, 5002}, {}}
		snap := &streamSnapshot{token: "f:f"}
		seq := uint64(0)
		m := map[string]*sentBatch{}
		for i, b := range bs {
			b.stream, b.sendMs, b.doneMs = s, 1000, 6000
			l.register(b)
			m[b.id] = b
			switch b.id {
			case "r":
				l.complete(b, outRejected, client.AppendAck{}, &client.AppendConditionError{FencingTokenMismatch: tok("f:f")}, 6000)
				continue
			case "u":
				l.complete(b, outUnknown, client.AppendAck{}, nil, 6000)
			default:
				n := uint64(len(b.recs))
				ack := client.AppendAck{Start: pos(seq, stamps[i][0]), End: pos(seq+n, stamps[i][n-1]), Tail: pos(seq+n, stamps[i][n-1])}
				l.complete(b, outAcked, ack, nil, 6000)
			}
			for j, r := range b.recs {
				snap.recs = append(snap.recs, readRecord{seq: seq, ts: stamps[i][j], headers: r.headers, body: r.body})
				seq++
			}
		}
		snap.recs = snap.recs[2:]
		snap.first = 2
		last := snap.recs[len(snap.recs)-1]
		snap.tail = pos(last.seq+1, last.ts)
		return scenario{l, s, snap, m}
	}

	sc := build()
	st, err := sc.l.check(sc.s, sc.snap)
	if err != nil {
		t.Fatalf("the consistent stream fails the check: %v", err)
	}
	if st.unackedVisible != 1 {
		t.Fatalf("%d unacknowledged batches visible, want 1", st.unackedVisible)
	}
	// A second look at the same stream passes too; one that lost a record
	// the first saw does not.
	if _, err := sc.l.check(sc.s, sc.snap); err != nil {
		t.Fatalf("second check: %v", err)
	}
	cut(sc.snap, 1)
	if _, err := sc.l.check(sc.s, sc.snap); err == nil {
		t.Fatal("a stream that lost records passes the check")
	}

	for _, c := range []struct {
		name   string
		mutate func(sc scenario)
		want   string
	}{
		{"lost-ack", func(sc scenario) { cut(sc.snap, 4) }, "acknowledged batches are lost"},
		{"partial", func(sc scenario) { cut(sc.snap, len(sc.snap.recs)-1) }, "partially visible"},
		{"gap", func(sc scenario) { sc.snap.recs[2].seq++ }, "gap"},
		{"body", func(sc scenario) {
			sc.snap.recs[3].body = append([]byte(nil), sc.snap.recs[3].body...)
			sc.snap.recs[3].body[len(sc.snap.recs[3].body)-1] ^= 1
		}, "differs"},
		{"foreign", func(sc scenario) {
			sc.snap.recs[2].body = append([]byte(nil), sc.snap.recs[2].body...)
			sc.snap.recs[2].body[0] = 'z'
		}, "never sent"},
		{"header", func(sc scenario) { sc.snap.recs[3].headers = nil }, "differs"},
		{"client-timestamp", func(sc scenario) { sc.snap.recs[3].ts = 1500 }, "the client sent"},
		{"server-timestamp", func(sc scenario) { sc.snap.recs[6].ts = 7000; sc.snap.recs[7].ts = 7000; sc.snap.tail.Timestamp = 7000 }, "outside the request"},
		{"ack-timestamp", func(sc scenario) { sc.b["b"].ack.End.Timestamp = 4000 }, "acknowledged"},
		{"moved", func(sc scenario) { sc.b["b"].ack.Start.SeqNum, sc.b["b"].ack.End.SeqNum = 5, 7 }, "acknowledged at"},
		{"token", func(sc scenario) { sc.snap.token = "other" }, "fencing token"},
		{"fenced-append", func(sc scenario) { *sc.b["b"].fencingToken = "" }, "while the stream's token"},
		{"trim-point", func(sc scenario) { sc.s.ackedTrim = 3 }, "trim point"},
		{"tail", func(sc scenario) { sc.s.lastTail = 100 }, "went back"},
		{"rejected", func(sc scenario) {
			r := sc.b["r"]
			last := sc.snap.recs[len(sc.snap.recs)-1]
			sc.snap.recs = append(sc.snap.recs, readRecord{seq: last.seq + 1, ts: last.ts, headers: r.recs[0].headers, body: r.recs[0].body})
			sc.snap.tail.SeqNum++
		}, "rejected"},
	} {
		sc := build()
		c.mutate(sc)
		_, err := sc.l.check(sc.s, sc.snap)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: check returned %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// cut keeps the first n records of a snapshot and moves its tail there.
func cut(s *streamSnapshot, n int) {
	s.recs = s.recs[:n]
	last := s.recs[n-1]
	s.tail = pos(last.seq+1, last.ts)
}

func pos(seq, ts uint64) client.Position { return client.Position{SeqNum: seq, Timestamp: ts} }
