package hostile

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/s2lite/s2lite/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	basin  = "hostile-test"
	stream = "target"
	// memoryLimit is serve's default --memory-limit: the attacks run
	// against default flags, so it is the bound on the peak.
	memoryLimit = 1 << 30
	// rootToken is the server's root token, held by the good client and,
	// as careless clients, the attackers.
	rootToken = "hostile-test-root-token-0123456789"
	// p99Bound is the good client's ack latency bound during attacks.
	p99Bound = 100 * time.Millisecond
)

func moduleRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// TestHostileClients runs every attack in turn against the real binary
// with default flags. During each, a well-behaved client appends every
// 20 ms and reads back; after each the server must be up, its peak
// resident memory (VmHWM) under the default memory limit, and the good
// client must have seen no failure and a p99 ack latency under 100 ms.
// After all of them, resident memory must come back down.
func TestHostileClients(t *testing.T) {
	if testing.Short() || os.Getenv("S2LITE_HOSTILE") == "" {
		t.Skip("the adversarial suite runs with make hostile-test (S2LITE_HOSTILE=1)")
	}
	ctx := context.Background()
	bin, err := Build(ctx, moduleRoot(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Start(ctx, bin, "--root-token", rootToken)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()

	c, err := client.New(client.Config{AccountEndpoint: "http://" + srv.Addr, AccessToken: rootToken, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateBasin(ctx, basin, client.CreateBasinOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{stream, "good"} {
		if _, err := c.Basin(basin).CreateStream(ctx, s, client.CreateStreamOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// 50 MiB for the readers to catch up on.
	target := c.Basin(basin).Stream(stream)
	rec := make([]byte, 100<<10)
	for range 50 {
		in := client.AppendInput{}
		for range 10 {
			in.Records = append(in.Records, client.AppendRecord{Body: rec})
		}
		if _, err := target.Append(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	baseline, _, err := srv.Memory()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resident after filling 50 MiB: %d MiB", baseline>>20)

	good := NewGoodClient(c, basin, "good")
	for _, a := range []struct {
		name   string
		attack Attack
	}{
		{"250 HTTP/2 streams announcing 16 MiB bodies", AnnounceH2(250)},
		{"200 HTTP/1.1 bodies trickled a byte at a time", TrickleH1(200, 2*time.Second)},
		{"gzip bombs of empty records, 8 at a time", GzipBombs(8)},
		{"20 S2S sessions of zstd frame bombs", S2SFrameBombs(20)},
		{"1000 read sessions that never drain", StalledReaders(1000)},
	} {
		t.Run(a.name, func(t *testing.T) {
			actx, stop := context.WithTimeout(ctx, 10*time.Second)
			defer stop()
			var wg sync.WaitGroup
			var attackErr error
			wg.Go(func() {
				attackErr = a.attack(actx, Target{Addr: srv.Addr, Basin: basin, Stream: stream, Token: rootToken})
			})
			good.Take()
			good.Run(actx, 20*time.Millisecond)
			wg.Wait()
			p50, p99, n, failures := good.Take()
			_, peak, err := srv.Memory()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("good client: %d appends, p50 %v, p99 %v, %d failures; server peak resident %d MiB",
				n, p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), len(failures), peak>>20)
			if attackErr != nil {
				t.Fatalf("the attack could not run: %v", attackErr)
			}
			if !srv.Alive() {
				t.Fatalf("the server died\n%s", srv.Stderr())
			}
			if peak >= memoryLimit {
				t.Errorf("peak resident memory %d MiB reached the %d MiB limit", peak>>20, memoryLimit>>20)
			}
			if len(failures) > 0 {
				t.Errorf("the good client failed %d times, first: %v", len(failures), failures[0])
			}
			if n < 100 {
				t.Errorf("the good client made only %d appends", n)
			}
			if p99 > p99Bound {
				t.Errorf("the good client's p99 ack latency %v exceeds %v", p99, p99Bound)
			}
		})
	}

	// Memory comes back after the attacks (the server returns it to the
	// OS once a burst is over).
	deadline := time.Now().Add(60 * time.Second)
	for {
		rss, peak, err := srv.Memory()
		if err != nil {
			t.Fatal(err)
		}
		if rss < baseline+128<<20 {
			t.Logf("resident %d MiB after the attacks (peak %d MiB, baseline %d MiB)", rss>>20, peak>>20, baseline>>20)
			if peak >= memoryLimit {
				t.Errorf("peak resident memory %d MiB reached the %d MiB limit", peak>>20, memoryLimit>>20)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("resident memory still %d MiB a minute after the attacks (baseline %d MiB)", rss>>20, baseline>>20)
		}
		time.Sleep(time.Second)
	}
	if !srv.Alive() {
		t.Fatalf("the server died\n%s", srv.Stderr())
	}
}
