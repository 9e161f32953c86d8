package client

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
)

// ListStreamsPage is one page of streams.
type ListStreamsPage struct {
	Streams []StreamInfo `json:"streams"`
	HasMore bool         `json:"has_more"`
}

func (b *Basin) req(method, path string) *request {
	return &request{method: method, base: b.c.basin, path: path, basin: b.name}
}

// ListStreams returns one page of the basin's streams (API 6.1).
func (b *Basin) ListStreams(ctx context.Context, o ListOptions) (ListStreamsPage, error) {
	var page ListStreamsPage
	r := b.req(http.MethodGet, "/streams")
	r.query = listQuery(o)
	err := b.c.getJSON(ctx, r, &page)
	return page, err
}

// AllStreams iterates over every stream matching o, page after page.
// Limit, if set, bounds the total.
func (b *Basin) AllStreams(ctx context.Context, o ListOptions) iter.Seq2[StreamInfo, error] {
	return paginate(o, func(o ListOptions) ([]StreamInfo, bool, error) {
		p, err := b.ListStreams(ctx, o)
		return p.Streams, p.HasMore, err
	}, func(s StreamInfo) string { return s.Name })
}

// CreateStreamOptions are the optional parts of a stream creation.
type CreateStreamOptions struct {
	Config *StreamConfig
	// RequestToken: see CreateBasinOptions.
	RequestToken string
}

// CreateStream creates a stream (API 6.2).
func (b *Basin) CreateStream(ctx context.Context, name string, o CreateStreamOptions) (StreamInfo, error) {
	body, err := json.Marshal(struct {
		Stream string        `json:"stream"`
		Config *StreamConfig `json:"config,omitempty"`
	}{name, o.Config})
	if err != nil {
		return StreamInfo{}, err
	}
	r := b.req(http.MethodPost, "/streams")
	r.body, r.ctype = body, "application/json"
	r.headers = map[string]string{"s2-request-token": requestToken(o.RequestToken)}
	var info StreamInfo
	err = b.c.getJSON(ctx, r, &info)
	return info, err
}

// EnsureStream creates a stream or replaces its config (API 6.3).
func (b *Basin) EnsureStream(ctx context.Context, name string, cfg *StreamConfig) (StreamInfo, ProvisionResult, error) {
	r := b.req(http.MethodPut, streamPath(name))
	if cfg != nil {
		body, err := json.Marshal(cfg)
		if err != nil {
			return StreamInfo{}, "", err
		}
		r.body, r.ctype = body, "application/json"
	}
	resp, err := b.c.do(ctx, r)
	if err != nil {
		return StreamInfo{}, "", err
	}
	var info StreamInfo
	if err := json.Unmarshal(resp.body, &info); err != nil {
		return StreamInfo{}, "", fmt.Errorf("decoding StreamInfo: %w", err)
	}
	return info, ProvisionResult(resp.header.Get("s2-provision-result")), nil
}

// GetStreamConfig returns a stream's resolved configuration (API 6.4).
func (b *Basin) GetStreamConfig(ctx context.Context, name string) (StreamConfig, error) {
	var cfg StreamConfig
	err := b.c.getJSON(ctx, b.req(http.MethodGet, streamPath(name)), &cfg)
	return cfg, err
}

// ReconfigureStream patches a stream's configuration and returns the new
// resolved one (API 6.5).
func (b *Basin) ReconfigureStream(ctx context.Context, name string, rc StreamReconfiguration) (StreamConfig, error) {
	body, err := json.Marshal(rc)
	if err != nil {
		return StreamConfig{}, err
	}
	r := b.req(http.MethodPatch, streamPath(name))
	r.body, r.ctype = body, "application/json"
	var cfg StreamConfig
	err = b.c.getJSON(ctx, r, &cfg)
	return cfg, err
}

// DeleteStream starts deleting a stream (API 6.6).
func (b *Basin) DeleteStream(ctx context.Context, name string) error {
	_, err := b.c.do(ctx, b.req(http.MethodDelete, streamPath(name)))
	return err
}

func streamPath(name string) string { return "/streams/" + url.PathEscape(name) }

// Stream is a handle on one stream's records.
type Stream struct {
	b    *Basin
	name string
	key  EncryptionKey
}

// Stream returns a handle on the named stream; it does not check that the
// stream exists. Its record operations carry Config.EncryptionKey, if set
// (see Stream.WithEncryptionKey).
func (b *Basin) Stream(name string) *Stream { return &Stream{b: b, name: name, key: b.c.key} }

// Name is the stream's name.
func (s *Stream) Name() string { return s.name }

// Basin is the stream's basin.
func (s *Stream) Basin() *Basin { return s.b }

func (s *Stream) req(method, suffix string) *request {
	return s.b.req(method, streamPath(s.name)+suffix)
}

// recordReq is a request of a record operation (append, read, import),
// which carries the stream's encryption key if it has one. Check-tail
// never needs one (API 7.9) and does not get it.
func (s *Stream) recordReq(method, suffix string) *request {
	r := s.req(method, suffix)
	r.key = s.key.header()
	return r
}
