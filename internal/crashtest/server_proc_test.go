package crashtest

// The s2lite server as a child process for the server crash matrix
// (server_crash_test.go): building the binary, starting and stopping it,
// and talking to it through the public client.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/s2lite/s2lite/client"
)

// serverBinaries are the two builds of ./cmd/s2lite the matrix runs.
type serverBinaries struct {
	// plain is ./cmd/s2lite exactly as it is, with the engine's defaults.
	plain string
	// tuned is ./cmd/s2lite with two hooks added at build time (go build
	// -overlay, the source tree is not touched): its store is wrapped in
	// objstore.FaultStore, so the object store failpoints work, and the
	// engine gets small memtables and frequent compaction and garbage
	// collection, so that flushes, compactions and deletes happen within a
	// second rather than after 32 MiB or 10 minutes.
	tuned string
}

// tunedHooks is the file the overlay adds to package main of cmd/s2lite.
const tunedHooks = `package main

// Added at build time by internal/crashtest (go build -overlay) for the
// server crash matrix; never part of the source tree.

import (
	"time"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/sst"
)

func crashtestStore(s objstore.Store) objstore.Store { return objstore.NewFaultStore(s) }

func crashtestEngineOptions(o engine.Options) engine.Options {
	o.MemtableSize = 16 << 10
	o.MaxMemtableWALObjects = 24
	o.CompactionInterval = 300 * time.Millisecond
	o.GCInterval = 250 * time.Millisecond
	o.GCMinAge = time.Second
	o.Table = sst.WriterOptions{BlockSize: 512}
	return o
}
`

// moduleRoot is the directory of the module the test runs in (under make
// fault-test, the copy whose failpoint markers are rewritten).
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// buildServers compiles both binaries.
func buildServers(t *testing.T) serverBinaries {
	t.Helper()
	root := moduleRoot(t)
	dir := t.TempDir()
	bins := serverBinaries{plain: filepath.Join(dir, "s2lite"), tuned: filepath.Join(dir, "s2lite-tuned")}
	build := func(bin string, extra ...string) {
		args := append([]string{"build"}, extra...)
		args = append(args, "-o", bin, "./cmd/s2lite")
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	build(bins.plain)
	build(bins.tuned, "-overlay", writeTunedOverlay(t, root, dir))
	return bins
}

// writeTunedOverlay writes the overlay of the tuned build: units.go with
// the options of engine.Open passed through crashtestEngineOptions,
// storage.go with the store of every storage value passed through
// crashtestStore, and the file defining both. The edits are made on the
// syntax tree, so they follow the files as they change; if the calls they
// look for are gone, the test says so.
func writeTunedOverlay(t *testing.T, root, dir string) string {
	t.Helper()
	cmdDir := filepath.Join(root, "cmd", "s2lite")
	replace := map[string]string{}
	rewrite := func(name string, edit func(*ast.File) int, want string) {
		src := filepath.Join(cmdDir, name)
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, src, nil, parser.ParseComments)
		if err != nil {
			t.Fatalf("tuned build: %v", err)
		}
		if edit(f) == 0 {
			t.Fatalf("tuned build: %s has no %s any more: update writeTunedOverlay", src, want)
		}
		var buf bytes.Buffer
		if err := format.Node(&buf, fset, f); err != nil {
			t.Fatalf("tuned build: printing %s: %v", name, err)
		}
		dst := filepath.Join(dir, name)
		if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		replace[src] = dst
	}
	wrap := func(e ast.Expr, fn string) ast.Expr {
		return &ast.CallExpr{Fun: ast.NewIdent(fn), Args: []ast.Expr{e}}
	}
	rewrite("units.go", func(f *ast.File) int {
		n := 0
		ast.Inspect(f, func(node ast.Node) bool {
			call, ok := node.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Open" {
				if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "engine" {
					call.Args[1] = wrap(call.Args[1], "crashtestEngineOptions")
					n++
				}
			}
			return true
		})
		return n
	}, "engine.Open(ctx, options) call")
	rewrite("storage.go", func(f *ast.File) int {
		n := 0
		ast.Inspect(f, func(node ast.Node) bool {
			lit, ok := node.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "storage" {
				return true
			}
			for _, e := range lit.Elts {
				if kv, ok := e.(*ast.KeyValueExpr); ok {
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "store" {
						kv.Value = wrap(kv.Value, "crashtestStore")
						n++
					}
				}
			}
			return true
		})
		return n
	}, "storage{store: ...} literal")
	hooks := filepath.Join(dir, "zz_crashtest_hooks.go")
	if err := os.WriteFile(hooks, []byte(tunedHooks), 0o644); err != nil {
		t.Fatal(err)
	}
	replace[filepath.Join(cmdDir, "zz_crashtest_hooks.go")] = hooks
	overlay, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(path, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// serverStore is the storage flags of one backend.
type serverStore struct {
	args []string
}

// serverStoreFor maps a backend to s2lite's flags: a local directory, or a
// fresh path in the test bucket of the MinIO that withminio started.
func serverStoreFor(t *testing.T, be backend) serverStore {
	t.Helper()
	kind, arg, _ := strings.Cut(be.spec, ":")
	if kind == "dir" {
		return serverStore{args: []string{"--local-root", arg}}
	}
	// OpenStore creates the bucket, which s2lite does not.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, release, err := OpenStore(ctx, be.spec)
	if err != nil {
		t.Fatal(err)
	}
	release()
	return serverStore{args: []string{"--bucket", Bucket, "--path", arg}}
}

// serverProc is one s2lite process.
type serverProc struct {
	cmd     *exec.Cmd
	stderr  *tailBuffer
	addr    chan string // the base URL, once it listens
	exited  chan struct{}
	waitErr error
	killed  atomic.Bool // we sent SIGKILL
	started time.Time
}

// addrWatcher is the process's stdout: s2lite prints
// "export S2_ACCOUNT_ENDPOINT=http://HOST:PORT" once it listens.
type addrWatcher struct {
	mu   sync.Mutex
	line []byte
	addr chan string
	sent bool
}

func (w *addrWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range p {
		if c != '\n' {
			if len(w.line) < 4096 {
				w.line = append(w.line, c)
			}
			continue
		}
		if v, ok := strings.CutPrefix(string(w.line), "export S2_ACCOUNT_ENDPOINT="); ok && !w.sent {
			w.sent = true
			w.addr <- strings.TrimSpace(v)
		}
		w.line = w.line[:0]
	}
	return len(p), nil
}

// startServer starts bin on the store on a free loopback port, with
// GO_FAILPOINTS set to failpoints (none if empty).
func startServer(t *testing.T, bin string, st serverStore, failpoints string) *serverProc {
	t.Helper()
	args := append([]string{"serve", "--host", "127.0.0.1", "--port", "0", "--log-level", "warn"}, st.args...)
	p := &serverProc{
		cmd:    exec.Command(bin, args...),
		stderr: &tailBuffer{max: 32 << 10},
		addr:   make(chan string, 1),
		exited: make(chan struct{}),
	}
	// Access tokens are on, as by default, with a root token the
	// clients know.
	p.cmd.Env = append(workerEnv(failpoints), "S2LITE_ROOT_TOKEN="+crashRootToken)
	p.cmd.Stdout = &addrWatcher{addr: p.addr}
	p.cmd.Stderr = p.stderr
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		<-p.exited
	})
	return p
}

