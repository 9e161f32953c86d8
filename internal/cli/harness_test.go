package cli

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/testserver"
)

// harness runs command lines in-process against a real server.
type harness struct {
	t   *testing.T
	srv *testserver.Server
	c   *client.Client // for setting up and checking, beside the CLI
	env map[string]string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, testserver.Options{})
}

func newHarnessWith(t *testing.T, o testserver.Options) *harness {
	t.Helper()
	srv := testserver.Start(t, o)
	// With access tokens on, the harness's client and the command lines
	// hold the root token.
	token := "ignored"
	if o.RootToken != "" {
		token = o.RootToken
	}
	c, err := client.New(client.Config{AccountEndpoint: srv.URL, AccessToken: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &harness{t: t, srv: srv, c: c, env: map[string]string{
		"S2_ACCOUNT_ENDPOINT": srv.URL, "S2_BASIN_ENDPOINT": srv.URL, "S2_ACCESS_TOKEN": token,
	}}
}

// syncBuffer is written by a running command and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// start runs a command line in the background; wait returns its result.
func (h *harness) start(ctx context.Context, stdin string, args ...string) (wait func() result, stdout, stderr *syncBuffer) {
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	env := Env{
		Stdin: strings.NewReader(stdin), Stdout: stdout, Stderr: stderr,
		Getenv: func(k string) string { return h.env[k] },
	}
	done := make(chan int, 1)
	go func() { done <- Run(ctx, args, env) }()
	return func() result {
		select {
		case code := <-done:
			return result{code, stdout.String(), stderr.String()}
		case <-time.After(time.Minute):
			h.t.Fatalf("%q did not finish", args)
			return result{}
		}
	}, stdout, stderr
}

// run runs a command line to its end.
func (h *harness) run(stdin string, args ...string) result {
	h.t.Helper()
	wait, _, _ := h.start(context.Background(), stdin, args...)
	return wait()
}

// ok runs a command line and fails the test unless it exits 0.
func (h *harness) ok(stdin string, args ...string) result {
	h.t.Helper()
	r := h.run(stdin, args...)
	if r.code != 0 {
		h.t.Fatalf("%q: %s", args, r)
	}
	return r
}

// fails runs a command line and checks its exit status and stderr.
func (h *harness) fails(code int, wantStderr string, args ...string) result {
	h.t.Helper()
	r := h.run("", args...)
	if r.code != code || !strings.Contains(r.stderr, wantStderr) {
		h.t.Fatalf("%q: want exit %d and stderr containing %q; got %s", args, code, wantStderr, r)
	}
	return r
}

// records reads a whole stream through the client.
func (h *harness) records(basin, stream string) []client.SequencedRecord {
	h.t.Helper()
	s := h.c.Basin(basin).Stream(stream)
	tail, err := s.CheckTail(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	var out []client.SequencedRecord
	for next := uint64(0); next < tail.SeqNum; {
		b, err := s.Read(context.Background(), client.ReadOptions{Start: client.FromSeqNum(next)})
		if err != nil {
			h.t.Fatal(err)
		}
		if len(b.Records) == 0 {
			break
		}
		out = append(out, b.Records...)
		next = b.Records[len(b.Records)-1].SeqNum + 1
	}
	return out
}
