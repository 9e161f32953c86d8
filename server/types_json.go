package server

import (
	"time"

	"github.com/s2lite/s2lite/stream"
)

// JSON response forms (API 3, 4). Every key is always present: fields
// without omitempty render nil pointers as null, which the API requires.

type jsonPosition struct {
	SeqNum    uint64 `json:"seq_num"`
	Timestamp uint64 `json:"timestamp"`
}

func positionJSON(p stream.StreamPosition) jsonPosition {
	return jsonPosition{SeqNum: p.SeqNum, Timestamp: p.Timestamp}
}

func optPositionJSON(p *stream.StreamPosition) *jsonPosition {
	if p == nil {
		return nil
	}
	j := positionJSON(*p)
	return &j
}

type jsonTailResponse struct {
	Tail jsonPosition `json:"tail"`
}

type jsonAppendAck struct {
	Start jsonPosition `json:"start"`
	End   jsonPosition `json:"end"`
	Tail  jsonPosition `json:"tail"`
}

func appendAckJSON(a stream.AppendAck) jsonAppendAck {
	return jsonAppendAck{Start: positionJSON(a.Start), End: positionJSON(a.End), Tail: positionJSON(a.Tail)}
}

// formatTime renders created_at/deleted_at as RFC 3339 UTC with
// sub-second precision.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func optTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := formatTime(*t)
	return &s
}

type jsonBasinInfo struct {
	Name      string  `json:"name"`
	Location  *string `json:"location"`
	CreatedAt string  `json:"created_at"`
	DeletedAt *string `json:"deleted_at"`
	State     string  `json:"state"`
}

func basinInfoJSON(b stream.BasinInfo) jsonBasinInfo {
	return jsonBasinInfo{Name: b.Name, CreatedAt: formatTime(b.CreatedAt), DeletedAt: optTime(b.DeletedAt), State: b.State()}
}

type jsonStreamInfo struct {
	Name      string  `json:"name"`
	CreatedAt string  `json:"created_at"`
	DeletedAt *string `json:"deleted_at"`
	Cipher    *string `json:"cipher"`
}

func streamInfoJSON(s stream.StreamInfo) jsonStreamInfo {
	return jsonStreamInfo{Name: s.Name, CreatedAt: formatTime(s.CreatedAt), DeletedAt: optTime(s.DeletedAt), Cipher: s.Cipher}
}

type jsonListBasins struct {
	Basins  []jsonBasinInfo `json:"basins"`
	HasMore bool            `json:"has_more"`
}

type jsonListStreams struct {
	Streams []jsonStreamInfo `json:"streams"`
	HasMore bool             `json:"has_more"`
}

// jsonRetention is {"age": N} or {"infinite": {}}.
type jsonRetention struct {
	Age      *uint64   `json:"age,omitempty"`
	Infinite *struct{} `json:"infinite,omitempty"`
}

func retentionJSON(p stream.RetentionPolicy) jsonRetention {
	if p.Infinite {
		return jsonRetention{Infinite: &struct{}{}}
	}
	age := p.AgeSecs
	return jsonRetention{Age: &age}
}

type jsonDeleteOnEmpty struct {
	MinAgeSecs uint64 `json:"min_age_secs"`
}

type jsonResolvedTimestamping struct {
	Mode     string `json:"mode"`
	Uncapped bool   `json:"uncapped"`
}

// jsonResolvedStreamConfig is a stream's configuration as GET, PATCH and
// PUT return it: fully resolved.
type jsonResolvedStreamConfig struct {
	StorageClass    string                   `json:"storage_class"`
	RetentionPolicy jsonRetention            `json:"retention_policy"`
	Timestamping    jsonResolvedTimestamping `json:"timestamping"`
	DeleteOnEmpty   jsonDeleteOnEmpty        `json:"delete_on_empty"`
}

func resolvedStreamConfigJSON(c stream.ResolvedStreamConfig) jsonResolvedStreamConfig {
	return jsonResolvedStreamConfig{
		StorageClass:    string(c.StorageClass),
		RetentionPolicy: retentionJSON(c.RetentionPolicy),
		Timestamping:    jsonResolvedTimestamping{Mode: string(c.Timestamping.Mode), Uncapped: c.Timestamping.Uncapped},
		DeleteOnEmpty:   jsonDeleteOnEmpty{MinAgeSecs: c.DeleteOnEmpty.MinAgeSecs},
	}
}

type jsonTimestamping struct {
	Mode     *string `json:"mode"`
	Uncapped *bool   `json:"uncapped"`
}

// jsonStreamConfig is a partial configuration (a basin's defaults): unset
// fields are null.
type jsonStreamConfig struct {
	StorageClass    *string            `json:"storage_class"`
	RetentionPolicy *jsonRetention     `json:"retention_policy"`
	Timestamping    *jsonTimestamping  `json:"timestamping"`
	DeleteOnEmpty   *jsonDeleteOnEmpty `json:"delete_on_empty"`
}

func streamConfigJSON(c *stream.StreamConfig) *jsonStreamConfig {
	if c == nil {
		return nil
	}
	var out jsonStreamConfig
	if c.StorageClass != nil {
		s := string(*c.StorageClass)
		out.StorageClass = &s
	}
	if c.RetentionPolicy != nil {
		r := retentionJSON(*c.RetentionPolicy)
		out.RetentionPolicy = &r
	}
	if t := c.Timestamping; t != nil && (t.Mode != nil || t.Uncapped != nil) {
		out.Timestamping = &jsonTimestamping{Uncapped: t.Uncapped}
		if t.Mode != nil {
			m := string(*t.Mode)
			out.Timestamping.Mode = &m
		}
	}
	if c.DeleteOnEmpty != nil {
		out.DeleteOnEmpty = &jsonDeleteOnEmpty{MinAgeSecs: c.DeleteOnEmpty.MinAgeSecs}
	}
	return &out
}

type jsonBasinConfig struct {
	DefaultStreamConfig  *jsonStreamConfig `json:"default_stream_config"`
	StreamCipher         *string           `json:"stream_cipher"`
	CreateStreamOnAppend bool              `json:"create_stream_on_append"`
	CreateStreamOnRead   bool              `json:"create_stream_on_read"`
}

func basinConfigJSON(c stream.BasinConfig) jsonBasinConfig {
	return jsonBasinConfig{
		DefaultStreamConfig:  streamConfigJSON(c.DefaultStreamConfig),
		StreamCipher:         c.StreamCipher,
		CreateStreamOnAppend: c.CreateStreamOnAppend,
		CreateStreamOnRead:   c.CreateStreamOnRead,
	}
}
