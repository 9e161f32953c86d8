// Package initspec parses the declarative basins-and-streams file of API
// 14.5: the server's --init-file and the CLI's apply take the same JSON.
// It validates everything it can without a server (unknown keys, names,
// duplicates, durations, enum values) and yields plain values that each
// consumer maps onto its own types.
package initspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/s2lite/s2lite/internal/humandur"
	"github.com/s2lite/s2lite/stream"
)

// Spec is a parsed file.
type Spec struct {
	Basins []Basin
}

// Basin is one basin to ensure, then its streams.
type Basin struct {
	Name    string
	Config  *BasinConfig // nil: defaults
	Streams []Stream
}

// Stream is one stream to ensure.
type Stream struct {
	Name   string
	Config *StreamConfig // nil: the basin's defaults
}

// BasinConfig is a basin's declared configuration.
type BasinConfig struct {
	DefaultStreamConfig  *StreamConfig
	StreamCipher         *string
	CreateStreamOnAppend bool
	CreateStreamOnRead   bool
}

// StreamConfig is a stream's declared configuration; nil fields are not
// declared.
type StreamConfig struct {
	StorageClass    *string
	RetentionPolicy *Retention
	Timestamping    *Timestamping
	DeleteOnEmpty   *DeleteOnEmpty
}

// Retention is "infinite" or an age.
type Retention struct {
	Infinite bool
	AgeSecs  uint64
}

// Timestamping is the declared timestamping mode and cap.
type Timestamping struct {
	Mode     *string
	Uncapped *bool
}

// DeleteOnEmpty is the declared minimum age of an empty stream before
// deletion (0 disables).
type DeleteOnEmpty struct {
	MinAgeSecs uint64
}

type fileJSON struct {
	// Schema is the JSON Schema reference editors use ("$schema"); the
	// official CLI's spec files carry one, so it is accepted and ignored.
	Schema string      `json:"$schema"`
	Basins []basinJSON `json:"basins"`
}

type basinJSON struct {
	Name    string           `json:"name"`
	Config  *basinConfigJSON `json:"config"`
	Streams []streamJSON     `json:"streams"`
}

type basinConfigJSON struct {
	DefaultStreamConfig  *streamConfigJSON `json:"default_stream_config"`
	StreamCipher         *string           `json:"stream_cipher"`
	CreateStreamOnAppend *bool             `json:"create_stream_on_append"`
	CreateStreamOnRead   *bool             `json:"create_stream_on_read"`
}

type streamJSON struct {
	Name   string            `json:"name"`
	Config *streamConfigJSON `json:"config"`
}

type streamConfigJSON struct {
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

// Parse reads and validates a file. Unknown keys, duplicate names, zero
// retention ages and unknown enum values are errors.
func Parse(data []byte) (*Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f fileJSON
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON object")
	}
	spec := &Spec{}
	basins := map[string]bool{}
	for _, bj := range f.Basins {
		if err := stream.ValidateBasinName(bj.Name); err != nil {
			return nil, fmt.Errorf("basin %q: %w", bj.Name, err)
		}
		if basins[bj.Name] {
			return nil, fmt.Errorf("basin %q is listed twice", bj.Name)
		}
		basins[bj.Name] = true
		b := Basin{Name: bj.Name}
		if bj.Config != nil {
			bc, err := bj.Config.parse()
			if err != nil {
				return nil, fmt.Errorf("basin %q: %w", bj.Name, err)
			}
			b.Config = bc
		}
		streams := map[string]bool{}
		for _, sj := range bj.Streams {
			if err := stream.ValidateStreamName(sj.Name); err != nil {
				return nil, fmt.Errorf("basin %q: stream %q: %w", bj.Name, sj.Name, err)
			}
			if streams[sj.Name] {
				return nil, fmt.Errorf("basin %q: stream %q is listed twice", bj.Name, sj.Name)
			}
			streams[sj.Name] = true
			sc, err := sj.Config.parse()
			if err != nil {
				return nil, fmt.Errorf("basin %q: stream %q: %w", bj.Name, sj.Name, err)
			}
			b.Streams = append(b.Streams, Stream{Name: sj.Name, Config: sc})
		}
		spec.Basins = append(spec.Basins, b)
	}
	return spec, nil
}

func (c *basinConfigJSON) parse() (*BasinConfig, error) {
	out := &BasinConfig{StreamCipher: c.StreamCipher}
	if c.DefaultStreamConfig != nil {
		sc, err := c.DefaultStreamConfig.parse()
		if err != nil {
			return nil, fmt.Errorf("default_stream_config: %w", err)
		}
		out.DefaultStreamConfig = sc
	}
	out.CreateStreamOnAppend = c.CreateStreamOnAppend != nil && *c.CreateStreamOnAppend
	out.CreateStreamOnRead = c.CreateStreamOnRead != nil && *c.CreateStreamOnRead
	return out, nil
}

// Storage classes and timestamping modes the API knows (API 4.1).
var (
	storageClasses    = map[string]bool{"standard": true, "express": true}
	timestampingModes = map[string]bool{"client-prefer": true, "client-require": true, "arrival": true}
)

func (c *streamConfigJSON) parse() (*StreamConfig, error) {
	if c == nil {
		return nil, nil
	}
	out := &StreamConfig{}
	if c.StorageClass != nil {
		if !storageClasses[*c.StorageClass] {
			return nil, fmt.Errorf("storage_class: unknown value %q", *c.StorageClass)
		}
		out.StorageClass = c.StorageClass
	}
	if c.RetentionPolicy != nil {
		r, err := ParseRetention(*c.RetentionPolicy)
		if err != nil {
			return nil, fmt.Errorf("retention_policy: %w", err)
		}
		out.RetentionPolicy = &r
	}
	if t := c.Timestamping; t != nil {
		if t.Mode != nil && !timestampingModes[*t.Mode] {
			return nil, fmt.Errorf("timestamping.mode: unknown value %q", *t.Mode)
		}
		out.Timestamping = &Timestamping{Mode: t.Mode, Uncapped: t.Uncapped}
	}
	if d := c.DeleteOnEmpty; d != nil {
		out.DeleteOnEmpty = &DeleteOnEmpty{}
		if d.MinAge != nil {
			secs, err := humandur.Parse(*d.MinAge)
			if err != nil {
				return nil, fmt.Errorf("delete_on_empty.min_age: %w", err)
			}
			out.DeleteOnEmpty.MinAgeSecs = secs
		}
	}
	return out, nil
}

// ParseRetention parses "infinite" or a human duration greater than zero.
func ParseRetention(s string) (Retention, error) {
	if s == "infinite" {
		return Retention{Infinite: true}, nil
	}
	secs, err := humandur.Parse(s)
	if err != nil {
		return Retention{}, err
	}
	if secs == 0 {
		return Retention{}, errors.New("age must be greater than 0 seconds")
	}
	return Retention{AgeSecs: secs}, nil
}
