package clustertest

// Sessions through forwarding, kept open across the phases: followers
// (read sessions without limits, over SSE with the test's own reader and
// over S2S with the repo's client package) and an S2S append session whose
// acks go into the ledger like unary appends. Each is opened through a
// node that does not own the stream's partition, so that it crosses a
// hop, and opened again through such a node whenever it ends, as a real
// client would: a follower from the record after the last one it
// delivered, the appender with new batches.
//
// A follower holds every record it is given against what it expects: the
// next sequence number (no gap, no repeat, across reconnections too) and
// the ledger (an appended body, at its acknowledged position, the same as
// any earlier read saw there). The records go into the ledger as reads,
// so every check verifies them against the stream as it is then: nothing
// delivered may differ from the stream or vanish from it. A heartbeat may
// not report a tail below what was delivered. At the end each follower
// must catch up with the stream's tail.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/s2lite/s2lite/client"
)

const (
	// sessionIdle ends a session attempt that received nothing, not even a
	// heartbeat (every 5-15 s), for this long: the SDKs' bound.
	sessionIdle = 25 * time.Second
	// sessionOpenTimeout bounds waiting for a session's answer.
	sessionOpenTimeout = 10 * time.Second
	// appendSessionInflight is how many batches the appender keeps
	// unacknowledged at most.
	appendSessionInflight = 3
	// catchUpLimit bounds how long a follower may take to deliver the
	// stream's tail once the appends have stopped.
	catchUpLimit = 30 * time.Second
)

// nonOwner picks a live node at random that does not own basin's
// partition now (any live node if no other is), or nil.
func (w *workload) nonOwner(rng *rand.Rand, basin string) *node {
	owner := w.ownerOf(basin)
	var others []*node
	live := w.c.live()
	for _, n := range live {
		if n.id != owner {
			others = append(others, n)
		}
	}
	if len(others) == 0 {
		others = live
	}
	if len(others) == 0 {
		return nil
	}
	return others[rng.IntN(len(others))]
}

// sessionStats is what one session client went through.
type sessionStats struct {
	mu        sync.Mutex
	opened    int            // sessions established
	forwarded int            // of them, served by another node than the one they went through
	ends      map[string]int // why sessions ended, or failed to open
	phaseEnds map[string]int // the same, since the last report
}

func (s *sessionStats) ended(why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ends == nil {
		s.ends, s.phaseEnds = map[string]int{}, map[string]int{}
	}
	s.ends[why]++
	s.phaseEnds[why]++
}

func (s *sessionStats) opens(via, servedBy string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened++
	if servedBy != via {
		s.forwarded++
	}
}

// endReason shortens an error to a class worth counting.
func endReason(prefix string, err error) string {
	var ce *client.Error
	switch {
	case errors.As(err, &ce):
		return fmt.Sprintf("%s: %d %s", prefix, ce.Status, ce.Code)
	case errors.Is(err, context.DeadlineExceeded):
		return prefix + ": timeout"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return prefix + ": connection ended"
	}
	msg := err.Error()
	for _, k := range []string{"connection reset", "connection refused", "timeout", "stream error", "EOF", "canceled"} {
		if strings.Contains(msg, k) {
			return prefix + ": " + k
		}
	}
	if len(msg) > 60 {
		msg = msg[:60]
	}
	return prefix + ": " + msg
}

// follower follows one stream from seq 0 for the whole run.
type follower struct {
	w    *workload
	sl   *streamLedger
	kind string // "SSE" or "S2S"
	hc   *http.Client
	sessionStats

	stop chan struct{}
	done chan struct{}

	fmu        sync.Mutex
	next       uint64 // records delivered: the next seq_num expected
	fwdRecords uint64 // records delivered by forwarded sessions
	lastRecord time.Time
	longestGap time.Duration // without a record, since the last report
	clients    map[string]*client.Client
}

func newFollower(w *workload, sl *streamLedger, kind string) *follower {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		ResponseHeaderTimeout: sessionOpenTimeout,
		DisableCompression:    true,
	}
	return &follower{w: w, sl: sl, kind: kind, hc: &http.Client{Transport: tr}, stop: make(chan struct{}), done: make(chan struct{}),
		lastRecord: time.Now(), clients: map[string]*client.Client{}}
}

func (f *follower) name() string {
	return fmt.Sprintf("%s follower of %s/%s", f.kind, f.sl.basin, f.sl.name)
}

