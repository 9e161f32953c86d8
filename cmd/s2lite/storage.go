package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/s2lite/s2lite/objstore"
)

// storage is the object store selected by the flags.
type storage struct {
	store    objstore.Store
	describe string
	close    func()
	// s3 is the bucket store itself, for what only S3 has (versions).
	s3 *objstore.S3
}

// openStorage selects S3 (--bucket), a local directory (--local-root) or,
// with neither, memory, which loses everything at exit and is announced
// loudly for that reason.
func openStorage(ctx context.Context, cfg serveConfig, log *slog.Logger) (*storage, error) {
	return openStorageWith(ctx, cfg, log, nil)
}

// openStorageWith is openStorage with wrap (when not nil) put around the
// real store, under the retrying wrapper, so that it sees every attempt:
// the usage metrics' storage meter.
func openStorageWith(ctx context.Context, cfg serveConfig, log *slog.Logger, wrap func(objstore.Store) objstore.Store) (*storage, error) {
	if wrap == nil {
		wrap = func(s objstore.Store) objstore.Store { return s }
	}
	switch {
	case cfg.bucket != "":
		opts := objstore.S3OptionsFromEnv(cfg.bucket, cfg.path)
		s3, err := objstore.NewS3(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("cannot reach S3 bucket %q (endpoint %q; check AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION): %w",
				cfg.bucket, opts.Endpoint, err)
		}
		store := objstore.NewRetrying(wrap(s3), objstore.RetryOptions{Logger: log.With("component", "objstore")})
		desc := fmt.Sprintf("s3://%s/%s", cfg.bucket, cfg.path)
		return &storage{store: store, describe: desc, close: func() { _ = s3.Close() }, s3: s3}, nil
	case cfg.localRoot != "":
		root := filepath.Join(cfg.localRoot, filepath.FromSlash(cfg.path))
		local, err := objstore.NewLocal(root)
		if err != nil {
			return nil, fmt.Errorf("cannot use local root %q: %w", root, err)
		}
		return &storage{store: wrap(local), describe: "local directory " + root, close: func() {}}, nil
	}
	if cfg.path != "" {
		log.Warn("--path is ignored without --bucket or --local-root")
	}
	log.Warn("**************************************************************************")
	log.Warn("IN-MEMORY STORAGE: no --bucket or --local-root given; all data is lost when this process exits")
	log.Warn("**************************************************************************")
	return &storage{store: wrap(objstore.NewMemory()), describe: "memory (not durable)", close: func() {}}, nil
}
