package main

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

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

func TestParseHumanDuration(t *testing.T) {
	for in, want := range map[string]uint64{
		"7d": 604800, "1w": 604800, "2h 30m": 9000, "2h30m": 9000, "90s": 90, "1h": 3600,
		"3 days": 259200, "1500ms": 1, "1y": 31557600, "1M": 2630016, "10min": 600,
	} {
		if got, err := parseHumanDuration(in); err != nil || got != want {
			t.Errorf("parseHumanDuration(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "7", "7 fortnights", "1h x", "-1h"} {
		if _, err := parseHumanDuration(in); err == nil {
			t.Errorf("parseHumanDuration(%q) accepted", in)
		}
	}
}

func TestParseInitFile(t *testing.T) {
	good := `{"basins":[{"name":"my-basin",
	  "config":{"default_stream_config":{"storage_class":"express","retention_policy":"7d",
	            "timestamping":{"mode":"client-prefer","uncapped":false},
	            "delete_on_empty":{"min_age":"1h"}},
	            "stream_cipher":null,"create_stream_on_append":true,"create_stream_on_read":false},
	  "streams":[{"name":"events","config":{"retention_policy":"infinite"}},{"name":"plain"}]}]}`
	f, err := parseInitFile([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	bc, err := f.Basins[0].basinConfig()
	if err != nil {
		t.Fatal(err)
	}
	d := bc.DefaultStreamConfig
	if !bc.CreateStreamOnAppend || d == nil || d.RetentionPolicy.AgeSecs != 604800 || d.DeleteOnEmpty.MinAgeSecs != 3600 ||
		*d.Timestamping.Mode != "client-prefer" || *d.StorageClass != "express" {
		t.Fatalf("basin config %+v", bc)
	}
	sc, err := f.Basins[0].Streams[0].Config.streamConfig()
	if err != nil || !sc.RetentionPolicy.Infinite {
		t.Fatalf("stream config %+v %v", sc, err)
	}

	for name, bad := range map[string]string{
		"unknown key":       `{"basins":[{"name":"my-basin","colour":"red"}]}`,
		"unknown top key":   `{"basin":[]}`,
		"duplicate basin":   `{"basins":[{"name":"my-basin"},{"name":"my-basin"}]}`,
		"duplicate stream":  `{"basins":[{"name":"my-basin","streams":[{"name":"s"},{"name":"s"}]}]}`,
		"zero retention":    `{"basins":[{"name":"my-basin","streams":[{"name":"s","config":{"retention_policy":"0s"}}]}]}`,
		"bad duration":      `{"basins":[{"name":"my-basin","config":{"default_stream_config":{"retention_policy":"soon"}}}]}`,
		"bad basin name":    `{"basins":[{"name":"B"}]}`,
		"bad stream name":   `{"basins":[{"name":"my-basin","streams":[{"name":".."}]}]}`,
		"bad storage class": `{"basins":[{"name":"my-basin","streams":[{"name":"s","config":{"storage_class":"cold"}}]}]}`,
		"bad mode":          `{"basins":[{"name":"my-basin","streams":[{"name":"s","config":{"timestamping":{"mode":"x"}}}]}]}`,
		"trailing data":     `{"basins":[]} {}`,
		"not json":          `basins:`,
	} {
		if _, err := parseInitFile([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "init file") {
			t.Errorf("%s: error %q does not say where", name, err)
		}
	}
}
