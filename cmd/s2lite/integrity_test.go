package main

import (
	"bytes"
	"context"
	"errors"
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

// TestBinaryFencedServerExits: a second server on the same storage fences
// the first, which stops acknowledging, turns unready and exits non-zero
// after draining, so a supervisor sees the takeover.
func TestBinaryFencedServerExits(t *testing.T) {
	root := t.TempDir()
	first, base, _, firstErr := startServer(t, "--local-root", root)
	resp, err := authClient.Post(base+"/v1/basins", "application/json", strings.NewReader(`{"basin":"fence-basin"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	authClient.CloseIdleConnections()

	second, _, _, _ := startServer(t, "--local-root", root)
	err = waitExit(first, 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("fenced server: exit %v\nstderr:\n%s", err, firstErr)
	}
	if !strings.Contains(firstErr.String(), "fenced by another writer") {
		t.Fatalf("fenced server did not say why:\n%s", firstErr)
	}
	_ = second.Process.Signal(syscall.SIGTERM)
	if err := waitExit(second, 15*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestBinaryRefusesDamagedStorage: a server whose storage lost a table, or
// holds objects but no manifest, does not start; the error names the
// problem.
func TestBinaryRefusesDamagedStorage(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store, err := objstore.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	db, err := engine.Open(ctx, engine.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	b := engine.NewBatch()
	b.Set([]byte("k"), []byte("v"))
	if err := db.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	tables, _ := filepath.Glob(filepath.Join(root, "sst", "*.sst"))
	if len(tables) != 1 {
		t.Fatalf("tables %v", tables)
	}
	if err := os.Remove(tables[0]); err != nil {
		t.Fatal(err)
	}
	code, stderr := runBinary(t, "serve", "--host", "127.0.0.1", "--port", "0", "--local-root", root)
	if code == 0 || !strings.Contains(stderr, filepath.Base(tables[0])+" is missing") {
		t.Fatalf("start with a table missing: exit %d\n%s", code, stderr)
	}

	if err := os.RemoveAll(filepath.Join(root, "manifest")); err != nil {
		t.Fatal(err)
	}
	code, stderr = runBinary(t, "serve", "--host", "127.0.0.1", "--port", "0", "--local-root", root)
	if code == 0 || !strings.Contains(stderr, "no manifest") {
		t.Fatalf("start without a manifest: exit %d\n%s", code, stderr)
	}
}

// runBinary runs the binary to its end (at most a minute) and returns its
// exit status and stderr.
func runBinary(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(os.Environ(), "S2LITE_INIT_FILE=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stderr.String()
	}
	t.Fatalf("%q: %v", args, err)
	return 0, ""
}
