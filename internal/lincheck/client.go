package lincheck

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/s2lite/s2lite/client"
)

// Client makes the model's calls on one server through the public Go
// client, in unary JSON.
type Client struct {
	base  string // http://127.0.0.1:port
	c     *client.Client
	basin *client.Basin
}

// ErrUnexpected wraps a response that is neither an outcome the model
// knows nor an unknown outcome: a client or server bug worth failing on.
var ErrUnexpected = errors.New("lincheck: unexpected response")

// NewClient returns a client of the server at base. timeout bounds each
// call; a call that times out has an unknown outcome. Close releases its
// connections.
func NewClient(base, basin string, timeout time.Duration) (*Client, error) {
	c, err := client.New(client.Config{
		AccountEndpoint: base,
		AccessToken:     RootToken,
		// JSON (records in base64): the server's JSON record path is the
		// one these checks have always covered.
		Format: client.FormatJSON,
		// One attempt per call: the history needs each call's exact
		// outcome, and a retry would hide the 5xx and lost connections
		// that make an outcome unknown.
		MaxAttempts:    1,
		RequestTimeout: timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("lincheck: %w", err)
	}
	return &Client{base: base, c: c, basin: c.Basin(basin)}, nil
}

// Close releases idle connections. A server shutting down waits for a
// connection it accepted but got no request on, so tests close clients
// before their servers.
func (c *Client) Close() { c.c.Close() }

// noAnswer reports an error that means no answer came: a transport
// failure or the end of the call's context. The request may or may not
// have reached the server.
func noAnswer(err error) bool {
	var te *client.TransportError
	return errors.As(err, &te) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// httpStatus is the HTTP status of the answer a call got: 200 for a
// success, the status of an error answer, 0 when there was none (no
// answer, or a failure of the client's own such as an answer it could not
// decode).
func httpStatus(err error) int {
	var (
		apiErr   *client.Error
		condErr  *client.AppendConditionError
		rangeErr *client.RangeNotSatisfiableError
	)
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &condErr):
		return http.StatusPreconditionFailed
	case errors.As(err, &rangeErr):
		return http.StatusRequestedRangeNotSatisfiable
	case errors.As(err, &apiErr):
		return apiErr.Status
	}
	return 0
}

// Append sends in (an Append input) and returns the outcome and the HTTP
// status. Transport errors, 408 and 5xx are an Unknown outcome, not an
// error; err is set only for responses the model has no place for.
func (c *Client) Append(ctx context.Context, in Input) (Output, int, error) {
	var input client.AppendInput
	for _, r := range in.Records {
		if tok, ok := fenceToken(r); ok {
			input.Records = append(input.Records, client.FenceRecord(tok))
		} else {
			input.Records = append(input.Records, client.AppendRecord{Body: []byte(r)})
		}
	}
	if in.HasMatch {
		input.MatchSeqNum = &in.Match
	}
	if in.HasToken {
		input.FencingToken = &in.Token
	}
	ack, err := c.basin.Stream(in.Stream).Append(ctx, input)
	status := httpStatus(err)
	var condErr *client.AppendConditionError
	switch {
	case err == nil:
		return Output{Status: OK, Start: ack.Start.SeqNum, End: ack.End.SeqNum, Tail: ack.Tail.SeqNum}, status, nil
	case noAnswer(err) || unknownStatus(status):
		return Output{Status: Unknown}, status, nil
	case errors.As(err, &condErr) && condErr.SeqNumMismatch != nil:
		return Output{Status: SeqMismatch, Expected: *condErr.SeqNumMismatch}, status, nil
	case errors.As(err, &condErr) && condErr.FencingTokenMismatch != nil:
		return Output{Status: TokenMismatch, Token: *condErr.FencingTokenMismatch}, status, nil
	}
	return Output{}, status, fmt.Errorf("%w: append: %w", ErrUnexpected, err)
}

// unknownStatus reports a status whose outcome is unknown: request_timeout
// and 5xx are the codes API 12.2 does not guarantee side-effect free.
func unknownStatus(status int) bool {
	return status == http.StatusRequestTimeout || status >= 500
}

// errNoOutcome is a read or check-tail that got no answer; it says nothing
// about the stream and is left out of the history.
var errNoOutcome = errors.New("lincheck: no outcome")

func isNoOutcome(err error) bool { return errors.Is(err, errNoOutcome) }

