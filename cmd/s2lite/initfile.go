package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/s2lite/s2lite/stream"
)

// The init file (API 14.4, 14.5) declares basins and streams that are
// ensured at every start-up, so applying it again is harmless.

type initFile struct {
	Basins []initBasin `json:"basins"`
}

type initBasin struct {
	Name    string           `json:"name"`
	Config  *initBasinConfig `json:"config"`
	Streams []initStream     `json:"streams"`
}

type initBasinConfig struct {
	DefaultStreamConfig  *initStreamConfig `json:"default_stream_config"`
	StreamCipher         *string           `json:"stream_cipher"`
	CreateStreamOnAppend *bool             `json:"create_stream_on_append"`
	CreateStreamOnRead   *bool             `json:"create_stream_on_read"`
}

type initStream struct {
	Name   string            `json:"name"`
	Config *initStreamConfig `json:"config"`
}

type initStreamConfig struct {
	StorageClass *string `json:"storage_class"`
	// RetentionPolicy is "infinite" or a duration such as "7d".
	RetentionPolicy *string `json:"retention_policy"`
	Timestamping    *struct {
		Mode     *string `json:"mode"`
		Uncapped *bool   `json:"uncapped"`
	} `json:"timestamping"`
	DeleteOnEmpty *struct {
		MinAge *string `json:"min_age"`
	} `json:"delete_on_empty"`
}

// loadInitFile reads and validates an init file. Unknown keys, duplicate
// names and zero retention ages are errors.
func loadInitFile(path string) (*initFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("init file: %w", err)
	}
	return parseInitFile(data)
}

func parseInitFile(data []byte) (*initFile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f initFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("init file: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("init file: trailing data after the JSON object")
	}
	basins := map[string]bool{}
	for _, b := range f.Basins {
		if err := stream.ValidateBasinName(b.Name); err != nil {
			return nil, fmt.Errorf("init file: basin %q: %w", b.Name, err)
		}
		if basins[b.Name] {
			return nil, fmt.Errorf("init file: basin %q is listed twice", b.Name)
		}
		basins[b.Name] = true
		if _, err := b.basinConfig(); err != nil {
			return nil, fmt.Errorf("init file: basin %q: %w", b.Name, err)
		}
		streams := map[string]bool{}
		for _, s := range b.Streams {
			if err := stream.ValidateStreamName(s.Name); err != nil {
				return nil, fmt.Errorf("init file: basin %q: stream %q: %w", b.Name, s.Name, err)
			}
			if streams[s.Name] {
				return nil, fmt.Errorf("init file: basin %q: stream %q is listed twice", b.Name, s.Name)
			}
			streams[s.Name] = true
			if _, err := s.Config.streamConfig(); err != nil {
				return nil, fmt.Errorf("init file: basin %q: stream %q: %w", b.Name, s.Name, err)
			}
		}
	}
	return &f, nil
}

func (b initBasin) basinConfig() (stream.BasinConfig, error) {
	var c stream.BasinConfig
	if b.Config == nil {
		return c, nil
	}
	if b.Config.DefaultStreamConfig != nil {
		sc, err := b.Config.DefaultStreamConfig.streamConfig()
		if err != nil {
			return c, fmt.Errorf("default_stream_config: %w", err)
		}
		c.DefaultStreamConfig = &sc
	}
	c.StreamCipher = b.Config.StreamCipher
	c.CreateStreamOnAppend = b.Config.CreateStreamOnAppend != nil && *b.Config.CreateStreamOnAppend
	c.CreateStreamOnRead = b.Config.CreateStreamOnRead != nil && *b.Config.CreateStreamOnRead
	return c, nil
}

