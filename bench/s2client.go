package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/s2lite/s2lite/client"
	"golang.org/x/net/http2"
)

// benchClient is how the benchmark talks to the server. What only sets up
// a measurement goes through the client package: basin and stream
// creation and filling the catch-up streams; so do the read sessions that
// follow the stream in the tail-latency phase. Raw paths remain where the
// client would change what is measured, each with its reason where it is
// defined:
//
//   - unary appends of prebuilt JSON and protobuf bodies (appendJSON,
//     appendProto), over HTTP/1.1 and over h2c;
//   - S2S append sessions writing prebuilt frames (openRawAppendSession);
//   - the catch-up reads, S2S and SSE, which count records and bytes
//     without decoding them (openRawReadSession, openRawSSE);
//   - /health and /metrics, which are not part of the S2 API.
type benchClient struct {
	api   *client.Client
	basin *client.Basin
	base  string // http://host:port
	// h1 and h2 carry the raw paths only. h1 is HTTP/1.1 keep-alive with
	// a connection per outstanding request (an open-loop unary run may
	// have a thousand); h2 is cleartext HTTP/2 with prior knowledge.
	h1 *http.Client
	h2 *http.Client
	// encKey, when set, is the base64 key sent as s2-encryption-key on
	// every raw append and read (streams of a basin with a stream_cipher,
	// API 7.9). The client package's calls (setup, tail readers) do not
	// send it.
	encKey string
}

// keyed adds the encryption key, if any, to a raw request's header pairs.
func (c *benchClient) keyed(hdr ...string) []string {
	if c.encKey != "" {
		hdr = append(hdr, encryptionKeyHeader, c.encKey)
	}
	return hdr
}

const encryptionKeyHeader = "s2-encryption-key"

// benchRootToken is the root access token of the server under test.
const benchRootToken = "bench-root-token-0123456789abcdef"

func newBenchClient(base, basin string) (*benchClient, error) {
	api, err := client.New(client.Config{
		AccountEndpoint: base,
		AccessToken:     benchRootToken,
		// A retry, or a read session resuming after a failure, would turn
		// a failure inside a measured window into a slow success: the
		// benchmark reports failures instead.
		MaxAttempts: 1,
		UserAgent:   "s2lite-bench",
		// Compression stays off (the default): the benchmark measures the
		// uncompressed path.
	})
	if err != nil {
		return nil, fmt.Errorf("bench client: %w", err)
	}
	h1 := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     time.Minute,
		// Compression would make the server gzip responses: the benchmark
		// measures the uncompressed path.
		DisableCompression: true,
		ForceAttemptHTTP2:  false,
		TLSNextProto:       map[string]func(string, *tls.Conn) http.RoundTripper{},
		DialContext:        (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	h2 := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		// Without this the transport asks for gzip, and the server would
		// compress S2S frames of 1 KiB and more.
		DisableCompression: true,
		ReadIdleTimeout:    30 * time.Second,
	}
	return &benchClient{api: api, basin: api.Basin(basin), base: base,
		h1: &http.Client{Transport: h1}, h2: &http.Client{Transport: h2}}, nil
}

func (c *benchClient) close() {
	c.api.Close()
	c.h1.CloseIdleConnections()
	c.h2.CloseIdleConnections()
}

func (c *benchClient) createBasin(ctx context.Context) error {
	if _, err := c.api.CreateBasin(ctx, c.basin.Name(), client.CreateBasinOptions{}); err != nil {
		return fmt.Errorf("creating basin %s: %w", c.basin.Name(), err)
	}
	return nil
}

// createCipherBasin creates the client's basin with a stream_cipher (API
// 5.2, 7.9), raw: the bench does not depend on the client package's
// support for ciphers.
func (c *benchClient) createCipherBasin(ctx context.Context, cipher string) error {
	body, err := json.Marshal(map[string]any{"basin": c.basin.Name(), "config": map[string]any{"stream_cipher": cipher}})
	if err != nil {
		return err
	}
	if _, err := rawDo(ctx, c.h1, http.MethodPost, c.base+"/v1/basins", body, "Content-Type", "application/json"); err != nil {
		return fmt.Errorf("creating basin %s (stream_cipher %s): %w", c.basin.Name(), cipher, err)
	}
	return nil
}

func (c *benchClient) createStream(ctx context.Context, name string) error {
	if _, err := c.basin.CreateStream(ctx, name, client.CreateStreamOptions{}); err != nil {
		return fmt.Errorf("creating stream %s: %w", name, err)
	}
	return nil
}

func (c *benchClient) stream(name string) *client.Stream { return c.basin.Stream(name) }

// healthClient checks /health, which is not part of the S2 API, so the
// client package has no call for it.
var healthClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}}

// health asks the server at base whether it is up.
func health(ctx context.Context, base string) error {
	_, err := rawDo(ctx, healthClient, http.MethodGet, base+"/health", nil)
	return err
}

