// Command bench measures s2lite against a real object store and reports
// every figure next to a baseline measured in the same run (raw PUT and GET
// latency for the same object sizes), because absolute times on a shared
// machine drift.
//
//	go run ./internal/tools/withminio -- go run ./bench engine -out bench/results
//	go run ./internal/tools/withminio -- go run ./bench server -out bench/results
//	go run ./internal/tools/withminio -- go run ./bench cluster -out bench/results
//
// engine and ingest drive the engine in-process; server builds and runs the
// s2lite server on loopback behind a request-counting proxy (see README.md
// in this directory); cluster runs two cluster-mode nodes the same way and
// compares requests through the owner of a basin with requests forwarded
// by the other node.
//
// The S3 endpoint comes from the standard AWS_* variables (withminio sets
// them); the bucket is created if missing.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/s2lite/s2lite/objstore"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench engine|ingest|server|cluster [flags]")
		os.Exit(2)
	}
	if path := os.Getenv("S2LITE_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	var err error
	switch os.Args[1] {
	case "engine":
		err = runEngine(os.Args[2:])
	case "ingest":
		err = runIngest(os.Args[2:])
	case "server":
		err = runServerBench(os.Args[2:])
	case "cluster":
		err = runClusterBench(os.Args[2:])
	default:
		err = fmt.Errorf("unknown benchmark %q (have: engine, ingest, server, cluster)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// s3Store opens the benchmark bucket under a fresh prefix.
func s3Store(ctx context.Context, bucket string) (objstore.Store, *objstore.Counting, error) {
	opts := objstore.S3OptionsFromEnv(bucket, fmt.Sprintf("bench-%d", time.Now().UnixNano()))
	if opts.Endpoint == "" {
		return nil, nil, fmt.Errorf("AWS_ENDPOINT_URL_S3 is not set: run under internal/tools/withminio (make bench)")
	}
	if err := objstore.CreateBucket(ctx, opts); err != nil {
		return nil, nil, err
	}
	s3, err := objstore.NewS3(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	counting := objstore.NewCounting(s3)
	return objstore.NewRetrying(counting, objstore.RetryOptions{Logger: slog.Default()}), counting, nil
}

func writeJSON(dir, name string, v any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), append(data, '\n'), 0o644)
}

func commonFlags(fs *flag.FlagSet) (out, bucket *string) {
	return fs.String("out", "bench/results", "directory for results (JSON and Markdown)"),
		fs.String("bucket", "s2lite-bench", "bucket to use (created if missing)")
}