// ready waits until the server listens (its base URL) or exits ("").
func (p *serverProc) ready(t *testing.T) string {
	t.Helper()
	timer := time.NewTimer(90 * time.Second)
	defer timer.Stop()
	select {
	case a := <-p.addr:
		return a
	case <-p.exited:
		return ""
	case <-timer.C:
		p.kill()
		t.Fatalf("s2lite did not listen within 90s\n%s", tail(p.stderr.String(), 30))
	}
	return ""
}

// mustReady is ready for a server that has no reason to die.
func (p *serverProc) mustReady(t *testing.T) string {
	t.Helper()
	a := p.ready(t)
	if a == "" {
		t.Fatalf("s2lite exited at start-up with %s\n%s", p.status(), tail(p.stderr.String(), 30))
	}
	return a
}

func (p *serverProc) kill() {
	select {
	case <-p.exited:
	default:
		p.killed.Store(true)
		p.cmd.Process.Kill()
	}
}

// stop sends sig and waits for the exit.
func (p *serverProc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if sig == syscall.SIGKILL {
		p.killed.Store(true)
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.kill()
		<-p.exited
		t.Fatalf("s2lite did not exit within 30s of %v\n%s", sig, tail(p.stderr.String(), 30))
	}
}

// exitCode is the exit status, -1 if a signal ended the process. Only
// after exited is closed.
func (p *serverProc) exitCode() int {
	var ee *exec.ExitError
	if p.waitErr == nil {
		return 0
	}
	if errors.As(p.waitErr, &ee) {
		return ee.ExitCode()
	}
	return -2
}

// crashed reports whether the process ended itself with the crash status
// of a failpoint (not by a signal, and not by our hand).
func (p *serverProc) crashed() bool {
	var ee *exec.ExitError
	if !errors.As(p.waitErr, &ee) || p.killed.Load() {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Exited() && ws.ExitStatus() == 137
}

func (p *serverProc) status() string {
	select {
	case <-p.exited:
	default:
		return "running"
	}
	if p.waitErr == nil {
		return "exit status 0"
	}
	return p.waitErr.Error()
}

// crashRootToken is the root access token of the server processes.
const crashRootToken = "crash-matrix-root-token-0123456789"

// apiClient talks to one server process through the public Go client.
type apiClient struct {
	base  string
	c     *client.Client
	basin *client.Basin
}

func newAPIClient(t *testing.T, base string) *apiClient {
	t.Helper()
	c, err := client.New(client.Config{
		AccountEndpoint: base,
		AccessToken:     crashRootToken,
		// JSON with base64 records: the server path the matrix has always
		// driven, headers and bodies of any bytes included.
		Format: client.FormatJSON,
		// One attempt per request: the matrix counts what each request
		// got (acknowledged, 412, 5xx, no answer), which retries would
		// hide, and a verification must not paper over a failure.
		MaxAttempts:    1,
		RequestTimeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &apiClient{base: base, c: c, basin: c.Basin(crashBasin)}
}

func (c *apiClient) close() { c.c.Close() }

// stream is a handle on one of the matrix's streams, with its key if it
// is encrypted.
func (c *apiClient) stream(s *streamLedger) *client.Stream {
	return c.basin.Stream(s.name).WithEncryptionKey(s.key)
}

// metrics returns the server's Prometheus metrics. They are s2lite's own,
// not part of the S2 API, so this is a plain request on a connection of
// its own that it closes.
func (c *apiClient) metrics(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Transport{DisableKeepAlives: true}).RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("GET /metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: status %d: %s", resp.StatusCode, b)
	}
	return string(b), nil
}