// Read does a unary read of in (a Read input).
func (c *Client) Read(ctx context.Context, in Input) (Output, int, error) {
	o := client.ReadOptions{Start: client.FromSeqNum(in.Start)}
	if in.Count > 0 {
		o.Count = &in.Count
	}
	batch, err := c.basin.Stream(in.Stream).Read(ctx, o)
	status := httpStatus(err)
	var rangeErr *client.RangeNotSatisfiableError
	switch {
	case err == nil:
		out := Output{Status: OK, Records: make([]Record, 0, len(batch.Records))}
		for _, r := range batch.Records {
			data := string(r.Body)
			switch {
			case r.Command() == client.CommandFence:
				data = FenceRecord(data)
			case len(r.Headers) > 0:
				return Output{}, status, fmt.Errorf("%w: read a record with headers %q", ErrUnexpected, r.Headers)
			}
			out.Records = append(out.Records, Record{Seq: r.SeqNum, Data: data})
		}
		return out, status, nil
	case noAnswer(err) || unknownStatus(status):
		return Output{}, status, fmt.Errorf("%w: read: %w", errNoOutcome, err)
	case errors.As(err, &rangeErr):
		return Output{Status: OutOfRange, Tail: rangeErr.Tail.SeqNum}, status, nil
	}
	return Output{}, status, fmt.Errorf("%w: read: %w", ErrUnexpected, err)
}

// CheckTail asks for the tail of in.Stream.
func (c *Client) CheckTail(ctx context.Context, in Input) (Output, int, error) {
	tail, err := c.basin.Stream(in.Stream).CheckTail(ctx)
	status := httpStatus(err)
	switch {
	case err == nil:
		return Output{Status: OK, Tail: tail.SeqNum}, status, nil
	case noAnswer(err) || unknownStatus(status):
		return Output{}, status, fmt.Errorf("%w: check tail: %w", errNoOutcome, err)
	}
	return Output{}, status, fmt.Errorf("%w: check tail: %w", ErrUnexpected, err)
}

// Call performs in and records it in h. Calls without an outcome (a read
// that failed) are not recorded; unexpected responses are returned.
func (c *Client) Call(ctx context.Context, h *History, id int, in Input) (Output, error) {
	call := h.Now()
	var out Output
	var status int
	var err error
	switch in.Kind {
	case Append:
		out, status, err = c.Append(ctx, in)
	case Read:
		out, status, err = c.Read(ctx, in)
	case CheckTail:
		out, status, err = c.CheckTail(ctx, in)
	}
	ret := h.Now()
	if err != nil {
		return out, err
	}
	h.Add(id, Meta{Server: c.base, HTTPStatus: status}, in, call, out, ret)
	return out, nil
}

// CreateStreams creates the basin and the streams.
func (c *Client) CreateStreams(ctx context.Context, streams []string) error {
	if _, err := c.c.CreateBasin(ctx, c.basin.Name(), client.CreateBasinOptions{}); err != nil {
		return fmt.Errorf("create basin: %w", err)
	}
	for _, s := range streams {
		if _, err := c.basin.CreateStream(ctx, s, client.CreateStreamOptions{}); err != nil {
			return fmt.Errorf("create stream %s: %w", s, err)
		}
	}
	return nil
}

// ReadAll reads a whole stream page by page, recording every page in h
// (the final reads that ResolveUnknown relies on are part of the history).
func (c *Client) ReadAll(ctx context.Context, h *History, id int, stream string) ([]string, error) {
	var recs []string
	for range 1 << 20 { // bounded: a page has at least one record
		in := Input{Stream: stream, Kind: Read, Start: uint64(len(recs))}
		out, err := c.Call(ctx, h, id, in)
		if err != nil {
			return nil, err
		}
		if out.Status == OutOfRange {
			if out.Tail != uint64(len(recs)) {
				return nil, fmt.Errorf("%w: read to the end of %s: 416 with tail %d after %d records", ErrUnexpected, stream, out.Tail, len(recs))
			}
			return recs, nil
		}
		if len(out.Records) == 0 {
			return nil, fmt.Errorf("%w: empty page of %s at %d below the tail", ErrUnexpected, stream, len(recs))
		}
		for _, r := range out.Records {
			if r.Seq != uint64(len(recs)) {
				return nil, fmt.Errorf("%w: %s: record %d where %d was expected", ErrUnexpected, stream, r.Seq, len(recs))
			}
			recs = append(recs, r.Data)
		}
	}
	return nil, fmt.Errorf("%w: %s never ends", ErrUnexpected, stream)
}
