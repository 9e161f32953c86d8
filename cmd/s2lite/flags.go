package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/s2lite/s2lite/partition"
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
	metricsAddr         string

	enableImport        bool
	corsOrigins         []string
	gcMinAge            time.Duration
	checkpointInterval  time.Duration
	checkpointRetention time.Duration

	// Usage metrics.
	usageFlushInterval   time.Duration
	usageMinuteRetention time.Duration
	usageHourRetention   time.Duration
	metricsPerBasin      bool

	// Access tokens.
	rootToken string
	noAuth    bool

	// Memory and hostile-client limits.
	memoryLimit          int64
	maxReadSessions      int
	maxConcurrentStreams int

	// Engine tuning (the reference passes SL8_* settings to its engine).
	walMinInterval   time.Duration
	walMaxObjectSize int64
	memtableSize     int64
	maxUnflushed     int64
	blockCacheSize   int64
	sstTargetSize    int64

	// Cluster mode (off without clusterEtcd).
	clusterEtcd       []string
	advertiseURL      string
	nodeID            string
	clusterName       string
	clusterPartitions int
	clusterLeaseTTL   time.Duration
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
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", os.Getenv("S2LITE_METRICS_ADDR"), "serve Prometheus /metrics on this address instead of the API's, e.g. 127.0.0.1:9090 (env S2LITE_METRICS_ADDR)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&cfg.enableImport, "enable-import", false, "accept s2lite import: records written at given sequence numbers (POST /v1/streams/{stream}/import); it can rewrite a stream's history, so enable it only while migrating")
	gcMinAge := fs.String("gc-min-age", envOr("S2LITE_GC_MIN_AGE", "10m"), "how long an unreferenced object stays before garbage collection deletes it; a copy of the storage made with plain tools (aws s3 sync, rsync) is consistent only if it finishes within this age (env S2LITE_GC_MIN_AGE)")
	cpInterval := fs.String("checkpoint-interval", envOr("S2LITE_CHECKPOINT_INTERVAL", "0"), "create a restore point this often, for point-in-time restore (e.g. 1h; 0 disables) (env S2LITE_CHECKPOINT_INTERVAL)")
	cpRetention := fs.String("checkpoint-retention", envOr("S2LITE_CHECKPOINT_RETENTION", "24h"), "how long restore points, and the WAL and tables they need, are kept: the point-in-time restore window (env S2LITE_CHECKPOINT_RETENTION)")
	usageFlush := fs.String("usage-flush-interval", envOr("S2LITE_USAGE_FLUSH_INTERVAL", "10s"), "how often usage metrics (GET /v1/metrics) are written to storage: a crash loses at most this much of them; shorter costs one small engine write per period (env S2LITE_USAGE_FLUSH_INTERVAL)")
	usageMinutes := fs.String("usage-minute-retention", envOr("S2LITE_USAGE_MINUTE_RETENTION", "24h"), "how long per-minute usage metrics are kept before only their hour and day roll-ups remain; longer costs memory per basin (env S2LITE_USAGE_MINUTE_RETENTION)")
	usageHours := fs.String("usage-hour-retention", envOr("S2LITE_USAGE_HOUR_RETENTION", "744h"), "how long per-hour usage metrics are kept (the API allows 30-day ranges); day roll-ups are kept 400 days (env S2LITE_USAGE_HOUR_RETENTION)")
	perBasinDefault := false
	if v := os.Getenv("S2LITE_METRICS_PER_BASIN"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("S2LITE_METRICS_PER_BASIN: %q is not true or false", v)
		}
		perBasinDefault = b
	}
	fs.BoolVar(&cfg.metricsPerBasin, "metrics-per-basin", perBasinDefault, "export each basin's attributed object-store requests and bytes on /metrics, labelled by basin (one series set per basin: enable only with few basins) (env S2LITE_METRICS_PER_BASIN)")
	fs.StringVar(&cfg.rootToken, "root-token", os.Getenv("S2LITE_ROOT_TOKEN"), "the root access token (at least 16 characters); without it the stored one is kept, or on first start one is generated and printed once (env S2LITE_ROOT_TOKEN)")
	fs.BoolVar(&cfg.noAuth, "no-auth", false, "serve every request without an access token (development only: anyone who can reach the port can read and delete everything)")
	memLimit := fs.String("memory-limit", envOr("S2LITE_MEMORY_LIMIT", "1GiB"), "memory the server may use: engine memtables, block cache and in-flight appends are carved out of it, the rest bounds request bodies, S2S frames and read-session buffers (a request that cannot get memory is answered 429); also Go's soft memory limit (env S2LITE_MEMORY_LIMIT)")
	maxSessions := fs.String("max-read-sessions", envOr("S2LITE_MAX_READ_SESSIONS", "4096"), "SSE and S2S read sessions open at once; more are answered 429 (env S2LITE_MAX_READ_SESSIONS)")
	maxStreams := fs.String("max-h2-streams", envOr("S2LITE_MAX_H2_STREAMS", "128"), "concurrent HTTP/2 streams (requests and sessions) per connection (env S2LITE_MAX_H2_STREAMS)")
	walMinInterval := fs.String("wal-min-interval", envOr("S2LITE_WAL_MIN_INTERVAL", "0"), "minimum time between the starts of two WAL PUTs: 0 acknowledges at about one PUT of latency; e.g. 50ms caps WAL PUTs at 20/s (cost) and adds up to that much latency (env S2LITE_WAL_MIN_INTERVAL)")
	walMaxObject := fs.String("wal-max-object-size", envOr("S2LITE_WAL_MAX_OBJECT_SIZE", "8MiB"), "largest WAL object; larger groups are split (env S2LITE_WAL_MAX_OBJECT_SIZE)")
	memtable := fs.String("memtable-size", envOr("S2LITE_MEMTABLE_SIZE", "32MiB"), "memtable size at which it is flushed to a table: larger means fewer, larger flushes and more memory (env S2LITE_MEMTABLE_SIZE)")
	unflushed := fs.String("max-unflushed-size", envOr("S2LITE_MAX_UNFLUSHED_SIZE", ""), "memtables not yet flushed before writers wait (default 4x --memtable-size) (env S2LITE_MAX_UNFLUSHED_SIZE)")
	cache := fs.String("block-cache-size", envOr("S2LITE_BLOCK_CACHE_SIZE", "64MiB"), "table block cache: larger serves more catch-up reads from memory instead of GETs (env S2LITE_BLOCK_CACHE_SIZE)")
	sstTarget := fs.String("sst-target-size", envOr("S2LITE_SST_TARGET_SIZE", "64MiB"), "target size of compacted tables: larger means fewer objects and larger rewrites (env S2LITE_SST_TARGET_SIZE)")
	clusterEtcd := fs.String("cluster-etcd", os.Getenv("S2LITE_CLUSTER_ETCD"), "cluster mode: comma-separated etcd endpoints (e.g. http://10.0.0.1:2379,http://10.0.0.2:2379); every node of a cluster serves the same --bucket and --path (env S2LITE_CLUSTER_ETCD)")
	fs.StringVar(&cfg.advertiseURL, "advertise-url", os.Getenv("S2LITE_ADVERTISE_URL"), "cluster mode: the URL other nodes reach this one at, e.g. http://10.0.0.3:8080 (env S2LITE_ADVERTISE_URL)")
	fs.StringVar(&cfg.nodeID, "node-id", os.Getenv("S2LITE_NODE_ID"), "cluster mode: this node's name, stable across restarts (default: the host:port of --advertise-url) (env S2LITE_NODE_ID)")
	fs.StringVar(&cfg.clusterName, "cluster-name", envOr("S2LITE_CLUSTER_NAME", "default"), "cluster mode: the cluster's name in etcd, to share one etcd among clusters (env S2LITE_CLUSTER_NAME)")
	partitions := fs.String("cluster-partitions", envOr("S2LITE_CLUSTER_PARTITIONS", "16"), "cluster mode: the number of basin partitions, fixed when a bucket first runs in cluster mode (later values are ignored): more spreads load finer and costs more idle requests and memory (env S2LITE_CLUSTER_PARTITIONS)")
	leaseTTL := fs.String("cluster-lease-ttl", envOr("S2LITE_CLUSTER_LEASE_TTL", "5s"), "cluster mode: the etcd lease of a node: a node that dies is replaced after about this long plus the time to open its partitions (env S2LITE_CLUSTER_LEASE_TTL)")
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
	for _, z := range []struct {
		name string
		in   string
		out  *int64
		min  int64
	}{
		{"memory-limit", *memLimit, &cfg.memoryLimit, 64 << 20},
		{"wal-max-object-size", *walMaxObject, &cfg.walMaxObjectSize, 64 << 10},
		{"memtable-size", *memtable, &cfg.memtableSize, 1 << 20},
		{"block-cache-size", *cache, &cfg.blockCacheSize, 1 << 20},
		{"sst-target-size", *sstTarget, &cfg.sstTargetSize, 1 << 20},
	} {
		v, err := parseSize(z.in)
		if err != nil {
			return cfg, fmt.Errorf("--%s: %w", z.name, err)
		}
		if v < z.min {
			return cfg, fmt.Errorf("--%s: %s is below the minimum of %s", z.name, z.in, formatSize(z.min))
		}
		*z.out = v
	}
	cfg.maxUnflushed = 4 * cfg.memtableSize
	if *unflushed != "" {
		if cfg.maxUnflushed, err = parseSize(*unflushed); err != nil {
			return cfg, fmt.Errorf("--max-unflushed-size: %w", err)
		}
		if cfg.maxUnflushed < cfg.memtableSize {
			return cfg, fmt.Errorf("--max-unflushed-size: %s is below --memtable-size", *unflushed)
		}
	}
	for _, n := range []struct {
		name string
		in   string
		out  *int
		min  int
	}{
		{"max-read-sessions", *maxSessions, &cfg.maxReadSessions, 1},
		{"max-h2-streams", *maxStreams, &cfg.maxConcurrentStreams, 1},
	} {
		v, err := strconv.Atoi(strings.TrimSpace(n.in))
		if err != nil {
			return cfg, fmt.Errorf("--%s: %q is not a number", n.name, n.in)
		}
		if v < n.min {
			return cfg, fmt.Errorf("--%s: %d is below the minimum of %d", n.name, v, n.min)
		}
		*n.out = v
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
		{"wal-min-interval", *walMinInterval, &cfg.walMinInterval, 0},
		{"usage-flush-interval", *usageFlush, &cfg.usageFlushInterval, time.Second},
		{"usage-minute-retention", *usageMinutes, &cfg.usageMinuteRetention, time.Hour},
		{"usage-hour-retention", *usageHours, &cfg.usageHourRetention, 24 * time.Hour},
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
	if err := parseClusterFlags(&cfg, *clusterEtcd, *partitions, *leaseTTL); err != nil {
		return cfg, err
	}
	if cfg.checkpointInterval > 0 && cfg.checkpointInterval < time.Second {
		return cfg, fmt.Errorf("--checkpoint-interval: %v is below the minimum of 1s", cfg.checkpointInterval)
	}
	switch {
	case cfg.noAuth && cfg.rootToken != "":
		return cfg, errors.New("--no-auth and --root-token cannot be used together")
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

// parseClusterFlags checks the cluster flags; they matter only with
// --cluster-etcd.
func parseClusterFlags(cfg *serveConfig, etcd, partitions, leaseTTL string) error {
	for e := range strings.SplitSeq(etcd, ",") {
		if e = strings.TrimSpace(e); e != "" {
			cfg.clusterEtcd = append(cfg.clusterEtcd, e)
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(partitions))
	if err != nil || n < 1 || n > partition.MaxPartitions {
		return fmt.Errorf("--cluster-partitions: %q is not a number from 1 to %d", partitions, partition.MaxPartitions)
	}
	cfg.clusterPartitions = n
	if cfg.clusterLeaseTTL, err = time.ParseDuration(leaseTTL); err != nil || cfg.clusterLeaseTTL < 2*time.Second {
		return fmt.Errorf("--cluster-lease-ttl: %q is not a duration of at least 2s", leaseTTL)
	}
	if len(cfg.clusterEtcd) == 0 {
		return nil
	}
	switch {
	case cfg.advertiseURL == "":
		return errors.New("--cluster-etcd needs --advertise-url: the URL other nodes reach this one at")
	case cfg.bucket == "" && cfg.localRoot == "":
		return errors.New("--cluster-etcd needs --bucket (or --local-root on a shared directory): in-memory storage cannot be shared")
	case cfg.tls():
		return errors.New("--cluster-etcd with TLS is not built yet: nodes forward to each other over cleartext HTTP/2")
	}
	u, err := url.Parse(cfg.advertiseURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("--advertise-url: %q is not an http://host:port URL", cfg.advertiseURL)
	}
	if cfg.nodeID == "" {
		cfg.nodeID = u.Host
	}
	if strings.Contains(cfg.nodeID, "/") || strings.Contains(cfg.clusterName, "/") || cfg.clusterName == "" {
		return errors.New("--node-id and --cluster-name must be non-empty and contain no '/'")
	}
	return nil
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

// formatSize renders a byte size the way the flags take it.
func formatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return strconv.FormatInt(n, 10)
}
