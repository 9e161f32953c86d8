package stream

import (
	"errors"
	"testing"
)

// TestImportKeepsPositions: a stream exported from one service (records
// with their positions, tail, trim point, token) and imported into another
// reads back identically, including after a restart, and appends continue
// from the same tail with the same fencing.
func TestImportKeepsPositions(t *testing.T) {
	src := newEnv(t)
	src.basin("imp-basin", BasinConfig{})
	src.stream("imp-basin", "s", StreamConfig{})
	src.appendBodies("imp-basin", "s", "a", "b", "c", "d", "e")
	src.append("imp-basin", "s", AppendInput{Records: []AppendRecord{trimRecord(2)}})
	src.append("imp-basin", "s", AppendInput{Records: []AppendRecord{fenceRecord("tok")}})
	src.append("imp-basin", "s", AppendInput{Records: records("f", "g"), FencingToken: str("tok")})
	want := src.readAll("imp-basin", "s")
	tail := src.tail("imp-basin", "s")
	if want[0].SeqNum != 2 {
		t.Fatalf("the source starts at %d", want[0].SeqNum)
	}

	dst := newEnv(t)
	dst.basin("imp-basin", BasinConfig{})
	dst.stream("imp-basin", "s", StreamConfig{})
	var recs []ImportRecord
	for _, r := range want {
		recs = append(recs, ImportRecord{SeqNum: r.SeqNum, Timestamp: r.Timestamp, Headers: r.Headers, Body: r.Body})
	}
	// In two batches: the first may start past 0 on an empty stream, the
	// second must continue at the tail.
	if _, err := dst.svc.Import(dst.ctx, "imp-basin", "s", recs[:3]); err != nil {
		t.Fatal(err)
	}
	_, err := dst.svc.Import(dst.ctx, "imp-basin", "s", recs[4:])
	var mismatch *SeqNumMismatchError
	if !errors.As(err, &mismatch) || mismatch.ExpectedSeqNum != recs[3].SeqNum {
		t.Fatalf("an import that skips a record: %v", err)
	}
	if _, err := dst.svc.Import(dst.ctx, "imp-basin", "s", recs[3:]); err != nil {
		t.Fatal(err)
	}
	if err := dst.svc.FinishImport(dst.ctx, "imp-basin", "s", tail, want[0].SeqNum, "tok"); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		got := dst.readAll("imp-basin", "s")
		if len(got) != len(want) {
			t.Fatalf("%d records, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i].SeqNum != want[i].SeqNum || got[i].Timestamp != want[i].Timestamp || string(got[i].Body) != string(want[i].Body) {
				t.Fatalf("record %d: %+v, want %+v", i, got[i], want[i])
			}
		}
		if got := dst.tail("imp-basin", "s"); got != tail {
			t.Fatalf("tail %+v, want %+v", got, tail)
		}
	}
	check()
	dst.reopen()
	check()
	// Fencing carried over.
	_, err = dst.svc.Append(dst.ctx, "imp-basin", "s", AppendInput{Records: records("x"), FencingToken: str("other")})
	var fenced *FencingTokenMismatchError
	if !errors.As(err, &fenced) || fenced.CurrentToken != "tok" {
		t.Fatalf("append with a wrong token: %v", err)
	}
	ack := dst.append("imp-basin", "s", AppendInput{Records: records("x"), FencingToken: str("tok")})
	if ack.Start.SeqNum != tail.SeqNum {
		t.Fatalf("the next append landed at %d, want %d", ack.Start.SeqNum, tail.SeqNum)
	}
	// Going back in time is refused.
	dst.stream("imp-basin", "t", StreamConfig{})
	_, err = dst.svc.Import(dst.ctx, "imp-basin", "t", []ImportRecord{{SeqNum: 0, Timestamp: 10}, {SeqNum: 1, Timestamp: 5}})
	if code(err) != "invalid" {
		t.Fatalf("timestamps going back: %v", err)
	}
}

// TestFinishImportOfATrimmedStream: a stream whose records were all
// trimmed at the source imports as its tail and trim point alone.
func TestFinishImportOfATrimmedStream(t *testing.T) {
	e := newEnv(t)
	e.basin("imp-basin", BasinConfig{})
	e.stream("imp-basin", "s", StreamConfig{})
	if err := e.svc.FinishImport(e.ctx, "imp-basin", "s", StreamPosition{SeqNum: 40, Timestamp: 1000}, 40, ""); err != nil {
		t.Fatal(err)
	}
	if tail := e.tail("imp-basin", "s"); tail.SeqNum != 40 || tail.Timestamp != 1000 {
		t.Fatalf("tail %+v", tail)
	}
	if ack := e.appendBodies("imp-basin", "s", "next"); ack.Start.SeqNum != 40 {
		t.Fatalf("next append at %d", ack.Start.SeqNum)
	}
	// A tail past the records without a trim point that covers the gap
	// would invent records: refused.
	e.stream("imp-basin", "u", StreamConfig{})
	if err := e.svc.FinishImport(e.ctx, "imp-basin", "u", StreamPosition{SeqNum: 5}, 0, ""); code(err) != "invalid" {
		t.Fatalf("a tail past nothing: %v", err)
	}
}
