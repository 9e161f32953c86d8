package lincheck

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/s2lite/s2lite/objstore"
)

// TestNegativeControl records a real history, checks that it passes, then
// corrupts it in ways a broken server could and checks that each corrupted
// copy is rejected. It shows that the checker, the model and the recorded
// histories together can fail.
func TestNegativeControl(t *testing.T) {
	r := run{size: size{streams: 2, clients: 3, calls: 60}, seed: seed(t)}
	t.Logf("seed %d", r.seed)
	res := r.workload(t, objstore.NewMemory())
	if _, err := Check(res.ops, checkTimeout, ""); err != nil {
		t.Fatalf("the uncorrupted history must pass: %v", err)
	}

	corruptions := []struct {
		name string
		// corrupt changes ops in place; false if the history offers no
		// place for this corruption.
		corrupt func(ops []porcupine.Operation) bool
	}{
		{"swap the results of two reads", swapReads},
		{"change the body of a record a read returned", alterRecord},
		{"a read misses a record acknowledged before it began", staleRead},
		{"a check-tail misses an append acknowledged before it began", staleTail},
		{"two appends acknowledged at the same position", duplicateAck},
	}
	for _, c := range corruptions {
		ops := slices.Clone(res.ops)
		if !c.corrupt(ops) {
			t.Errorf("%s: the history has no place for it; make the workload richer", c.name)
			continue
		}
		start := time.Now()
		got, _ := Check(ops, checkTimeout, "")
		if got != porcupine.Illegal {
			t.Errorf("%s: checker says %v, want %v", c.name, got, porcupine.Illegal)
			continue
		}
		t.Logf("%s: rejected in %v", c.name, time.Since(start).Round(time.Millisecond))
	}
}

func isOK(op porcupine.Operation, kind Kind) bool {
	return op.Input.(Input).Kind == kind && op.Output.(Output).Status == OK && op.Return != math.MaxInt64
}

func swapReads(ops []porcupine.Operation) bool {
	for i, a := range ops {
		for j, b := range ops {
			ia, ib := a.Input.(Input), b.Input.(Input)
			if i == j || !isOK(a, Read) || !isOK(b, Read) || ia.Stream != ib.Stream || ia.Start == ib.Start ||
				len(a.Output.(Output).Records) == 0 || len(b.Output.(Output).Records) == 0 {
				continue
			}
			ops[i].Output, ops[j].Output = b.Output, a.Output
			return true
		}
	}
	return false
}

func alterRecord(ops []porcupine.Operation) bool {
	for i, op := range ops {
		out := op.Output.(Output)
		if !isOK(op, Read) || len(out.Records) == 0 {
			continue
		}
		out.Records = slices.Clone(out.Records)
		out.Records[len(out.Records)-1].Data += "-altered"
		ops[i].Output = out
		return true
	}
	return false
}

// acked finds an acknowledged append of stream covering seq.
func acked(ops []porcupine.Operation, stream string, seq uint64) (porcupine.Operation, bool) {
	for _, op := range ops {
		out := op.Output.(Output)
		if isOK(op, Append) && op.Input.(Input).Stream == stream && out.Start <= seq && seq < out.End {
			return op, true
		}
	}
	return porcupine.Operation{}, false
}

func staleRead(ops []porcupine.Operation) bool {
	for i, op := range ops {
		in, out := op.Input.(Input), op.Output.(Output)
		if !isOK(op, Read) || len(out.Records) == 0 {
			continue
		}
		last := out.Records[len(out.Records)-1].Seq
		if a, ok := acked(ops, in.Stream, last); ok && a.Return < op.Call {
			out.Records = out.Records[:len(out.Records)-1]
			if len(out.Records) == 0 {
				// An empty page below the tail is a 416 for a unary read.
				out = Output{Status: OutOfRange, Tail: last}
			}
			ops[i].Output = out
			return true
		}
	}
	return false
}

func staleTail(ops []porcupine.Operation) bool {
	for i, op := range ops {
		in, out := op.Input.(Input), op.Output.(Output)
		if !isOK(op, CheckTail) || out.Tail == 0 {
			continue
		}
		if a, ok := acked(ops, in.Stream, out.Tail-1); ok && a.Return < op.Call {
			out.Tail = a.Output.(Output).Start
			ops[i].Output = out
			return true
		}
	}
	return false
}

func duplicateAck(ops []porcupine.Operation) bool {
	for i, a := range ops {
		for j, b := range ops {
			if i == j || !isOK(a, Append) || !isOK(b, Append) || a.Input.(Input).Stream != b.Input.(Input).Stream ||
				len(a.Input.(Input).Records) != len(b.Input.(Input).Records) || a.Return >= b.Call {
				continue
			}
			ops[j].Output = a.Output
			return true
		}
	}
	return false
}