func (f *follower) stopped() bool {
	select {
	case <-f.stop:
		return true
	default:
		return false
	}
}

func (f *follower) start() { go f.run() }

func (f *follower) halt() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
}

func (f *follower) delivered() uint64 {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	return f.next
}

func (f *follower) run() {
	defer close(f.done)
	rng := rand.New(rand.NewPCG(uint64(len(f.kind)+len(f.sl.name)), uint64(time.Now().UnixNano())))
	for !f.stopped() {
		via := f.w.nonOwner(rng, f.sl.basin)
		if via == nil {
			f.pause(100 * time.Millisecond)
			continue
		}
		var why string
		if f.kind == "SSE" {
			why = f.sse(via)
		} else {
			why = f.s2s(via)
		}
		f.ended(why)
		f.pause(100 * time.Millisecond)
	}
}

func (f *follower) pause(d time.Duration) {
	select {
	case <-f.stop:
	case <-time.After(d):
	}
}

// deliver takes records from a session through via served by servedBy;
// false when they are not the ones expected (the session must be opened
// again from the expected record).
func (f *follower) deliver(recs []jsonRecord, via, servedBy string) bool {
	if len(recs) == 0 {
		return true
	}
	w := f.w
	w.gate.RLock()
	defer w.gate.RUnlock()
	f.fmu.Lock()
	defer f.fmu.Unlock()
	ok := true
	for i, r := range recs {
		if want := f.next + uint64(i); r.SeqNum != want {
			w.l.violate("%s via %s (served by %q): delivered record %d where %d was expected (a gap or a repeat)",
				f.name(), via, servedBy, r.SeqNum, want)
			recs, ok = recs[:i], false
			break
		}
	}
	if len(recs) > 0 {
		f.sl.observeRead(recs[0].SeqNum, len(recs), recs, 0, false, 0, f.kind+" session via "+via, servedBy)
		f.next += uint64(len(recs))
		if servedBy != via {
			f.fwdRecords += uint64(len(recs))
		}
		now := time.Now()
		f.longestGap = max(f.longestGap, now.Sub(f.lastRecord))
		f.lastRecord = now
	}
	return ok
}

// heartbeat checks a heartbeat's tail against what was delivered.
func (f *follower) heartbeat(tail uint64, via, servedBy string) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	if tail < f.next {
		f.w.l.violate("%s via %s (served by %q): a heartbeat reports the tail at %d, but records up to %d were delivered",
			f.name(), via, servedBy, tail, f.next)
	}
}

// report logs what the follower did since the last report.
func (f *follower) report(c *cluster, tail uint64) {
	f.fmu.Lock()
	next, fwd := f.next, f.fwdRecords
	gap := max(f.longestGap, time.Since(f.lastRecord))
	f.longestGap = 0
	f.fmu.Unlock()
	f.mu.Lock()
	ends := countsString(f.phaseEnds)
	f.phaseEnds = map[string]int{}
	opened, forwarded := f.opened, f.forwarded
	f.mu.Unlock()
	c.logf("%s: %d records delivered (%d through forwarded sessions), %d behind the tail; %d sessions opened, %d of them forwarded; longest wait for a record since the last report %v; ended since: %s",
		f.name(), next, fwd, int64(tail)-int64(next), opened, forwarded, gap.Round(time.Millisecond), ends)
}

