package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s2lite/s2lite/internal/s3test"
	"github.com/s2lite/s2lite/objstore"
)

// binDir holds the binary built for the tests; TestMain removes it.
var binDir string

// buildBinary builds s2lite once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "s2lite")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", errors.New("go build: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
})

func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// syncBuffer collects a process's output while it runs.
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

var listeningRE = regexp.MustCompile(`msg=listening (?:\S+ )*?addr=(127\.0\.0\.1:\d+)`)

// startServer runs `s2lite serve` on a free loopback port and returns its
// base URL once it listens.
func startServer(t *testing.T, args ...string) (*exec.Cmd, string, *syncBuffer, *syncBuffer) {
	t.Helper()
	return startServerEnv(t, []string{"S2LITE_ROOT_TOKEN=" + testRootToken}, args...)
}

// testRootToken is the root token of the servers startServer starts;
// authClient sends it.
const testRootToken = "binary-test-root-token-0123456789"

// tokenTransport adds a bearer token to every request.
type tokenTransport struct{ token string }

func (tt tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tt.token)
	return http.DefaultTransport.RoundTrip(r)
}

// authClient is an HTTP client with the test root token.
var authClient = &http.Client{Transport: tokenTransport{testRootToken}, Timeout: 30 * time.Second}

// startServerEnv is startServer with extra environment variables.
func startServerEnv(t *testing.T, env []string, args ...string) (*exec.Cmd, string, *syncBuffer, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve", "--host", "127.0.0.1", "--port", "0"}, args...)...)
	cmd.Env = append(append(os.Environ(), "S2LITE_INIT_FILE="), env...)
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listeningRE.FindStringSubmatch(stderr.String()); m != nil {
			return cmd, "http://" + m[1], stdout, stderr
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start; stderr:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBinaryServe(t *testing.T) {
	initFile := filepath.Join(t.TempDir(), "init.json")
	if err := os.WriteFile(initFile, []byte(`{"basins":[{"name":"init-basin","config":{"create_stream_on_append":true},
		"streams":[{"name":"events","config":{"retention_policy":"infinite"}}]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// A fresh server with no root token given generates one and prints
	// it once, with the endpoints.
	cmd, base, stdout, stderr := startServerEnv(t, []string{"S2LITE_ROOT_TOKEN="}, "--init-file", initFile)
	token := regexp.MustCompile(`(?m)^export S2_ACCESS_TOKEN="([A-Za-z0-9_-]{32,})"$`).FindStringSubmatch(stdout.String())
	if token == nil {
		t.Fatalf("no root token printed:\n%s", stdout)
	}
	if strings.Contains(stderr.String(), token[1]) {
		t.Fatal("the root token was logged")
	}
	resp, err := authClient.Get(base + "/v1/basins")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a request without a token: %d", resp.StatusCode)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: tokenTransport{token[1]}}
	defer client.CloseIdleConnections()
	get := func(path string, hdr ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	if code, body := get("/health"); code != http.StatusOK || body != "OK" {
		t.Fatalf("/health: %d %q", code, body)
	}
	resp, err = client.Post(base+"/v1/basins", "application/json", strings.NewReader(`{"basin":"binary-basin"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create basin: %d", resp.StatusCode)
	}
	// The init file was applied.
	if code, body := get("/v1/basins/init-basin"); code != http.StatusOK || !strings.Contains(body, `"create_stream_on_append":true`) {
		t.Fatalf("init basin: %d %s", code, body)
	}
	if code, body := get("/v1/streams/events", "s2-basin", "init-basin"); code != http.StatusOK || !strings.Contains(body, `"infinite":{}`) {
		t.Fatalf("init stream: %d %s", code, body)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "s2lite_engine_wal_put_seconds_total") {
		t.Fatalf("/metrics: %d", code)
	}
	if !strings.Contains(stdout.String(), "export S2_ACCOUNT_ENDPOINT="+base) {
		t.Fatalf("no endpoint hint on stdout: %q", stdout)
	}
	if !strings.Contains(stderr.String(), "IN-MEMORY STORAGE") {
		t.Fatalf("in-memory mode not announced: %s", stderr)
	}

	client.CloseIdleConnections()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(cmd, 15*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\nstderr:\n%s", err, stderr)
	}
	if !strings.Contains(stderr.String(), "stopped cleanly") {
		t.Fatalf("no clean stop logged:\n%s", stderr)
	}
}

func TestBinaryLocalRootPersists(t *testing.T) {
	root := t.TempDir()
	cmd, base, _, stderr := startServer(t, "--local-root", root, "--path", "data")
	resp, err := authClient.Post(base+"/v1/basins", "application/json", strings.NewReader(`{"basin":"durable-basin"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	authClient.CloseIdleConnections()
	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := waitExit(cmd, 15*time.Second); err != nil {
		t.Fatalf("exit after SIGINT: %v\n%s", err, stderr)
	}

	cmd, base, _, _ = startServer(t, "--local-root", root, "--path", "data")
	resp, err = authClient.Get(base + "/v1/basins/durable-basin")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	authClient.CloseIdleConnections()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("basin after restart: %d", resp.StatusCode)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(cmd, 15*time.Second); err != nil {
		t.Fatal(err)
	}
}

func waitExit(cmd *exec.Cmd, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("did not exit in time")
	}
}

func TestBinaryBadInvocations(t *testing.T) {
	bin := binary(t)
	for _, c := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"serve", "--bogus"}, nil, "flag provided but not defined"},
		{[]string{"serve", "--bucket", "b", "--local-root", "/tmp/x"}, nil, "cannot be used together"},
		{[]string{"serve", "--append-inflight-bytes", "1KiB"}, nil, "below the minimum"},
		{[]string{"serve", "--tls-cert", "x.pem"}, nil, "must be given together"},
		{[]string{"frobnicate"}, nil, "unknown command"},
		{nil, nil, "Usage"},
		{[]string{"serve", "--host", "127.0.0.1", "--port", "0", "--init-file", "/nonexistent/init.json"}, nil, "init file"},
		{[]string{"serve", "--host", "127.0.0.1", "--port", "0", "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"}, nil, "TLS certificate"},
		{[]string{"serve", "--host", "127.0.0.1", "--port", "0", "--bucket", "no-bucket"},
			[]string{"AWS_ENDPOINT_URL_S3=http://127.0.0.1:1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=y"}, "cannot reach S3 bucket"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = append(append(os.Environ(), "S2LITE_INIT_FILE="), c.env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Errorf("%q: err %v, want a non-zero exit", c.args, err)
			continue
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%q: stderr %q lacks %q", c.args, stderr.String(), c.want)
		}
	}
}

// TestBinaryS3 runs the binary on MinIO when the test harness provides it.
func TestBinaryS3(t *testing.T) {
	if !s3test.Enabled() {
		t.Skip("S2LITE_TEST_S3 not set: run under `make test` to use MinIO")
	}
	ctx := context.Background()
	prefix := fmt.Sprintf("t/binary-%d", time.Now().UnixNano())
	opts := objstore.S3OptionsFromEnv(s3test.Bucket, prefix)
	if err := objstore.CreateBucket(ctx, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s3, err := objstore.NewS3(ctx, opts)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer s3.Close()
		objs, _ := s3.List(ctx, "", "", 0)
		for _, o := range objs {
			_ = s3.Delete(ctx, o.Key)
		}
	})
	for round := range 2 {
		cmd, base, _, stderr := startServer(t, "--bucket", s3test.Bucket, "--path", prefix)
		if round == 0 {
			resp, err := authClient.Post(base+"/v1/basins", "application/json", strings.NewReader(`{"basin":"s3-basin"}`))
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("create basin: %d", resp.StatusCode)
			}
		} else {
			resp, err := authClient.Get(base + "/v1/basins/s3-basin")
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("basin after restart: %d", resp.StatusCode)
			}
		}
		authClient.CloseIdleConnections()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := waitExit(cmd, 15*time.Second); err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr)
		}
	}
}

// TestMetricsListener: --metrics-addr moves /metrics off the API's
// listener, and neither needs a token.
func TestMetricsListener(t *testing.T) {
	_, base, _, stderr := startServer(t, "--metrics-addr", "127.0.0.1:0")
	m := regexp.MustCompile(`msg="serving metrics" addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no metrics listener logged:\n%s", stderr)
	}
	status := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	defer http.DefaultClient.CloseIdleConnections()
	if got := status("http://" + m[1] + "/metrics"); got != http.StatusOK {
		t.Fatalf("metrics listener: %d", got)
	}
	if got := status(base + "/metrics"); got != http.StatusNotFound {
		t.Fatalf("API listener's /metrics: %d", got)
	}
}

// TestMetricsPerBasinBinary: with --metrics-per-basin, a basin that
// appended shows its attributed object-store counters on /metrics after a
// usage flush; the binary's store is metered.
func TestMetricsPerBasinBinary(t *testing.T) {
	_, base, _, _ := startServer(t, "--metrics-per-basin", "--usage-flush-interval", "1s")
	client := &http.Client{Transport: tokenTransport{testRootToken}, Timeout: 10 * time.Second}
	defer http.DefaultClient.CloseIdleConnections()
	do := func(method, path, body string, kv ...string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(kv); i += 2 {
			req.Header.Set(kv[i], kv[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if code := do("POST", "/v1/basins", `{"basin":"per-basin-cost"}`); code != http.StatusCreated {
		t.Fatalf("create basin: %d", code)
	}
	if code := do("POST", "/v1/streams", `{"stream":"s"}`, "s2-basin", "per-basin-cost"); code != http.StatusCreated {
		t.Fatalf("create stream: %d", code)
	}
	want := `s2lite_basin_storage_requests_total{basin="per-basin-cost",op="put"}`
	deadline := time.Now().Add(15 * time.Second)
	for {
		if code := do("POST", "/v1/streams/s/records", `{"records":[{"body":"hello"}]}`, "s2-basin", "per-basin-cost"); code != http.StatusOK {
			t.Fatalf("append: %d", code)
		}
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if strings.Contains(string(body), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s on /metrics", want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
