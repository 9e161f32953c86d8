package lincheck

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Workload is a client's random mix of calls on one stream. It keeps what
// the client last learned about the stream (tail, fencing token) so that
// conditional appends succeed often enough to matter and fail often enough
// to exercise the 412 paths.
type Workload struct {
	Stream string
	Client int // unique across the run: it names the client's records
	rng    *rand.Rand
	seq    int    // calls made, names records
	tail   uint64 // last tail this client learned
	token  string // last token this client learned
	tokens []string
	// Abandon is the fraction of appends the client gives up on after a
	// random 0-2 ms: the server may still apply them, so they are the
	// unknown outcomes that did take effect.
	Abandon float64
}

// NewWorkload returns the workload of one client on stream, seeded.
func NewWorkload(stream string, client int, seed uint64) *Workload {
	return &Workload{
		Stream: stream, Client: client,
		rng:    rand.New(rand.NewPCG(seed, uint64(client))),
		tokens: []string{""},
	}
}

// body names a record uniquely within the run.
func (w *Workload) body(i int) string {
	return fmt.Sprintf("%s/c%d/o%d/r%d", w.Stream, w.Client, w.seq, i)
}

// Next returns the next call.
func (w *Workload) Next() Input {
	w.seq++
	in := Input{Stream: w.Stream}
	p := w.rng.IntN(100)
	switch {
	case p < 30: // plain append
		in.Kind = Append
		in.Records = w.bodies(1 + w.rng.IntN(3))
	case p < 45: // append at the tail this client believes in
		in.Kind = Append
		in.Records = w.bodies(1 + w.rng.IntN(2))
		in.HasMatch, in.Match = true, w.tail
		if w.rng.IntN(4) == 0 {
			in.Match = uint64(max(int64(w.tail)+int64(w.rng.IntN(5))-2, 0))
		}
	case p < 55: // append under a fencing token
		in.Kind = Append
		in.Records = w.bodies(1)
		in.HasToken, in.Token = true, w.guessToken()
	case p < 63: // fence, sometimes guarded by the old token, sometimes
		// after an ordinary record in the same batch
		in.Kind = Append
		tok := fmt.Sprintf("t%d.%d", w.Client, w.seq)
		if w.rng.IntN(8) == 0 {
			tok = "" // back to the initial token
		}
		if w.rng.IntN(3) == 0 {
			in.Records = append(w.bodies(1), FenceRecord(tok))
		} else {
			in.Records = []string{FenceRecord(tok)}
		}
		if w.rng.IntN(2) == 0 {
			in.HasToken, in.Token = true, w.guessToken()
		}
		w.tokens = append(w.tokens, tok)
	case p < 87:
		in.Kind = Read
		in.Start = uint64(w.rng.IntN(int(w.tail) + 3))
		if w.rng.IntN(2) == 0 {
			in.Count = uint64(1 + w.rng.IntN(8))
		}
	default:
		in.Kind = CheckTail
	}
	return in
}

func (w *Workload) bodies(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = w.body(i)
	}
	return out
}

// guessToken is usually the token last learned, sometimes an older one.
func (w *Workload) guessToken() string {
	if w.rng.IntN(4) == 0 {
		return w.tokens[w.rng.IntN(len(w.tokens))]
	}
	return w.token
}

// Learn updates the client's beliefs from an outcome.
func (w *Workload) Learn(in Input, out Output) {
	switch out.Status {
	case OK:
		switch in.Kind {
		case Append:
			w.tail = out.Tail
			for _, r := range in.Records {
				if tok, ok := fenceToken(r); ok {
					w.token = tok
				}
			}
		case Read:
			if n := len(out.Records); n > 0 {
				w.tail = max(w.tail, out.Records[n-1].Seq+1)
			}
		case CheckTail:
			w.tail = out.Tail
		}
	case SeqMismatch:
		w.tail = out.Expected
	case TokenMismatch:
		w.token = out.Token
	case OutOfRange:
		w.tail = out.Tail
	}
}

// Run makes n calls, each on the client target returns (so that a test
// can move clients between servers), recording them in h. It stops early
// on an unexpected response or when ctx ends.
func (w *Workload) Run(ctx context.Context, h *History, n int, target func() *Client) error {
	for range n {
		if ctx.Err() != nil {
			return nil
		}
		in := w.Next()
		callCtx, cancel := ctx, context.CancelFunc(func() {})
		if in.Kind == Append && w.rng.Float64() < w.Abandon {
			callCtx, cancel = context.WithTimeout(ctx, time.Duration(w.rng.IntN(2000))*time.Microsecond)
		}
		out, err := target().Call(callCtx, h, w.Client, in)
		cancel()
		switch {
		case err == nil:
			w.Learn(in, out)
		case isNoOutcome(err):
		default:
			return err
		}
	}
	return nil
}