// sse runs one SSE read session through via from the next record, until
// it ends; it returns why.
func (f *follower) sse(via *node) string {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	from := f.delivered()
	q := url.Values{"seq_num": {strconv.FormatUint(from, 10)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, via.url+"/v1/streams/"+url.PathEscape(f.sl.name)+"/records?"+q.Encode(), nil)
	if err != nil {
		panic(err)
	}
	req.Header.Set("authorization", "Bearer "+rootToken)
	req.Header.Set("s2-basin", f.sl.basin)
	req.Header.Set("accept", "text/event-stream")
	idle := time.AfterFunc(sessionIdle, cancel)
	defer idle.Stop()
	go func() {
		select {
		case <-f.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	resp, err := f.hc.Do(req)
	if err != nil {
		return endReason("open", err)
	}
	defer resp.Body.Close()
	servedBy := resp.Header.Get(servedByHeader)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var eb struct {
			Code string   `json:"code"`
			Tail position `json:"tail"`
		}
		_ = json.Unmarshal(body, &eb)
		if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			f.w.l.violate("%s via %s (served by %q): 416 from %d with the tail at %d: records delivered are gone", f.name(), via.id, servedBy, from, eb.Tail.SeqNum)
		} else if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout {
			f.w.l.violate("%s via %s: opening from %d: unexpected answer %d %s", f.name(), via.id, from, resp.StatusCode, bytes.TrimSpace(body))
		}
		return fmt.Sprintf("open: %d %s", resp.StatusCode, eb.Code)
	}
	if servedBy == "" {
		f.w.l.violate("%s via %s: a session without an %s header", f.name(), via.id, servedByHeader)
	}
	f.opens(via.id, servedBy)
	br := bufio.NewReader(resp.Body)
	for {
		event, data, err := sseEvent(br)
		if err != nil {
			if f.stopped() {
				return "stopped"
			}
			return endReason("transport", err)
		}
		idle.Reset(sessionIdle)
		switch {
		case event == "" && data == "[DONE]":
			// A session without limits follows for ever: ending it
			// normally tells a client it has read everything.
			f.w.l.violate("%s via %s (served by %q): the session ended normally ([DONE]) although it has no limit", f.name(), via.id, servedBy)
			return "[DONE]"
		case event == "batch":
			var b struct {
				Records []jsonRecord `json:"records"`
				Tail    *position    `json:"tail"`
			}
			if err := json.Unmarshal([]byte(data), &b); err != nil {
				f.w.l.violate("%s via %s: undecodable batch %q: %v", f.name(), via.id, data, err)
				return "bad batch"
			}
			idle.Stop()
			ok := f.deliver(b.Records, via.id, servedBy)
			idle.Reset(sessionIdle)
			if !ok {
				return "unexpected records"
			}
			if b.Tail != nil {
				f.heartbeat(b.Tail.SeqNum, via.id, servedBy)
			}
		case event == "ping":
			var p struct {
				Tail *position `json:"tail"`
			}
			if json.Unmarshal([]byte(data), &p) == nil && p.Tail != nil {
				f.heartbeat(p.Tail.SeqNum, via.id, servedBy)
			}
		case event == "error":
			var eb struct {
				Code string `json:"code"`
			}
			_ = json.Unmarshal([]byte(data), &eb)
			return "error event: " + eb.Code
		}
	}
}

// sseEvent reads one event: its type and data.
func sseEvent(br *bufio.Reader) (event, data string, err error) {
	seen := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", "", err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if seen {
				return event, data, nil
			}
			continue
		}
		seen = true
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimPrefix(line[len("data:"):], " ")
		}
	}
}

// s2s runs one S2S read session of the client package through via. The
// client resumes it through via by itself after retryable failures; it
// ends when the client gives up.
func (f *follower) s2s(via *node) string {
	cl := f.clients[via.url]
	if cl == nil {
		var err error
		cl, err = client.New(client.Config{BasinEndpoint: via.url, AccessToken: rootToken, MaxAttempts: 3})
		if err != nil {
			panic(err)
		}
		f.clients[via.url] = cl
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-f.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	rs, err := cl.Basin(f.sl.basin).Stream(f.sl.name).ReadSession(ctx, client.ReadOptions{Start: client.FromSeqNum(f.delivered())})
	if err != nil {
		var ce *client.Error
		var re *client.RangeNotSatisfiableError
		if errors.As(err, &re) {
			f.w.l.violate("%s via %s: 416 from %d with the tail at %d: records delivered are gone", f.name(), via.id, f.delivered(), re.Tail.SeqNum)
		} else if errors.As(err, &ce) && ce.Status < 500 && ce.Status != http.StatusTooManyRequests && ce.Status != http.StatusRequestTimeout {
			f.w.l.violate("%s via %s: opening from %d: %v", f.name(), via.id, f.delivered(), err)
		}
		return endReason("open", err)
	}
	defer rs.Close()
	// The client does not show which node served the session: take the
	// owner the cluster names right after it opened.
	served := f.w.ownerOf(f.sl.basin)
	f.opens(via.id, served)
	for {
		b, err := rs.Next()
		if err != nil {
			if f.stopped() {
				return "stopped"
			}
			if errors.Is(err, io.EOF) {
				f.w.l.violate("%s via %s: the session ended normally although it has no limit", f.name(), via.id)
			}
			return endReason("session", err)
		}
		if len(b.Records) == 0 {
			if b.Tail != nil {
				f.heartbeat(b.Tail.SeqNum, via.id, served)
			}
			continue
		}
		recs := make([]jsonRecord, len(b.Records))
		for i, r := range b.Records {
			recs[i] = jsonRecord{SeqNum: r.SeqNum, Body: string(r.Body)}
		}
		if !f.deliver(recs, via.id, served) {
			return "unexpected records"
		}
	}
}

// catchUp waits until the follower delivered tail records.
func (f *follower) catchUp(tail uint64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		got := f.delivered()
		if got >= tail {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s delivered %d records, %v after the appends stopped with the tail at %d", f.name(), got, limit, tail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// appender appends to one stream through S2S append sessions opened
// through a node that does not own the stream's partition, up to
// appendSessionInflight batches unacknowledged; every batch goes into the
// ledger like a unary append (acknowledged by its ack, of unknown outcome
// when the session ends before it).
type appender struct {
	w  *workload
	sl *streamLedger
	tr *http2.Transport
	sessionStats

	stop chan struct{}
	done chan struct{}
}

func newAppender(w *workload, sl *streamLedger) *appender {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
		},
		ReadIdleTimeout: 10 * time.Second,
		PingTimeout:     5 * time.Second,
	}
	return &appender{w: w, sl: sl, tr: tr, stop: make(chan struct{}), done: make(chan struct{})}
}

func (a *appender) name() string { return fmt.Sprintf("S2S appender to %s/%s", a.sl.basin, a.sl.name) }

func (a *appender) stopped() bool {
	select {
	case <-a.stop:
		return true
	default:
		return false
	}
}

func (a *appender) start() { go a.run() }

func (a *appender) halt() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
	a.tr.CloseIdleConnections()
}

