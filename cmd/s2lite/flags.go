package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// errHelp reports that -h was asked for and answered.
var errHelp = errors.New("help requested")

// serveConfig is the parsed command line of `s2lite serve` (API 14.3).
type serveConfig struct {
	host      string
	port      int // -1: 80, or 443 with TLS
	bucket    string
	path      string
	localRoot string

	tlsSelf bool
	tlsCert string
	tlsKey  string

	noCORS              bool
	initFile            string
	appendInflightBytes int64
	logLevel            slog.Level
	pprofAddr           string

	enableImport        bool
	corsOrigins         []string
	gcMinAge            time.Duration
	checkpointInterval  time.Duration
	checkpointRetention time.Duration
}

const minInflightBytes = 1 << 20

func parseServeFlags(args []string, output io.Writer) (serveConfig, error) {
	cfg := serveConfig{port: -1}
	fs := flag.NewFlagSet("s2lite serve", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.host, "host", "0.0.0.0", "address to listen on")
	port := fs.String("port", "", "port to listen on (default 80, or 443 with TLS; 0 picks a free port)")
	fs.StringVar(&cfg.bucket, "bucket", "", "S3 bucket for durable storage (credentials and endpoint from the AWS_* environment)")
	fs.StringVar(&cfg.path, "path", "", "base path inside the bucket or local root")
	fs.StringVar(&cfg.localRoot, "local-root", "", "directory for a local-filesystem object store (created if missing)")
	fs.BoolVar(&cfg.tlsSelf, "tls-self", false, "serve HTTPS with a self-signed certificate generated at start-up")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM certificate chain for HTTPS (with --tls-key)")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key for HTTPS (with --tls-cert)")
	fs.BoolVar(&cfg.noCORS, "no-cors", false, "disable CORS handling")
	corsOrigins := fs.String("cors-allow-origin", os.Getenv("S2LITE_CORS_ALLOW_ORIGIN"), "comma-separated origins allowed to make credentialed cross-origin requests; without it any origin may call, never with credentials (env S2LITE_CORS_ALLOW_ORIGIN)")
	fs.StringVar(&cfg.initFile, "init-file", os.Getenv("S2LITE_INIT_FILE"), "JSON file of basins and streams to ensure at start-up (env S2LITE_INIT_FILE)")
	inflight := fs.String("append-inflight-bytes", "128MiB", "server-wide budget of metered bytes of appends in flight (at least 1MiB)")
	fs.StringVar(&cfg.pprofAddr, "pprof-addr", "", "serve Go profiling (net/http/pprof) on this address, e.g. 127.0.0.1:6060; off when empty")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&cfg.enableImport, "enable-import", false, "accept s2lite import: records written at given sequence numbers (POST /v1/streams/{stream}/import); it can rewrite a stream's history, so enable it only while migrating")
	gcMinAge := fs.String("gc-min-age", envOr("S2LITE_GC_MIN_AGE", "10m"), "how long an unreferenced object stays before garbage collection deletes it; a copy of the storage made with plain tools (aws s3 sync, rsync) is consistent only if it finishes within this age (env S2LITE_GC_MIN_AGE)")
	cpInterval := fs.String("checkpoint-interval", envOr("S2LITE_CHECKPOINT_INTERVAL", "0"), "create a restore point this often, for point-in-time restore (e.g. 1h; 0 disables) (env S2LITE_CHECKPOINT_INTERVAL)")
	cpRetention := fs.String("checkpoint-retention", envOr("S2LITE_CHECKPOINT_RETENTION", "24h"), "how long restore points, and the WAL and tables they need, are kept: the point-in-time restore window (env S2LITE_CHECKPOINT_RETENTION)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, errHelp
		}
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	for o := range strings.SplitSeq(*corsOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.corsOrigins = append(cfg.corsOrigins, o)
		}
	}
	if *port != "" {
		p, err := strconv.ParseUint(*port, 10, 16)
		if err != nil {
			return cfg, fmt.Errorf("--port: %q is not a valid port", *port)
		}
		cfg.port = int(p)
	}
	var err error
	if cfg.appendInflightBytes, err = parseSize(*inflight); err != nil {
		return cfg, fmt.Errorf("--append-inflight-bytes: %w", err)
	}
	if cfg.appendInflightBytes < minInflightBytes {
		return cfg, fmt.Errorf("--append-inflight-bytes: %s is below the minimum of 1MiB", *inflight)
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return cfg, fmt.Errorf("--log-level: %w", err)
	}
	for _, d := range []struct {
		name string
		in   string
		out  *time.Duration
		min  time.Duration
	}{
		{"gc-min-age", *gcMinAge, &cfg.gcMinAge, time.Minute},
		{"checkpoint-interval", *cpInterval, &cfg.checkpointInterval, 0},
		{"checkpoint-retention", *cpRetention, &cfg.checkpointRetention, time.Minute},
	} {
		v, err := time.ParseDuration(d.in)
		if err != nil {
			return cfg, fmt.Errorf("--%s: %w", d.name, err)
		}
		if v < d.min || v < 0 {
			return cfg, fmt.Errorf("--%s: %v is below the minimum of %v", d.name, v, d.min)
		}
		*d.out = v
	}
	if cfg.checkpointInterval > 0 && cfg.checkpointInterval < time.Second {
		return cfg, fmt.Errorf("--checkpoint-interval: %v is below the minimum of 1s", cfg.checkpointInterval)
	}
	switch {
	case cfg.bucket != "" && cfg.localRoot != "":
		return cfg, errors.New("--bucket and --local-root cannot be used together")
	case cfg.tlsSelf && (cfg.tlsCert != "" || cfg.tlsKey != ""):
		return cfg, errors.New("--tls-self cannot be used with --tls-cert or --tls-key")
	case (cfg.tlsCert == "") != (cfg.tlsKey == ""):
		return cfg, errors.New("--tls-cert and --tls-key must be given together")
	}
	if cfg.port == -1 {
		cfg.port = 80
		if cfg.tls() {
			cfg.port = 443
		}
	}
	return cfg, nil
}

// envOr returns the environment variable's value, or def when unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func (c serveConfig) tls() bool { return c.tlsSelf || c.tlsCert != "" }

// parseSize parses a byte size such as 1048576, 512KiB, 128MiB, 1GB.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9') {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", s, err)
	}
	units := map[string]int64{
		"": 1, "b": 1,
		"k": 1 << 10, "kb": 1000, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1000 * 1000, "mib": 1 << 20,
		"g": 1 << 30, "gb": 1000 * 1000 * 1000, "gib": 1 << 30,
	}
	mult, ok := units[strings.ToLower(strings.TrimSpace(s[i:]))]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q", s, s[i:])
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n * mult, nil
}
