package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s2lite-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

func TestParseServeFlags(t *testing.T) {
	t.Setenv("S2LITE_INIT_FILE", "")
	cfg, err := parseServeFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.host != "0.0.0.0" || cfg.port != 80 || cfg.appendInflightBytes != 128<<20 || cfg.tls() || cfg.noCORS {
		t.Fatalf("defaults %+v", cfg)
	}
	if cfg, err = parseServeFlags([]string{"--tls-self"}, io.Discard); err != nil || cfg.port != 443 {
		t.Fatalf("TLS default port: %+v %v", cfg, err)
	}
	cfg, err = parseServeFlags([]string{"--port", "8080", "--host=127.0.0.1", "--bucket", "b", "--path", "p/q", "--no-cors",
		"--append-inflight-bytes", "2MiB", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.port != 8080 || cfg.host != "127.0.0.1" || cfg.bucket != "b" || cfg.path != "p/q" || !cfg.noCORS ||
		cfg.appendInflightBytes != 2<<20 || cfg.tlsCert != "c.pem" || !cfg.tls() {
		t.Fatalf("parsed %+v", cfg)
	}

	t.Setenv("S2LITE_INIT_FILE", "/etc/init.json")
	if cfg, _ := parseServeFlags(nil, io.Discard); cfg.initFile != "/etc/init.json" {
		t.Fatalf("init file from env: %q", cfg.initFile)
	}
	if cfg, _ := parseServeFlags([]string{"--init-file", "x.json"}, io.Discard); cfg.initFile != "x.json" {
		t.Fatalf("init file flag: %q", cfg.initFile)
	}

	for _, args := range [][]string{
		{"--bucket", "b", "--local-root", "/tmp/x"},
		{"--tls-self", "--tls-cert", "c.pem", "--tls-key", "k.pem"},
		{"--tls-cert", "c.pem"},
		{"--tls-key", "k.pem"},
		{"--append-inflight-bytes", "512KiB"},
		{"--append-inflight-bytes", "lots"},
		{"--port", "70000"},
		{"--port", "http"},
		{"--log-level", "loud"},
		{"--unknown"},
		{"extra-arg"},
	} {
		if _, err := parseServeFlags(args, io.Discard); err == nil || errors.Is(err, errHelp) {
			t.Errorf("%q: accepted", args)
		}
	}
	if _, err := parseServeFlags([]string{"-h"}, io.Discard); !errors.Is(err, errHelp) {
		t.Fatalf("-h: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1048576": 1 << 20, "128MiB": 128 << 20, "1GiB": 1 << 30, "2MB": 2_000_000, "64 KiB": 64 << 10, "3m": 3 << 20, "7b": 7,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1XB", "99999999999999999999", "9999999999GiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

func TestLoadInitFileSaysWhere(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "init.json")
	if err := os.WriteFile(path, []byte(`{"basins":[{"name":"B"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadInitFile(path); err == nil || !strings.HasPrefix(err.Error(), "init file") {
		t.Fatalf("bad init file: %v", err)
	}
	good := `{"basins":[{"name":"my-basin","config":{"default_stream_config":{"retention_policy":"7d"},"create_stream_on_append":true},
	  "streams":[{"name":"events","config":{"retention_policy":"infinite","timestamping":{"mode":"arrival"}}}]}]}`
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	spec, err := loadInitFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bc := basinConfig(spec.Basins[0].Config)
	sc := streamConfig(spec.Basins[0].Streams[0].Config)
	if !bc.CreateStreamOnAppend || bc.DefaultStreamConfig.RetentionPolicy.AgeSecs != 604800 ||
		!sc.RetentionPolicy.Infinite || *sc.Timestamping.Mode != "arrival" {
		t.Fatalf("converted configs %+v %+v", bc, sc)
	}
}

// TestMemoryAndEngineFlags: the memory limit, caps and engine tuning have
// defaults, flags and environment variables, and the memory plan refuses a
// limit the engine's fixed shares do not fit in.
func TestMemoryAndEngineFlags(t *testing.T) {
	cfg, err := parseServeFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.memoryLimit != 1<<30 || cfg.maxReadSessions != 4096 || cfg.maxConcurrentStreams != 128 ||
		cfg.memtableSize != 32<<20 || cfg.maxUnflushed != 128<<20 || cfg.blockCacheSize != 64<<20 ||
		cfg.walMinInterval != 0 || cfg.walMaxObjectSize != 8<<20 || cfg.sstTargetSize != 64<<20 {
		t.Fatalf("defaults %+v", cfg)
	}
	plan, err := planMemory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// 1 GiB = 160 MiB memtables + 64 MiB cache + 128 MiB in flight +
	// 256 MiB runtime headroom + 416 MiB for requests, two fifths of it
	// for read sessions.
	if plan.requests+plan.readers != 416<<20 || plan.readers != (416<<20)*2/5 {
		t.Fatalf("requests get %d MiB, read sessions %d MiB", plan.requests>>20, plan.readers>>20)
	}
	t.Setenv("S2LITE_MEMORY_LIMIT", "2GiB")
	t.Setenv("S2LITE_WAL_MIN_INTERVAL", "50ms")
	t.Setenv("S2LITE_MEMTABLE_SIZE", "16MiB")
	cfg, err = parseServeFlags([]string{"--max-read-sessions", "10", "--block-cache-size", "256MiB"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.memoryLimit != 2<<30 || cfg.walMinInterval != 50*time.Millisecond || cfg.memtableSize != 16<<20 ||
		cfg.maxUnflushed != 64<<20 || cfg.maxReadSessions != 10 || cfg.blockCacheSize != 256<<20 {
		t.Fatalf("from flags and environment %+v", cfg)
	}
	cfg, err = parseServeFlags([]string{"--memory-limit", "256MiB"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := planMemory(cfg); err == nil || !strings.Contains(err.Error(), "raise --memory-limit") {
		t.Fatalf("a limit too small for the engine: %v", err)
	}
	for _, args := range [][]string{
		{"--memory-limit", "1MiB"},
		{"--max-read-sessions", "0"},
		{"--max-h2-streams", "x"},
		{"--memtable-size", "32MiB", "--max-unflushed-size", "1MiB"},
		{"--wal-min-interval", "soon"},
	} {
		if _, err := parseServeFlags(args, io.Discard); err == nil {
			t.Errorf("%q: accepted", args)
		}
	}
}

func TestMetricsPerBasinFlag(t *testing.T) {
	t.Setenv("S2LITE_METRICS_PER_BASIN", "")
	if cfg, err := parseServeFlags(nil, io.Discard); err != nil || cfg.metricsPerBasin {
		t.Fatalf("default: %v %v", cfg.metricsPerBasin, err)
	}
	if cfg, err := parseServeFlags([]string{"--metrics-per-basin"}, io.Discard); err != nil || !cfg.metricsPerBasin {
		t.Fatalf("flag: %v %v", cfg.metricsPerBasin, err)
	}
	t.Setenv("S2LITE_METRICS_PER_BASIN", "true")
	if cfg, err := parseServeFlags(nil, io.Discard); err != nil || !cfg.metricsPerBasin {
		t.Fatalf("env: %v %v", cfg.metricsPerBasin, err)
	}
	if cfg, err := parseServeFlags([]string{"--metrics-per-basin=false"}, io.Discard); err != nil || cfg.metricsPerBasin {
		t.Fatalf("flag over env: %v %v", cfg.metricsPerBasin, err)
	}
	t.Setenv("S2LITE_METRICS_PER_BASIN", "sometimes")
	if _, err := parseServeFlags(nil, io.Discard); err == nil {
		t.Fatal("bad env accepted")
	}
}

// TestCloseWithin: closing storage that does not answer is abandoned after
// the bound, so that the process exits; a close that finishes in time
// reports its own result.
func TestCloseWithin(t *testing.T) {
	release := make(chan struct{})
	done := make(chan struct{})
	start := time.Now()
	err := closeWithin(func() error {
		defer close(done)
		<-release
		return nil
	}, 50*time.Millisecond)
	if !errors.Is(err, errCloseTimeout) || time.Since(start) > 5*time.Second {
		t.Fatalf("a hung close: %v after %v", err, time.Since(start))
	}
	close(release)
	<-done
	boom := errors.New("boom")
	if err := closeWithin(func() error { return boom }, time.Minute); !errors.Is(err, boom) {
		t.Fatalf("a close in time: %v", err)
	}
}