func (a *appender) run() {
	defer close(a.done)
	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	for !a.stopped() {
		via := a.w.nonOwner(rng, a.sl.basin)
		if via == nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		a.ended(a.session(via, rng))
		select {
		case <-a.stop:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// session runs one append session through via until it fails or the
// appender stops, and returns why it ended.
func (a *appender) session(via *node, rng *rand.Rand) string {
	w, sl := a.w, a.sl
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, via.url+"/v1/streams/"+url.PathEscape(sl.name)+"/records", pr)
	if err != nil {
		panic(err)
	}
	req.Header.Set("authorization", "Bearer "+rootToken)
	req.Header.Set("s2-basin", sl.basin)
	req.Header.Set("content-type", "s2s/proto")

	session := fmt.Sprintf("the S2S append session begun at +%.2fs", time.Since(w.l.begin).Seconds())
	var (
		mu       sync.Mutex
		pending  []*appendOp // sent, not answered; each holds the gate shared
		ended    bool
		why      string
		servedBy string
		acked    = make(chan struct{}, 1)
		finished = make(chan struct{})
	)
	// end fails every batch without an ack: the first with the session's
	// error (status 0 if none came), the rest with no answer, all of
	// unknown outcome unless the error guarantees otherwise.
	end := func(status int, reason string, err error) {
		mu.Lock()
		if ended {
			mu.Unlock()
			return
		}
		ended, why = true, reason
		ops, served := pending, servedBy
		pending = nil
		mu.Unlock()
		cancel()
		_ = pr.CloseWithError(errors.New("session ended"))
		for i, op := range ops {
			ans := answer{status: status, body: []byte(reason), err: err, servedBy: served}
			if i > 0 || status == http.StatusOK {
				ans = answer{err: fmt.Errorf("the session ended before its ack: %s", reason)}
			}
			sl.finish(op, appendAck{}, ans)
			w.gate.RUnlock()
		}
		w.writes.Add(int64(len(ops)))
	}
	// The receiver: the answer, then one ack per batch, in order.
	go func() {
		defer close(finished)
		resp, err := a.tr.RoundTrip(req)
		if err != nil {
			end(0, endReason("open", err), err)
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			var eb struct {
				Code string `json:"code"`
			}
			_ = json.Unmarshal(body, &eb)
			end(resp.StatusCode, fmt.Sprintf("open: %d %s", resp.StatusCode, eb.Code), nil)
			return
		}
		mu.Lock()
		servedBy = resp.Header.Get(servedByHeader)
		mu.Unlock()
		a.opens(via.id, servedBy)
		br := bufio.NewReader(resp.Body)
		for {
			msg, status, err := readFrame(br)
			switch {
			case err != nil && errors.Is(err, io.EOF):
				mu.Lock()
				n := len(pending)
				mu.Unlock()
				if n == 0 && a.stopped() {
					end(0, "stopped", nil)
				} else {
					end(0, "session: connection ended", err)
				}
				return
			case err != nil:
				end(0, endReason("session", err), err)
				return
			case status != 0:
				var eb struct {
					Code string `json:"code"`
				}
				_ = json.Unmarshal(msg, &eb)
				end(status, fmt.Sprintf("terminal: %d %s", status, eb.Code), nil)
				return
			}
			ack, err := decodeAppendAck(msg)
			mu.Lock()
			if ended {
				// Given up on (the watchdog) as the ack came: its batches
				// are of unknown outcome already.
				mu.Unlock()
				return
			}
			if err != nil || len(pending) == 0 {
				mu.Unlock()
				w.l.violate("%s via %s (served by %q): an ack for no batch, or undecodable (%v)", a.name(), via.id, servedBy, err)
				end(0, "bad ack", err)
				return
			}
			op := pending[0]
			pending = pending[1:]
			mu.Unlock()
			sl.finish(op, ack, answer{status: http.StatusOK, servedBy: servedBy})
			w.gate.RUnlock()
			w.writes.Add(1)
			select {
			case acked <- struct{}{}:
			default:
			}
		}
	}()
	// The watchdog: a batch unacknowledged for appendTimeout ends the
	// session (a frozen or cut node holds it).
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-finished:
				return
			case <-t.C:
			}
			mu.Lock()
			old := len(pending) > 0 && time.Since(pending[0].sent) > appendTimeout
			mu.Unlock()
			if old {
				end(0, fmt.Sprintf("no ack within %v", appendTimeout), context.DeadlineExceeded)
			}
		}
	}()
	// The sender.
	for !a.stopped() {
		mu.Lock()
		full, over := len(pending) >= appendSessionInflight, ended
		mu.Unlock()
		if over {
			break
		}
		if full {
			select {
			case <-acked:
			case <-finished:
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		w.gate.RLock()
		k := w.ops.Add(1)
		bodies := make([]string, 1+rng.IntN(3))
		for i := range bodies {
			bodies[i] = fmt.Sprintf("%s|%s|s2s|%d.%d", sl.basin, sl.name, k, i)
		}
		mu.Lock()
		if ended {
			mu.Unlock()
			w.gate.RUnlock()
			break
		}
		op := sl.beginOn("s2s", via.id, session, bodies)
		pending = append(pending, op)
		mu.Unlock()
		if _, err := pw.Write(appendInputFrame(bodies)); err != nil {
			end(0, endReason("sending", err), err)
			break
		}
		select {
		case <-a.stop:
		case <-finished:
		case <-time.After(time.Duration(5+rng.IntN(20)) * time.Millisecond):
		}
	}
	// No more input: the acks of what was sent follow, then the end.
	_ = pw.Close()
	<-finished
	mu.Lock()
	defer mu.Unlock()
	return why
}

// appendInputFrame is an S2S frame of an AppendInput of bodies (API 10.2,
// 11): records (1) of bodies (3).
func appendInputFrame(bodies []string) []byte {
	var msg []byte
	for _, b := range bodies {
		var rec []byte
		rec = protowire.AppendTag(rec, 3, protowire.BytesType)
		rec = protowire.AppendString(rec, b)
		msg = protowire.AppendTag(msg, 1, protowire.BytesType)
		msg = protowire.AppendBytes(msg, rec)
	}
	n := len(msg) + 1
	out := []byte{byte(n >> 16), byte(n >> 8), byte(n), 0}
	return append(out, msg...)
}

// readFrame reads one S2S frame: a message, or for a terminal one its
// status and JSON body. Acks are small and never compressed.
func readFrame(br *bufio.Reader) (msg []byte, status int, err error) {
	var hdr [3]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, 0, err
	}
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	if n < 1 || n > 2<<20 {
		return nil, 0, fmt.Errorf("s2s: frame length %d", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, err
	}
	flag, body := buf[0], buf[1:]
	switch {
	case flag&0x80 != 0:
		if len(body) < 2 {
			return nil, 0, errors.New("s2s: short terminal frame")
		}
		return body[2:], int(binary.BigEndian.Uint16(body)), nil
	case flag&0x60 != 0:
		return nil, 0, errors.New("s2s: a compressed ack")
	}
	return body, 0, nil
}

// decodeAppendAck decodes an AppendAck: start (1) and end (2), each a
// StreamPosition with seq_num (1) and timestamp (2).
func decodeAppendAck(b []byte) (appendAck, error) {
	var ack appendAck
	pos := func(b []byte) (position, error) {
		var p position
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				return p, protowire.ParseError(n)
			}
			b = b[n:]
			if typ != protowire.VarintType {
				n = protowire.ConsumeFieldValue(num, typ, b)
				if n < 0 {
					return p, protowire.ParseError(n)
				}
				b = b[n:]
				continue
			}
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return p, protowire.ParseError(n)
			}
			b = b[n:]
			switch num {
			case 1:
				p.SeqNum = v
			case 2:
				p.Timestamp = v
			}
		}
		return p, nil
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ack, protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return ack, protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return ack, protowire.ParseError(n)
		}
		b = b[n:]
		var err error
		switch num {
		case 1:
			ack.Start, err = pos(v)
		case 2:
			ack.End, err = pos(v)
		case 3:
			ack.Tail, err = pos(v)
		}
		if err != nil {
			return ack, err
		}
	}
	return ack, nil
}

