package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/testserver"
)

func TestBasinsAndStreams(t *testing.T) {
	c, _ := newClient(t, client.Config{})
	ctx := ctxT(t)
	for i := range 5 {
		if _, err := c.CreateBasin(ctx, fmt.Sprintf("basin-%d-xyz", i), client.CreateBasinOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Pages of two: AllBasins must walk all three pages.
	var names []string
	for b, err := range c.AllBasins(ctx, client.ListOptions{Prefix: "basin-"}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, b.Name)
	}
	if len(names) != 5 || names[0] != "basin-0-xyz" || names[4] != "basin-4-xyz" {
		t.Fatalf("AllBasins: %v", names)
	}
	page, err := c.ListBasins(ctx, client.ListOptions{Prefix: "basin-", StartAfter: "basin-1-xyz", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Basins) != 2 || page.Basins[0].Name != "basin-2-xyz" || !page.HasMore {
		t.Fatalf("ListBasins page: %+v", page)
	}
	n := 0
	for _, err := range c.AllBasins(ctx, client.ListOptions{Limit: 3}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("AllBasins with Limit 3 gave %d", n)
	}

	// A duplicate is 409 resource_already_exists; a replay with the same
	// request token is not.
	_, err = c.CreateBasin(ctx, "basin-0-xyz", client.CreateBasinOptions{})
	wantCode(t, err, 409, "resource_already_exists")
	if _, err := c.CreateBasin(ctx, "idem-basin", client.CreateBasinOptions{RequestToken: "tok"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBasin(ctx, "idem-basin", client.CreateBasinOptions{RequestToken: "tok"}); err != nil {
		t.Fatalf("idempotent replay: %v", err)
	}

	// Config round trip and patch semantics.
	std := client.StorageClassStandard
	arrival := client.TimestampingArrival
	cfg := &client.BasinConfig{
		DefaultStreamConfig: &client.StreamConfig{
			StorageClass:    &std,
			RetentionPolicy: &client.RetentionPolicy{AgeSecs: 3600},
			Timestamping:    &client.Timestamping{Mode: &arrival},
		},
		CreateStreamOnAppend: true,
	}
	info, res, err := c.EnsureBasin(ctx, "cfg-basin", cfg)
	if err != nil || res != "created" || info.Name != "cfg-basin" {
		t.Fatalf("EnsureBasin: %+v %q %v", info, res, err)
	}
	if _, res, _ := c.EnsureBasin(ctx, "cfg-basin", cfg); res != "noop" {
		t.Fatalf("second EnsureBasin: %q", res)
	}
	got, err := c.GetBasinConfig(ctx, "cfg-basin")
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreateStreamOnAppend || got.DefaultStreamConfig == nil || *got.DefaultStreamConfig.StorageClass != "standard" ||
		got.DefaultStreamConfig.RetentionPolicy.AgeSecs != 3600 || *got.DefaultStreamConfig.Timestamping.Mode != "arrival" {
		t.Fatalf("GetBasinConfig: %+v", got)
	}
	f := false
	got, err = c.ReconfigureBasin(ctx, "cfg-basin", client.BasinReconfiguration{
		CreateStreamOnAppend: &f,
		DefaultStreamConfig: client.SetTo(client.StreamReconfiguration{
			StorageClass:    client.Clear[string](),
			RetentionPolicy: client.SetTo(client.RetentionPolicy{Infinite: true}),
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.CreateStreamOnAppend || got.DefaultStreamConfig.StorageClass != nil || !got.DefaultStreamConfig.RetentionPolicy.Infinite ||
		*got.DefaultStreamConfig.Timestamping.Mode != "arrival" {
		t.Fatalf("ReconfigureBasin: %+v", got.DefaultStreamConfig)
	}
	_, err = c.GetBasinConfig(ctx, "no-such-basin")
	wantCode(t, err, 404, "basin_not_found")

	// Streams inherit the basin defaults.
	b := c.Basin("cfg-basin")
	for i := range 3 {
		if _, err := b.CreateStream(ctx, fmt.Sprintf("s/%d", i), client.CreateStreamOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var streams []string
	for s, err := range b.AllStreams(ctx, client.ListOptions{Prefix: "s/"}) {
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s.Name)
	}
	if fmt.Sprint(streams) != "[s/0 s/1 s/2]" {
		t.Fatalf("AllStreams: %v", streams)
	}
	sc, err := b.GetStreamConfig(ctx, "s/1")
	if err != nil {
		t.Fatal(err)
	}
	if !sc.RetentionPolicy.Infinite || *sc.StorageClass != "express" || *sc.Timestamping.Mode != "arrival" {
		t.Fatalf("GetStreamConfig: %+v", sc)
	}
	sc, err = b.ReconfigureStream(ctx, "s/1", client.StreamReconfiguration{
		DeleteOnEmpty: client.SetTo(client.DeleteOnEmptyReconfiguration{MinAgeSecs: client.SetTo[uint64](60)}),
	})
	if err != nil || sc.DeleteOnEmpty.MinAgeSecs != 60 {
		t.Fatalf("ReconfigureStream: %+v %v", sc, err)
	}
	_, err = b.ReconfigureStream(ctx, "s/1", client.StreamReconfiguration{RetentionPolicy: client.SetTo(client.RetentionPolicy{AgeSecs: 0})})
	wantCode(t, err, 422, "invalid")
	if _, res, err := b.EnsureStream(ctx, "s/9", nil); err != nil || res != "created" {
		t.Fatalf("EnsureStream: %q %v", res, err)
	}
	if err := b.DeleteStream(ctx, "s/0"); err != nil {
		t.Fatal(err)
	}
	err = b.DeleteStream(ctx, "never")
	wantCode(t, err, 404, "stream_not_found")
	if err := c.DeleteBasin(ctx, "basin-4-xyz"); err != nil {
		t.Fatal(err)
	}
}

// binaryRecords are records whose headers and bodies use every byte value.
func binaryRecords(n int) []client.AppendRecord {
	recs := make([]client.AppendRecord, n)
	for i := range recs {
		body := make([]byte, 300+i)
		for j := range body {
			body[j] = byte(i*7 + j)
		}
		recs[i] = client.AppendRecord{
			Headers: []client.Header{{Name: []byte{0xff, 0x00, 'k'}, Value: []byte{0xfe, byte(i)}}, {Name: []byte("empty"), Value: []byte{}}},
			Body:    body,
		}
	}
	return recs
}

func sameRecords(t *testing.T, got []client.SequencedRecord, want []client.AppendRecord, firstSeq uint64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i, r := range got {
		w := want[i]
		if r.SeqNum != firstSeq+uint64(i) || !bytes.Equal(r.Body, w.Body) || len(r.Headers) != len(w.Headers) {
			t.Fatalf("record %d: seq %d body %d bytes headers %d, want seq %d body %d headers %d",
				i, r.SeqNum, len(r.Body), len(r.Headers), firstSeq+uint64(i), len(w.Body), len(w.Headers))
		}
		for j, h := range r.Headers {
			if !bytes.Equal(h.Name, w.Headers[j].Name) || !bytes.Equal(h.Value, w.Headers[j].Value) {
				t.Fatalf("record %d header %d: %q=%q, want %q=%q", i, j, h.Name, h.Value, w.Headers[j].Name, w.Headers[j].Value)
			}
		}
	}
}

func TestUnaryRecordsEveryFormatAndCompression(t *testing.T) {
	for _, format := range []client.Format{client.FormatProtobuf, client.FormatJSON} {
		for _, comp := range []client.Compression{client.CompressionNone, client.CompressionGzip, client.CompressionZstd} {
			t.Run(fmt.Sprintf("format%d-%s", format, comp), func(t *testing.T) {
				c, _ := newClient(t, client.Config{Format: format, Compression: comp})
				ctx := ctxT(t)
				s := newStream(t, c, "records-basin", "bin")
				recs := binaryRecords(20)
				ts := uint64(1700000000000)
				recs[3].Timestamp = &ts
				ack, err := s.Append(ctx, client.AppendInput{Records: recs})
				if err != nil {
					t.Fatal(err)
				}
				if ack.Start.SeqNum != 0 || ack.End.SeqNum != 20 || ack.Tail.SeqNum != 20 {
					t.Fatalf("ack %+v", ack)
				}
				rb, err := s.Read(ctx, client.ReadOptions{Start: client.FromSeqNum(0)})
				if err != nil {
					t.Fatal(err)
				}
				sameRecords(t, rb.Records, recs, 0)
				tail, err := s.CheckTail(ctx)
				if err != nil || tail.SeqNum != 20 {
					t.Fatalf("CheckTail %+v %v", tail, err)
				}

				// Conditions: 412 with the expected values.
				zero := uint64(0)
				_, err = s.Append(ctx, client.AppendInput{Records: recs[:1], MatchSeqNum: &zero})
				var ce *client.AppendConditionError
				if !errors.As(err, &ce) || ce.SeqNumMismatch == nil || *ce.SeqNumMismatch != 20 {
					t.Fatalf("match_seq_num mismatch: %v", err)
				}
				if _, err := s.Fence(ctx, "tok-1", nil, nil); err != nil {
					t.Fatal(err)
				}
				wrong := "other"
				_, err = s.Append(ctx, client.AppendInput{Records: recs[:1], FencingToken: &wrong})
				if !errors.As(err, &ce) || ce.FencingTokenMismatch == nil || *ce.FencingTokenMismatch != "tok-1" {
					t.Fatalf("fencing mismatch: %v", err)
				}
				right := "tok-1"
				if _, err := s.Trim(ctx, 10, &right, nil); err != nil {
					t.Fatal(err)
				}
				rb, err = s.Read(ctx, client.ReadOptions{Start: client.FromSeqNum(20)})
				if err != nil {
					t.Fatal(err)
				}
				if len(rb.Records) != 2 || rb.Records[0].Command() != "fence" || string(rb.Records[0].Body) != "tok-1" {
					t.Fatalf("command records: %+v", rb.Records)
				}
				if tp, err := rb.Records[1].TrimPoint(); err != nil || tp != 10 {
					t.Fatalf("trim point %d %v", tp, err)
				}
				_, err = s.Read(ctx, client.ReadOptions{Start: client.FromSeqNum(100)})
				var re *client.RangeNotSatisfiableError
				if !errors.As(err, &re) || re.Tail.SeqNum != 22 {
					t.Fatalf("read beyond tail: %v", err)
				}
				_, err = c.Basin("records-basin").Stream("missing").Append(ctx, client.AppendInput{Records: recs[:1]})
				wantCode(t, err, 404, "stream_not_found")
			})
		}
	}
}

// faultyHandler answers the first n requests it sees (of those matched by
// match) with 503 unavailable, then passes everything to the real server.
func faultyHandler(next http.Handler, n int64, code string, status int) (http.Handler, *atomic.Int64) {
	var failed atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failed.Add(1) <= n {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"code":%q,"message":"injected"}`, code)
			return
		}
		next.ServeHTTP(w, r)
	}), &failed
}

func TestRetries(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	ctx := ctxT(t)
	setup, err := client.New(client.Config{AccountEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	s := newStream(t, setup, "retry-basin", "s")
	one := client.AppendInput{Records: []client.AppendRecord{{Body: []byte("x")}}}

	for _, tc := range []struct {
		name        string
		code        string
		status      int
		policy      client.AppendRetry
		wantAppends int // records the append leaves on the stream
		wantErr     bool
	}{
		// transaction_conflict guarantees no side effect: retried.
		{"conflict", "transaction_conflict", 409, client.AppendRetryNoSideEffects, 1, false},
		// unavailable may have taken effect: not retried by default...
		{"unavailable-default", "unavailable", 503, client.AppendRetryNoSideEffects, 0, true},
		// ...but retried when the caller accepts duplicates.
		{"unavailable-all", "unavailable", 503, client.AppendRetryAll, 1, false},
		// Not retryable at all.
		{"invalid", "invalid", 422, client.AppendRetryAll, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, hits := faultyHandler(srv.Srv.Handler(), 2, tc.code, tc.status)
			hs := httptest.NewServer(h)
			defer hs.Close()
			c, err := client.New(client.Config{AccountEndpoint: hs.URL, MaxAttempts: 3, AppendRetry: tc.policy, MinBackoff: 1, MaxBackoff: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			before, err := s.CheckTail(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Basin("retry-basin").Stream("s").Append(ctx, one)
			if (err != nil) != tc.wantErr {
				t.Fatalf("append error %v, want error %v", err, tc.wantErr)
			}
			after, _ := s.CheckTail(ctx)
			if got := int(after.SeqNum - before.SeqNum); got != tc.wantAppends {
				t.Fatalf("%d records appended, want %d (requests seen %d)", got, tc.wantAppends, hits.Load())
			}
		})
	}

	// Reads are idempotent: retried on any retryable error, up to
	// MaxAttempts.
	h, hits := faultyHandler(srv.Srv.Handler(), 2, "storage", 500)
	hs := httptest.NewServer(h)
	defer hs.Close()
	c, err := client.New(client.Config{AccountEndpoint: hs.URL, MaxAttempts: 3, MinBackoff: 1, MaxBackoff: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Basin("retry-basin").Stream("s").CheckTail(ctx); err != nil || hits.Load() != 3 {
		t.Fatalf("CheckTail after two failures: %v, %d requests", err, hits.Load())
	}
	h2, _ := faultyHandler(srv.Srv.Handler(), 5, "storage", 500)
	hs2 := httptest.NewServer(h2)
	defer hs2.Close()
	c2, _ := client.New(client.Config{AccountEndpoint: hs2.URL, MaxAttempts: 3, MinBackoff: 1, MaxBackoff: 2})
	defer c2.Close()
	_, err = c2.Basin("retry-basin").Stream("s").CheckTail(ctx)
	wantCode(t, err, 500, "storage")
	if !client.IsRetryable(err) {
		t.Fatal("storage error not retryable")
	}

	// A connection closed before any request was read is retried.
	p := startProxy(t, srv.URL[len("http://"):])
	p.refuseNext(1)
	c3, _ := client.New(client.Config{AccountEndpoint: p.URL(), MinBackoff: 1, MaxBackoff: 2})
	defer c3.Close()
	if _, err := c3.Basin("retry-basin").Stream("s").CheckTail(ctx); err != nil {
		t.Fatalf("CheckTail through a refusing proxy: %v", err)
	}
}

func TestConfigFromEnvAndEndpoints(t *testing.T) {
	t.Setenv("S2_ACCOUNT_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("S2_BASIN_ENDPOINT", "")
	t.Setenv("S2_ACCESS_TOKEN", "secret")
	cfg := client.ConfigFromEnv()
	if cfg.AccountEndpoint != "http://127.0.0.1:1" || cfg.AccessToken != "secret" {
		t.Fatalf("%+v", cfg)
	}
	if _, err := client.New(client.Config{}); err == nil {
		t.Fatal("New without an endpoint succeeded")
	}
	if _, err := client.New(client.Config{AccountEndpoint: "ftp://x"}); err == nil {
		t.Fatal("New with an ftp endpoint succeeded")
	}
	// The token is sent as a bearer token.
	var got atomic.Value
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization") + " " + r.URL.Path + " " + r.Header.Get("s2-basin"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"tail":{"seq_num":7,"timestamp":9}}`)
	}))
	defer hs.Close()
	c, err := client.New(client.Config{AccountEndpoint: "http://unused.invalid", BasinEndpoint: hs.URL + "/base/", AccessToken: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tail, err := c.Basin("bb-basin").Stream("a/b").CheckTail(ctxT(t))
	if err != nil || tail.SeqNum != 7 {
		t.Fatalf("CheckTail: %+v %v", tail, err)
	}
	if g := got.Load().(string); g != "Bearer secret /base/streams/a/b/records/tail bb-basin" {
		t.Fatalf("request seen as %q", g)
	}
}
