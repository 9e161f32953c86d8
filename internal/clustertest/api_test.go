package clustertest

// Plain HTTP calls of the S2 v1 REST API (JSON records, raw format) and
// of s2lite's /cluster/status and /ready: the workload needs each
// answer's status and its S2lite-Served-By header, which the Go client
// does not expose.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const servedByHeader = "S2lite-Served-By"

type api struct {
	hc    *http.Client
	token string
}

func newAPI(token string) *api {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	return &api{hc: &http.Client{Transport: tr}, token: token}
}

func (a *api) close() { a.hc.CloseIdleConnections() }

// answer is one HTTP exchange: status 0 means no answer (err says why).
type answer struct {
	status   int
	body     []byte
	servedBy string
	err      error
}

func (r answer) String() string {
	if r.status == 0 {
		return fmt.Sprintf("no answer: %v", r.err)
	}
	b := r.body
	if len(b) > 200 {
		b = b[:200]
	}
	return fmt.Sprintf("%d %s (served by %q)", r.status, bytes.TrimSpace(b), r.servedBy)
}

func (a *api) do(ctx context.Context, method, u, basin string, body any) answer {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("authorization", "Bearer "+a.token)
	if basin != "" {
		req.Header.Set("s2-basin", basin)
	}
	if body != nil {
		req.Header.Set("content-type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		// Headers came, the body did not: for an append the outcome is
		// as unknown as with no answer at all.
		return answer{err: fmt.Errorf("reading the body of a %d: %w", resp.StatusCode, err), servedBy: resp.Header.Get(servedByHeader)}
	}
	return answer{status: resp.StatusCode, body: b, servedBy: resp.Header.Get(servedByHeader)}
}

type position struct {
	SeqNum    uint64 `json:"seq_num"`
	Timestamp uint64 `json:"timestamp"`
}

type appendAck struct {
	Start position `json:"start"`
	End   position `json:"end"`
	Tail  position `json:"tail"`
}

type jsonRecord struct {
	SeqNum uint64 `json:"seq_num"`
	Body   string `json:"body"`
}

// appendRecords appends bodies as one batch.
func (a *api) appendRecords(ctx context.Context, base, basin, stream string, bodies []string) (appendAck, answer) {
	type rec struct {
		Body string `json:"body"`
	}
	in := struct {
		Records []rec `json:"records"`
	}{}
	for _, b := range bodies {
		in.Records = append(in.Records, rec{Body: b})
	}
	ans := a.do(ctx, http.MethodPost, base+"/v1/streams/"+url.PathEscape(stream)+"/records", basin, in)
	var ack appendAck
	if ans.status == http.StatusOK {
		if err := json.Unmarshal(ans.body, &ack); err != nil {
			ans.err = fmt.Errorf("decoding the ack: %w", err)
		}
	}
	return ack, ans
}

// readRecords is a unary read from seq of at most count records. A 416
// returns the tail in tail.
func (a *api) readRecords(ctx context.Context, base, basin, stream string, seq uint64, count int) (recs []jsonRecord, tail uint64, ans answer) {
	q := url.Values{"seq_num": {strconv.FormatUint(seq, 10)}, "count": {strconv.Itoa(count)}}
	ans = a.do(ctx, http.MethodGet, base+"/v1/streams/"+url.PathEscape(stream)+"/records?"+q.Encode(), basin, nil)
	switch ans.status {
	case http.StatusOK:
		var out struct {
			Records []jsonRecord `json:"records"`
		}
		if err := json.Unmarshal(ans.body, &out); err != nil {
			ans.err = fmt.Errorf("decoding records: %w", err)
		}
		recs = out.Records
	case http.StatusRequestedRangeNotSatisfiable:
		var out struct {
			Tail position `json:"tail"`
		}
		if err := json.Unmarshal(ans.body, &out); err != nil {
			ans.err = fmt.Errorf("decoding 416: %w", err)
		}
		tail = out.Tail.SeqNum
	}
	return recs, tail, ans
}

// checkTail asks for a stream's tail.
func (a *api) checkTail(ctx context.Context, base, basin, stream string) (uint64, answer) {
	ans := a.do(ctx, http.MethodGet, base+"/v1/streams/"+url.PathEscape(stream)+"/records/tail", basin, nil)
	var out struct {
		Tail position `json:"tail"`
	}
	if ans.status == http.StatusOK {
		if err := json.Unmarshal(ans.body, &out); err != nil {
			ans.err = err
		}
	}
	return out.Tail.SeqNum, ans
}

// ensureBasin and ensureStream create idempotently (PUT), so a retry
// after an unknown outcome is harmless.
func (a *api) ensureBasin(ctx context.Context, base, basin string) answer {
	return a.do(ctx, http.MethodPut, base+"/v1/basins/"+url.PathEscape(basin), "", nil)
}

func (a *api) ensureStream(ctx context.Context, base, basin, stream string) answer {
	return a.do(ctx, http.MethodPut, base+"/v1/streams/"+url.PathEscape(stream), basin, struct{}{})
}

// ownerRecord is one unit's entry in /cluster/status.
type ownerRecord struct {
	Node  string `json:"node"`
	Epoch uint64 `json:"epoch"`
}

type clusterStatus struct {
	Node       string                 `json:"node"`
	Partitions int                    `json:"partitions"`
	Members    map[string]string      `json:"members"`
	Owners     map[string]ownerRecord `json:"owners"`
}

func (a *api) clusterStatus(ctx context.Context, base string) (clusterStatus, error) {
	ans := a.do(ctx, http.MethodGet, base+"/cluster/status", "", nil)
	var st clusterStatus
	if ans.status != http.StatusOK {
		return st, errors.New("GET /cluster/status: " + ans.String())
	}
	if err := json.Unmarshal(ans.body, &st); err != nil {
		return st, fmt.Errorf("GET /cluster/status: %w: %s", err, ans.body)
	}
	return st, nil
}

func (a *api) ready(ctx context.Context, base string) answer {
	return a.do(ctx, http.MethodGet, base+"/ready", "", nil)
}