func (c *initStreamConfig) streamConfig() (stream.StreamConfig, error) {
	var out stream.StreamConfig
	if c == nil {
		return out, nil
	}
	if c.StorageClass != nil {
		sc := stream.StorageClass(*c.StorageClass)
		if sc != stream.StorageClassStandard && sc != stream.StorageClassExpress {
			return out, fmt.Errorf("storage_class: unknown value %q", *c.StorageClass)
		}
		out.StorageClass = &sc
	}
	if c.RetentionPolicy != nil {
		rp := stream.RetentionPolicy{Infinite: true}
		if *c.RetentionPolicy != "infinite" {
			secs, err := parseHumanDuration(*c.RetentionPolicy)
			if err != nil {
				return out, fmt.Errorf("retention_policy: %w", err)
			}
			if secs == 0 {
				return out, errors.New("retention_policy: age must be greater than 0 seconds")
			}
			rp = stream.RetentionPolicy{AgeSecs: secs}
		}
		out.RetentionPolicy = &rp
	}
	if t := c.Timestamping; t != nil {
		tc := &stream.TimestampingConfig{Uncapped: t.Uncapped}
		if t.Mode != nil {
			m := stream.TimestampingMode(*t.Mode)
			switch m {
			case stream.TimestampingClientPrefer, stream.TimestampingClientRequire, stream.TimestampingArrival:
			default:
				return out, fmt.Errorf("timestamping.mode: unknown value %q", *t.Mode)
			}
			tc.Mode = &m
		}
		out.Timestamping = tc
	}
	if d := c.DeleteOnEmpty; d != nil {
		out.DeleteOnEmpty = &stream.DeleteOnEmptyConfig{}
		if d.MinAge != nil {
			secs, err := parseHumanDuration(*d.MinAge)
			if err != nil {
				return out, fmt.Errorf("delete_on_empty.min_age: %w", err)
			}
			out.DeleteOnEmpty.MinAgeSecs = secs
		}
	}
	return out, nil
}

// apply ensures every basin and then its streams.
func (f *initFile) apply(ctx context.Context, svc *stream.Service, log *slog.Logger) error {
	for _, b := range f.Basins {
		bc, _ := b.basinConfig()
		_, res, err := svc.EnsureBasin(ctx, b.Name, bc)
		if err != nil {
			return fmt.Errorf("init file: ensuring basin %q: %w", b.Name, err)
		}
		log.Info("init file: basin ensured", "basin", b.Name, "result", string(res))
		for _, s := range b.Streams {
			sc, _ := s.Config.streamConfig()
			_, res, err := svc.EnsureStream(ctx, b.Name, s.Name, sc)
			if err != nil {
				return fmt.Errorf("init file: ensuring stream %q in basin %q: %w", s.Name, b.Name, err)
			}
			log.Info("init file: stream ensured", "basin", b.Name, "stream", s.Name, "result", string(res))
		}
	}
	return nil
}

// parseHumanDuration parses durations such as "7d", "1w", "2h 30m" or
// "90s" into whole seconds. Units: ns, us, ms, s, m, h, d, w, M (30.44
// days) and y (365.25 days), also spelled out ("2 hours", "1min").
func parseHumanDuration(s string) (uint64, error) {
	str := strings.TrimSpace(s)
	if str == "" {
		return 0, errors.New("empty duration")
	}
	var nanos float64
	for str != "" {
		i := 0
		for i < len(str) && str[i] >= '0' && str[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q: expected a number", s)
		}
		n, err := strconv.ParseUint(str[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %w", s, err)
		}
		str = strings.TrimLeft(str[i:], " ")
		j := 0
		for j < len(str) && unicode.IsLetter(rune(str[j])) {
			j++
		}
		unit, ok := durationUnit(str[:j])
		if !ok {
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q", s, str[:j])
		}
		nanos += float64(n) * unit
		str = strings.TrimLeft(str[j:], " ")
	}
	secs := nanos / 1e9
	if secs >= 1<<63 {
		return 0, fmt.Errorf("invalid duration %q: too long", s)
	}
	return uint64(secs), nil
}

// durationUnit returns a unit's length in nanoseconds.
func durationUnit(u string) (float64, bool) {
	const sec = 1e9
	switch u {
	case "ns", "nsec", "nanos":
		return 1, true
	case "us", "usec", "micros":
		return 1e3, true
	case "ms", "msec", "millis":
		return 1e6, true
	case "s", "sec", "secs", "second", "seconds":
		return sec, true
	case "m", "min", "mins", "minute", "minutes":
		return 60 * sec, true
	case "h", "hr", "hrs", "hour", "hours":
		return 3600 * sec, true
	case "d", "day", "days":
		return 86400 * sec, true
	case "w", "week", "weeks":
		return 7 * 86400 * sec, true
	case "M", "month", "months":
		return 2_630_016 * sec, true
	case "y", "year", "years":
		return 31_557_600 * sec, true
	}
	return 0, false
}
