package hostile

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/s2lite/s2lite/client"
)

// GoodClient appends a 1 KiB record every interval and reads the last
// one back after every tenth, recording each append's latency and every
// failure.
type GoodClient struct {
	stream *client.Stream

	mu        sync.Mutex
	latencies []time.Duration
	failures  []error
}

// NewGoodClient returns a well-behaved client of one stream.
func NewGoodClient(c *client.Client, basin, stream string) *GoodClient {
	return &GoodClient{stream: c.Basin(basin).Stream(stream)}
}

// Run works until ctx ends.
func (g *GoodClient) Run(ctx context.Context, interval time.Duration) {
	body := make([]byte, 1024)
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		// A fresh context: the run ending must not fail an append.
		actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ack, err := g.stream.Append(actx, client.AppendInput{Records: []client.AppendRecord{{Body: body}}})
		took := time.Since(start)
		if err == nil && i%10 == 0 {
			var b client.ReadBatch
			b, err = g.stream.Read(actx, client.ReadOptions{Start: client.FromSeqNum(ack.End.SeqNum - 1)})
			if err == nil && (len(b.Records) != 1 || len(b.Records[0].Body) != len(body)) {
				err = fmt.Errorf("read back %d records", len(b.Records))
			}
		}
		cancel()
		g.mu.Lock()
		g.latencies = append(g.latencies, took)
		if err != nil {
			g.failures = append(g.failures, err)
		}
		g.mu.Unlock()
	}
}

// Take returns and clears what was recorded: the append latencies at the
// 50th and 99th percentiles, how many appends, and the failures.
func (g *GoodClient) Take() (p50, p99 time.Duration, n int, failures []error) {
	g.mu.Lock()
	lat, failures := g.latencies, g.failures
	g.latencies, g.failures = nil, nil
	g.mu.Unlock()
	if len(lat) == 0 {
		return 0, 0, 0, failures
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[(len(lat)*99)/100], len(lat), failures
}
