package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/s2lite/s2lite/internal/initspec"
	"github.com/s2lite/s2lite/stream"
)

// The init file (API 14.4, 14.5) declares basins and streams that are
// ensured at every start-up, so applying it again is harmless. Its format
// is internal/initspec's, shared with the apply command.

// loadInitFile reads and validates an init file.
func loadInitFile(path string) (*initspec.Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("init file: %w", err)
	}
	spec, err := initspec.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("init file: %w", err)
	}
	return spec, nil
}

func basinConfig(c *initspec.BasinConfig) stream.BasinConfig {
	var out stream.BasinConfig
	if c == nil {
		return out
	}
	if c.DefaultStreamConfig != nil {
		sc := streamConfig(c.DefaultStreamConfig)
		out.DefaultStreamConfig = &sc
	}
	out.StreamCipher = c.StreamCipher
	out.CreateStreamOnAppend = c.CreateStreamOnAppend
	out.CreateStreamOnRead = c.CreateStreamOnRead
	return out
}

func streamConfig(c *initspec.StreamConfig) stream.StreamConfig {
	var out stream.StreamConfig
	if c == nil {
		return out
	}
	if c.StorageClass != nil {
		sc := stream.StorageClass(*c.StorageClass)
		out.StorageClass = &sc
	}
	if r := c.RetentionPolicy; r != nil {
		out.RetentionPolicy = &stream.RetentionPolicy{Infinite: r.Infinite, AgeSecs: r.AgeSecs}
	}
	if t := c.Timestamping; t != nil {
		tc := &stream.TimestampingConfig{Uncapped: t.Uncapped}
		if t.Mode != nil {
			m := stream.TimestampingMode(*t.Mode)
			tc.Mode = &m
		}
		out.Timestamping = tc
	}
	if d := c.DeleteOnEmpty; d != nil {
		out.DeleteOnEmpty = &stream.DeleteOnEmptyConfig{MinAgeSecs: d.MinAgeSecs}
	}
	return out
}

// applyInitFile ensures every basin and then its streams.
func applyInitFile(ctx context.Context, spec *initspec.Spec, svc *stream.Service, log *slog.Logger) error {
	for _, b := range spec.Basins {
		_, res, err := svc.EnsureBasin(ctx, b.Name, basinConfig(b.Config))
		if err != nil {
			return fmt.Errorf("init file: ensuring basin %q: %w", b.Name, err)
		}
		log.Info("init file: basin ensured", "basin", b.Name, "result", string(res))
		for _, s := range b.Streams {
			_, res, err := svc.EnsureStream(ctx, b.Name, s.Name, streamConfig(s.Config))
			if err != nil {
				return fmt.Errorf("init file: ensuring stream %q in basin %q: %w", s.Name, b.Name, err)
			}
			log.Info("init file: stream ensured", "basin", b.Name, "stream", s.Name, "result", string(res))
		}
	}
	return nil
}