// report logs what the appender's sessions went through since the last
// report.
func (a *appender) report(c *cluster) {
	a.mu.Lock()
	ends := countsString(a.phaseEnds)
	a.phaseEnds = map[string]int{}
	opened, forwarded := a.opened, a.forwarded
	a.mu.Unlock()
	a.sl.mu.Lock()
	var n [4]int
	for _, op := range a.sl.ops {
		if op.writer == "s2s" {
			n[op.outcome]++
		}
	}
	a.sl.mu.Unlock()
	c.logf("%s: %d batches acknowledged, %d of unknown outcome, %d rejected; %d sessions opened, %d of them forwarded; ended since the last report: %s",
		a.name(), n[acked], n[unknown], n[rejected], opened, forwarded, ends)
}

// sessions is the session clients of the run.
type sessions struct {
	followers []*follower
	appender  *appender
}

func startSessions(w *workload, follow []*streamLedger, appendTo *streamLedger) *sessions {
	s := &sessions{appender: newAppender(w, appendTo)}
	for i, sl := range follow {
		kind := "SSE"
		if i%2 == 1 {
			kind = "S2S"
		}
		s.followers = append(s.followers, newFollower(w, sl, kind))
	}
	for _, f := range s.followers {
		f.start()
	}
	s.appender.start()
	return s
}