// rawDo sends a request and returns the body of a 2xx response, or an
// error with the status and body.
func rawDo(ctx context.Context, hc *http.Client, method, u string, body []byte, hdr ...string) ([]byte, error) {
	data, _, err := rawDoHeader(ctx, hc, method, u, body, hdr...)
	return data, err
}

// rawDoHeader is rawDo that also returns the response's header.
func rawDoHeader(ctx context.Context, hc *http.Client, method, u string, body []byte, hdr ...string) ([]byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+benchRootToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.Header, fmt.Errorf("%s %s: reading response: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, resp.Header, fmt.Errorf("%s %s: %d %s", method, u, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return data, resp.Header, nil
}

func (c *benchClient) recordsURL(stream string) string {
	return c.base + "/v1/streams/" + url.PathEscape(stream) + "/records"
}

// Raw unary appends. The client's Stream.Append would not do here, for
// three reasons: it encodes the batch on every call, where the benchmark
// sends bodies built before the run so that the client's encoding is not
// charged to the ack latency (it costs about 1 ms of CPU per 1 MiB batch on
// the benchmark machine, against ack p50s of 5-10 ms for such batches); it
// sends JSON records only as base64 (s2-format: base64), while the unary
// JSON path has always measured records sent as plain text (s2-format
// raw, the default); and it sends unary requests over HTTP/1.1 only, while
// the throughput phase measures unary appends over h2c.

// appendJSON is a unary JSON append (API 7.3) over HTTP/1.1; body is a
// prebuilt AppendInput JSON document with plain-text bodies.
func (c *benchClient) appendJSON(ctx context.Context, stream string, body []byte) (client.AppendAck, error) {
	data, err := rawDo(ctx, c.h1, http.MethodPost, c.recordsURL(stream), body,
		c.keyed("Content-Type", "application/json", "s2-basin", c.basin.Name())...)
	if err != nil {
		return client.AppendAck{}, err
	}
	var ack client.AppendAck
	if err := json.Unmarshal(data, &ack); err != nil {
		return client.AppendAck{}, fmt.Errorf("decoding append ack: %w", err)
	}
	return ack, nil
}

// appendProto is a unary protobuf append (API 7.8) of a prebuilt
// AppendInput over hc (c.h1 or c.h2).
func (c *benchClient) appendProto(ctx context.Context, hc *http.Client, stream string, body []byte) (client.AppendAck, error) {
	data, err := rawDo(ctx, hc, http.MethodPost, c.recordsURL(stream), body,
		c.keyed("Content-Type", "application/protobuf", "Accept", "application/protobuf", "s2-basin", c.basin.Name())...)
	if err != nil {
		return client.AppendAck{}, err
	}
	return decodeAppendAck(data)
}

// metrics scrapes the server's /metrics (not part of the S2 API) into name
// (with labels) -> value.
func (c *benchClient) metrics(ctx context.Context) (map[string]float64, error) {
	data, err := rawDo(ctx, c.h1, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(data), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, nil
}

// rawS2S is an S2S session (API 10) on one HTTP/2 stream, for the raw
// paths: an append session writing frames built before the run
// (openRawAppendSession), or a catch-up read session (openRawReadSession).
type rawS2S struct {
	pw     *io.PipeWriter // nil for a read session
	resp   *http.Response
	fr     frameReader
	cancel context.CancelFunc
}

// openRawAppendSession starts an S2S append session (API 10.4) that
// writes prebuilt frames. The client's AppendSession encodes every batch
// twice when it is submitted (the protobuf message, then the frame): about
// 1 ms of CPU per 1 MiB batch more than writing a prebuilt frame, measured
// on the benchmark machine. In the latency phase that would be charged to
// the ack latency of large batches (p50 5-10 ms), and in the throughput
// phase it would take CPU from the server on a machine whose cores the
// server, MinIO and the benchmark share. Acks are matched to batches by the
// caller, in order.
func (c *benchClient) openRawAppendSession(ctx context.Context, stream string) (*rawS2S, error) {
	pr, pw := io.Pipe()
	s, err := c.openRawS2S(ctx, http.MethodPost, c.recordsURL(stream), pr)
	if err != nil {
		_ = pw.Close()
		return nil, fmt.Errorf("append session on %s: %w", stream, err)
	}
	s.pw = pw
	return s, nil
}

// openRawReadSession starts an S2S read session (API 10.5) from sequence
// number 0 for count records. The catch-up reads use it rather than the
// client's ReadSession, which copies every record out of the message into
// a record of its own: with the client, the benchmark process spent 45%
// more CPU per MiB read (1.45 ms against 1.01 ms, four runs each) and the
// warm reads, which contend with the server for the machine's two cores,
// came out 11% slower, with the 500 MiB/s target met or not depending on
// the client. This reader only counts records and body bytes.
func (c *benchClient) openRawReadSession(ctx context.Context, stream string, count int64) (*rawS2S, error) {
	q := url.Values{"seq_num": {"0"}, "count": {strconv.FormatInt(count, 10)}}
	s, err := c.openRawS2S(ctx, http.MethodGet, c.recordsURL(stream)+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("read session on %s: %w", stream, err)
	}
	return s, nil
}

func (c *benchClient) openRawS2S(ctx context.Context, method, u string, body io.Reader) (*rawS2S, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Content-Type", "s2s/proto")
	req.Header.Set("Authorization", "Bearer "+benchRootToken)
	req.Header.Set("Accept", "application/protobuf")
	req.Header.Set("s2-basin", c.basin.Name())
	if c.encKey != "" {
		req.Header.Set(encryptionKeyHeader, c.encKey)
	}
	resp, err := c.h2.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "s2s/proto" {
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("%d %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return &rawS2S{resp: resp, fr: frameReader{br: bufio.NewReaderSize(resp.Body, 256<<10)}, cancel: cancel}, nil
}

// send writes one prebuilt frame (see s2sFrame); it blocks while HTTP/2
// flow control holds the data back.
func (s *rawS2S) send(frame []byte) error {
	_, err := s.pw.Write(frame)
	return err
}

// closeSend ends the input of an append session; the server acks what it
// received and ends the session.
func (s *rawS2S) closeSend() { _ = s.pw.Close() }

// recvAck reads the next ack of an append session; io.EOF at the normal
// end of the session, a *terminalError when the server ended it with an
// error.
func (s *rawS2S) recvAck() (client.AppendAck, error) {
	msg, err := s.fr.next()
	if err != nil {
		return client.AppendAck{}, err
	}
	return decodeAppendAck(msg)
}

// recvBatch reads the next batch of a read session and counts its records
// and their body bytes; io.EOF at the normal end of the session.
func (s *rawS2S) recvBatch() (records, bodyBytes int64, err error) {
	msg, err := s.fr.next()
	if err != nil {
		return 0, 0, err
	}
	return countReadBatch(msg)
}

func (s *rawS2S) close() {
	s.cancel()
	if s.pw != nil {
		_ = s.pw.Close()
	}
	_ = s.resp.Body.Close()
}

// rawSSE is a catch-up read session over Server-Sent Events (API 9), for
// the same reason as openRawReadSession, and one more: the client asks for
// records in base64 (s2-format: base64), which makes the server encode
// and the benchmark decode every body, while the warm SSE reads have always
// measured plain-text records (s2-format raw, the default). With the
// client they came out 25% slower (77 against 102 MiB/s, four runs each).
type rawSSE struct {
	resp   *http.Response
	br     *bufio.Reader
	cancel context.CancelFunc
}

func (c *benchClient) openRawSSE(ctx context.Context, stream string, count int64) (*rawSSE, error) {
	ctx, cancel := context.WithCancel(ctx)
	q := url.Values{"seq_num": {"0"}, "count": {strconv.FormatInt(count, 10)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.recordsURL(stream)+"?"+q.Encode(), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+benchRootToken)
	req.Header.Set("s2-basin", c.basin.Name())
	if c.encKey != "" {
		req.Header.Set(encryptionKeyHeader, c.encKey)
	}
	resp, err := c.h1.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("sse read session on %s: %w", stream, err)
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("sse read session on %s: %d %s", stream, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return &rawSSE{resp: resp, br: bufio.NewReaderSize(resp.Body, 256<<10), cancel: cancel}, nil
}

// sseBatch is what the catch-up reads keep of a batch event.
type sseBatch struct {
	Records []struct {
		Body string `json:"body"`
	} `json:"records"`
}

// next reads events up to the next batch and counts its records and body
// bytes; io.EOF after the [DONE] event. Pings are skipped.
func (s *rawSSE) next() (records, bodyBytes int64, err error) {
	for {
		event, data, err := s.event()
		if err != nil {
			return 0, 0, err
		}
		switch {
		case event == "" && string(data) == "[DONE]":
			return 0, 0, io.EOF
		case event == "error":
			return 0, 0, fmt.Errorf("sse error event: %s", data)
		case event == "batch":
			var b sseBatch
			if err := json.Unmarshal(data, &b); err != nil {
				return 0, 0, fmt.Errorf("sse batch: %w", err)
			}
			for _, r := range b.Records {
				bodyBytes += int64(len(r.Body))
			}
			return int64(len(b.Records)), bodyBytes, nil
		}
	}
}

// event reads one event: its type and its (last) data line.
func (s *rawSSE) event() (event string, data []byte, err error) {
	for {
		line, err := s.br.ReadBytes('\n')
		if err != nil {
			return "", nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if data == nil && event == "" {
				continue
			}
			return event, data, nil
		}
		switch {
		case bytes.HasPrefix(line, []byte("event:")):
			event = string(bytes.TrimSpace(line[6:]))
		case bytes.HasPrefix(line, []byte("data:")):
			data = bytes.TrimSpace(line[5:])
		}
	}
}

func (s *rawSSE) close() {
	s.cancel()
	_ = s.resp.Body.Close()
}
