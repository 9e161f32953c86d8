package crashtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
)

// TestMinIORestart kills the MinIO server under a live engine with SIGKILL
// and starts it again on the same data directory and port, twice:
//
//   - short outage: storage is back before the retry deadline, so writers
//     only wait; no write may fail, and requests cut off by the kill (maybe
//     applied, maybe not) are resolved by the retry and read-back logic.
//   - long outage: storage stays away past the retry deadline, so writes
//     fail; once MinIO is back the engine heals by itself.
//
// After each, everything acknowledged must be in the live engine and in a
// fresh recovery, which also shows MinIO kept every acknowledged PUT across
// its own crash.
//
// The long outage runs without flushes, compactions or garbage collection:
// a manifest write cut off by the kill and not resolved before the retry
// deadline makes the engine fence itself (TestManifestReplyLostThenOutage),
// which would make this test flaky rather than show anything new.
func TestMinIORestart(t *testing.T) {
	requireFailpoints(t)
	ctx := context.Background()
	srv := startMinIO(t)
	store := srv.store(t, ctx)
	l := newLedger()

	t.Run("short-outage", func(t *testing.T) {
		opts := WorkerOptions(objstore.NewRetrying(store, objstore.RetryOptions{
			InitialBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Deadline: 15 * time.Second,
		}))
		st, m := outageRun(t, ctx, srv, store, l, opts, 1, 1500*time.Millisecond)
		if st.failed > 0 {
			t.Fatalf("%d writes failed although storage came back within the retry deadline; last: %v", st.failed, st.lastErr)
		}
		t.Logf("%d acked, none failed, %d flushes", st.acked, m.Flushes)
	})
	t.Run("long-outage", func(t *testing.T) {
		opts := engine.Options{
			Store: objstore.NewRetrying(store, objstore.RetryOptions{
				InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Deadline: 700 * time.Millisecond,
			}),
			MemtableSize:          256 << 20,
			MaxMemtableWALObjects: 1 << 20,
			DisableAutoCompaction: true,
			GCInterval:            -1,
		}
		st, m := outageRun(t, ctx, srv, store, l, opts, 2, 2500*time.Millisecond)
		if st.failed == 0 || m.Heals == 0 {
			t.Fatalf("the outage caused %d failures and %d heals: it tested nothing", st.failed, m.Heals)
		}
		t.Logf("%d acked, %d failed, %d heals", st.acked, st.failed, m.Heals)
	})
	t.Logf("recovered: %v", l.verify(t, ctx, objstore.NewRetrying(store, objstore.RetryOptions{})))
}

// outageRun runs writers and readers, kills MinIO, keeps it down for down,
// restarts it, and checks that the engine takes writes again on its own and
// that what it acknowledged survives a restart of the engine.
func outageRun(t *testing.T, ctx context.Context, srv *minioServer, store objstore.Store, l *ledger, opts engine.Options, run int, down time.Duration) (loadStats, engine.Metrics) {
	db, err := engine.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ld := startLoad(ctx, db, l, run)
	time.Sleep(700 * time.Millisecond)
	srv.kill(t)
	time.Sleep(down)
	srv.start(t)
	back := time.Now()
	time.Sleep(3 * time.Second)
	st := ld.stop()
	if err := ld.violation(); err != nil {
		t.Fatal(err)
	}
	// The last second must be clean: the engine healed by itself.
	last := back.Add(2 * time.Second)
	if n, a := st.failedBetween(last, time.Now()), st.ackedBetween(last, time.Now()); n > 0 || a == 0 {
		t.Fatalf("no recovery after MinIO came back: %d failures, %d acks in the last second; last error: %v", n, a, st.lastErr)
	}
	live, err := scan(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := batches(live); err != nil {
		t.Fatal(err)
	}
	m := db.Metrics()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("recovered: %v", l.verify(t, ctx, objstore.NewRetrying(store, objstore.RetryOptions{})))
	return st, m
}

// minioServer is a MinIO process of this test's own, on loopback, that can
// be killed and started again on the same data directory and port.
type minioServer struct {
	bin, dir, addr, console string
	cmd                     *exec.Cmd
	exited                  chan struct{}
}

const (
	minioUser     = "crashtest"
	minioPassword = "crashtest-secret"
)

func startMinIO(t *testing.T) *minioServer {
	t.Helper()
	bin, err := findMinIO()
	if err != nil {
		t.Fatalf("%v (make fault-test installs it through internal/tools/withminio)", err)
	}
	ports := freePorts(t, 2)
	s := &minioServer{bin: bin, dir: t.TempDir(),
		addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), console: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	s.start(t)
	t.Cleanup(func() { s.kill(t) })
	return s
}

// findMinIO looks where internal/tools/withminio installs MinIO: PATH, then
// GOBIN or the first GOPATH's bin.
func findMinIO() (string, error) {
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	dir := ""
	switch {
	case len(lines) == 2 && lines[0] != "":
		dir = lines[0]
	case len(lines) == 2 && lines[1] != "":
		dir = filepath.Join(filepath.SplitList(lines[1])[0], "bin")
	}
	p := filepath.Join(dir, "minio")
	if _, err := os.Stat(p); dir == "" || err != nil {
		return "", errors.New("minio binary not found in PATH, GOBIN or GOPATH/bin")
	}
	return p, nil
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// start runs MinIO and waits until it answers.
func (s *minioServer) start(t *testing.T) {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(s.dir, "minio.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close() // the child has its own descriptor
	cmd := exec.Command(s.bin, "server", "--address", s.addr, "--console-address", s.console,
		"--certs-dir", filepath.Join(s.dir, "certs"), filepath.Join(s.dir, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+minioUser, "MINIO_ROOT_PASSWORD="+minioPassword,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so a kill reaches any helper it starts.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://" + s.addr + "/minio/health/ready")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("minio exited while starting; see %s", filepath.Join(s.dir, "minio.log"))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("minio not ready at %s after 30s", s.addr)
		}
	}
}

// kill ends MinIO with SIGKILL, as a crash would, and waits for it.
func (s *minioServer) kill(t *testing.T) {
	select {
	case <-s.exited:
		return
	default:
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// store opens a bucket on the server, closed when the test ends.
func (s *minioServer) store(t *testing.T, ctx context.Context) objstore.Store {
	t.Helper()
	opts := objstore.S3Options{Endpoint: "http://" + s.addr, Bucket: Bucket, Prefix: "restart",
		AccessKeyID: minioUser, SecretAccessKey: minioPassword}
	// Ready can precede the object layer's initialisation by a moment.
	for attempt := 0; ; attempt++ {
		err := objstore.CreateBucket(ctx, opts)
		if err == nil {
			break
		}
		if attempt == 50 {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := objstore.NewS3(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