// report logs each session client's progress.
func (s *sessions) report(c *cluster) {
	for _, f := range s.followers {
		f.report(c, f.sl.ackedThrough())
	}
	s.appender.report(c)
}

// halt stops every session client.
func (s *sessions) halt() {
	s.appender.halt()
	for _, f := range s.followers {
		f.halt()
	}
}

// haltAppender stops the append sessions (each ends its input and waits
// for its acks).
func (s *sessions) haltAppender() { s.appender.halt() }

// finish waits for each follower to deliver its stream's tail, then stops
// them, and checks that each session client went through a forwarded
// session. The appends must have stopped.
func (s *sessions) finish(t interface{ Errorf(string, ...any) }, c *cluster, w *workload) {
	for _, f := range s.followers {
		var tail uint64
		var err error
		for _, n := range c.live() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			var ans answer
			tail, ans = w.api.checkTail(ctx, n.url, f.sl.basin, f.sl.name)
			cancel()
			if ans.status == http.StatusOK {
				err = nil
				break
			}
			err = errors.New(ans.String())
		}
		if err != nil {
			t.Errorf("%s: no tail to catch up with: %v", f.name(), err)
			continue
		}
		start := time.Now()
		if err := f.catchUp(tail, catchUpLimit); err != nil {
			t.Errorf("%v", err)
		} else {
			c.logf("%s caught up with the tail %d in %v", f.name(), tail, time.Since(start).Round(time.Millisecond))
		}
	}
	for _, f := range s.followers {
		f.halt()
		f.report(c, f.sl.ackedThrough())
		f.mu.Lock()
		if f.forwarded == 0 {
			t.Errorf("%s: no session of it was forwarded (%d opened)", f.name(), f.opened)
		}
		f.mu.Unlock()
	}
	a := s.appender
	a.mu.Lock()
	if a.forwarded == 0 {
		t.Errorf("%s: no session of it was forwarded (%d opened)", a.name(), a.opened)
	}
	a.mu.Unlock()
}
