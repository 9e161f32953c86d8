package lincheck

import (
	"math"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Hand-written histories pin the model down: each case is checked against
// the answer it must get, so a model that accepts everything (or nothing)
// fails here.

func op(client int, in Input, call int64, out Output, ret int64) porcupine.Operation {
	if out.Status == Unknown {
		ret = math.MaxInt64
	}
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

func appendIn(recs ...string) Input { return Input{Stream: "s", Kind: Append, Records: recs} }

func ack(start, end uint64) Output { return Output{Status: OK, Start: start, End: end, Tail: end} }

func readIn(start uint64) Input { return Input{Stream: "s", Kind: Read, Start: start} }

func readOut(start uint64, recs ...string) Output {
	out := Output{Status: OK}
	for i, r := range recs {
		out.Records = append(out.Records, Record{Seq: start + uint64(i), Data: r})
	}
	return out
}

var tailIn = Input{Stream: "s", Kind: CheckTail}

func tailOut(n uint64) Output { return Output{Status: OK, Tail: n} }

func withMatch(in Input, m uint64) Input    { in.HasMatch, in.Match = true, m; return in }
func withToken(in Input, t string) Input    { in.HasToken, in.Token = true, t; return in }
func onStream(in Input, s string) Input     { in.Stream = s; return in }
func unknown() Output                       { return Output{Status: Unknown} }
func seqMismatch(n uint64) Output           { return Output{Status: SeqMismatch, Expected: n} }
func tokenMismatch(t string) Output         { return Output{Status: TokenMismatch, Token: t} }
func outOfRange(n uint64) Output            { return Output{Status: OutOfRange, Tail: n} }
func check(ops ...porcupine.Operation) bool { return porcupine.CheckOperations(Model, ops) }

func TestModel(t *testing.T) {
	cases := []struct {
		name string
		ops  []porcupine.Operation
		want bool
	}{
		{"sequential appends and reads", []porcupine.Operation{
			op(0, appendIn("a", "b"), 0, ack(0, 2), 1),
			op(0, appendIn("c"), 2, ack(2, 3), 3),
			op(0, readIn(1), 4, readOut(1, "b", "c"), 5),
			op(0, tailIn, 6, tailOut(3), 7),
		}, true},
		{"read sees a record in the wrong place", []porcupine.Operation{
			op(0, appendIn("a", "b"), 0, ack(0, 2), 1),
			op(0, readIn(0), 2, readOut(0, "b", "a"), 3),
		}, false},
		{"ack at the wrong seq", []porcupine.Operation{
			op(0, appendIn("a"), 0, ack(0, 1), 1),
			op(0, appendIn("b"), 2, ack(0, 1), 3),
		}, false},
		{"read misses an acknowledged record", []porcupine.Operation{
			op(0, appendIn("a"), 0, ack(0, 1), 1),
			op(1, appendIn("b"), 2, ack(1, 2), 3),
			op(1, readIn(0), 4, readOut(0, "a"), 5),
		}, false},
		{"read concurrent with an append may miss it", []porcupine.Operation{
			op(0, appendIn("a"), 0, ack(0, 1), 1),
			op(1, appendIn("b"), 2, ack(1, 2), 6),
			op(1, readIn(0), 4, readOut(0, "a"), 5),
		}, true},
		{"count limits a read", []porcupine.Operation{
			op(0, appendIn("a", "b", "c"), 0, ack(0, 3), 1),
			op(0, Input{Stream: "s", Kind: Read, Start: 0, Count: 2}, 2, readOut(0, "a", "b"), 3),
		}, true},
		{"a read ignoring count is wrong", []porcupine.Operation{
			op(0, appendIn("a", "b", "c"), 0, ack(0, 3), 1),
			op(0, Input{Stream: "s", Kind: Read, Start: 0, Count: 2}, 2, readOut(0, "a", "b", "c"), 3),
		}, false},
		{"416 at the tail", []porcupine.Operation{
			op(0, appendIn("a"), 0, ack(0, 1), 1),
			op(0, readIn(1), 2, outOfRange(1), 3),
		}, true},
		{"416 below the tail is wrong", []porcupine.Operation{
			op(0, appendIn("a"), 0, ack(0, 1), 1),
			op(0, readIn(0), 2, outOfRange(1), 3),
		}, false},
		{"match_seq_num: success at the tail, 412 elsewhere", []porcupine.Operation{
			op(0, withMatch(appendIn("a"), 0), 0, ack(0, 1), 1),
			op(0, withMatch(appendIn("b"), 0), 2, seqMismatch(1), 3),
			op(0, tailIn, 4, tailOut(1), 5),
		}, true},
		{"match_seq_num: 412 with the wrong expectation", []porcupine.Operation{
			op(0, withMatch(appendIn("a"), 5), 0, seqMismatch(4), 1),
		}, false},
		{"match_seq_num: success away from the tail", []porcupine.Operation{
			op(0, appendIn("a"), 0, ack(0, 1), 1),
			op(0, withMatch(appendIn("b"), 0), 2, ack(1, 2), 3),
		}, false},
		{"fence: the batch itself is checked against the old token", []porcupine.Operation{
			op(0, withToken(appendIn("a", FenceRecord("x")), ""), 0, ack(0, 2), 1),
			op(0, withToken(appendIn("b"), ""), 2, tokenMismatch("x"), 3),
			op(0, withToken(appendIn("c"), "x"), 4, ack(2, 3), 5),
			op(0, readIn(1), 6, readOut(1, FenceRecord("x"), "c"), 7),
		}, true},
		{"fence: an old token must not pass", []porcupine.Operation{
			op(0, appendIn(FenceRecord("x")), 0, ack(0, 1), 1),
			op(0, withToken(appendIn("b"), ""), 2, ack(1, 2), 3),
		}, false},
		{"fencing is checked before match_seq_num", []porcupine.Operation{
			op(0, appendIn(FenceRecord("x")), 0, ack(0, 1), 1),
			op(0, withMatch(withToken(appendIn("b"), "y"), 7), 2, seqMismatch(1), 3),
		}, false},
		{"unknown append applied", []porcupine.Operation{
			op(0, appendIn("a"), 0, unknown(), 1),
			op(1, readIn(0), 2, readOut(0, "a"), 3),
		}, true},
		{"unknown append not applied", []porcupine.Operation{
			op(0, appendIn("a"), 0, unknown(), 1),
			op(1, appendIn("b"), 2, ack(0, 1), 3),
			op(1, readIn(0), 4, readOut(0, "b"), 5),
		}, true},
		{"unknown append applied late, after a read that missed it", []porcupine.Operation{
			op(0, appendIn("a"), 0, unknown(), 1),
			op(1, tailIn, 2, tailOut(0), 3),
			op(1, readIn(0), 4, readOut(0, "a"), 5),
		}, true},
		{"unknown append cannot disappear once seen", []porcupine.Operation{
			op(0, appendIn("a"), 0, unknown(), 1),
			op(1, readIn(0), 2, readOut(0, "a"), 3),
			op(1, tailIn, 4, tailOut(0), 5),
		}, false},
		{"streams are independent", []porcupine.Operation{
			op(0, appendIn("a"), 0, ack(0, 1), 1),
			op(1, onStream(appendIn("b"), "t"), 0, ack(0, 1), 1),
			op(1, onStream(readIn(0), "t"), 2, readOut(0, "b"), 3),
		}, true},
	}
	for _, c := range cases {
		if got := check(c.ops...); got != c.want {
			t.Errorf("%s: linearizable = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestResolveUnknown(t *testing.T) {
	ops := []porcupine.Operation{
		op(0, appendIn("a"), 0, ack(0, 1), 1),
		op(1, appendIn("b", "c"), 2, unknown(), 3), // landed at 1
		op(2, appendIn("d"), 2, unknown(), 3),      // never landed
		op(3, appendIn(FenceRecord("")), 2, unknown(), 3),
		op(3, appendIn(FenceRecord("")), 4, unknown(), 5), // same record twice: cannot tell
	}
	final := map[string][]string{"s": {"a", "b", "c", FenceRecord("")}}
	got, applied, dropped := ResolveUnknown(ops, final)
	if applied != 1 || dropped != 1 || len(got) != 4 {
		t.Fatalf("applied %d dropped %d kept %d, want 1, 1, 4", applied, dropped, len(got))
	}
	if out := got[1].Output.(Output); out.Status != OK || out.Start != 1 || out.End != 3 {
		t.Errorf("resolved %+v, want [1,3)", out)
	}
	for _, o := range got[2:] {
		if o.Output.(Output).Status != Unknown {
			t.Errorf("fence of a repeated token resolved: %+v", o.Output)
		}
	}
}

// TestCheckVisualizes makes sure a failing check explains itself.
func TestCheckVisualizes(t *testing.T) {
	res, err := Check([]porcupine.Operation{
		op(0, appendIn("a"), 0, ack(0, 1), 1),
		op(0, readIn(0), 2, readOut(0, "b"), 3),
	}, 10*time.Second, t.TempDir())
	if res != porcupine.Illegal || err == nil {
		t.Fatalf("got %v, %v; want Illegal with an error", res, err)
	}
	t.Log(err)
}
