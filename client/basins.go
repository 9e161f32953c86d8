package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// ListBasinsPage is one page of basins.
type ListBasinsPage struct {
	Basins  []BasinInfo `json:"basins"`
	HasMore bool        `json:"has_more"`
}

// ListBasins returns one page of basins (API 5.1).
func (c *Client) ListBasins(ctx context.Context, o ListOptions) (ListBasinsPage, error) {
	var page ListBasinsPage
	err := c.getJSON(ctx, &request{method: http.MethodGet, base: c.account, path: "/basins", query: listQuery(o)}, &page)
	return page, err
}

// AllBasins iterates over every basin matching o, page after page. Limit,
// if set, bounds the total.
func (c *Client) AllBasins(ctx context.Context, o ListOptions) iter.Seq2[BasinInfo, error] {
	return paginate(o, func(o ListOptions) ([]BasinInfo, bool, error) {
		p, err := c.ListBasins(ctx, o)
		return p.Basins, p.HasMore, err
	}, func(b BasinInfo) string { return b.Name })
}

// paginate walks pages of a listing, continuing after the last name of
// each page while the server says there is more.
func paginate[T any](o ListOptions, page func(ListOptions) ([]T, bool, error), name func(T) string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		total := o.Limit
		n := 0
		for {
			po := o
			if total > 0 {
				po.Limit = min(total-n, 1000)
			}
			items, more, err := page(po)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
				n++
				if total > 0 && n >= total {
					return
				}
			}
			if !more || len(items) == 0 {
				return
			}
			o.StartAfter = name(items[len(items)-1])
		}
	}
}

func listQuery(o ListOptions) url.Values {
	q := url.Values{}
	if o.Prefix != "" {
		q.Set("prefix", o.Prefix)
	}
	if o.StartAfter != "" {
		q.Set("start_after", o.StartAfter)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	return q
}

// CreateBasinOptions are the optional parts of a basin creation.
type CreateBasinOptions struct {
	Config *BasinConfig
	// RequestToken makes the creation idempotent: a replay with the same
	// token and config succeeds (API 5.2). A random one is made when empty,
	// so retries of this call are idempotent.
	RequestToken string
}

// CreateBasin creates a basin (API 5.2).
func (c *Client) CreateBasin(ctx context.Context, name string, o CreateBasinOptions) (BasinInfo, error) {
	body, err := json.Marshal(struct {
		Basin  string       `json:"basin"`
		Config *BasinConfig `json:"config,omitempty"`
	}{name, o.Config})
	if err != nil {
		return BasinInfo{}, err
	}
	var info BasinInfo
	err = c.getJSON(ctx, &request{method: http.MethodPost, base: c.account, path: "/basins", body: body,
		ctype: "application/json", headers: map[string]string{"s2-request-token": requestToken(o.RequestToken)}}, &info)
	return info, err
}

// EnsureBasin creates a basin or replaces its config (API 5.3).
func (c *Client) EnsureBasin(ctx context.Context, name string, cfg *BasinConfig) (BasinInfo, ProvisionResult, error) {
	body, err := json.Marshal(struct {
		Config *BasinConfig `json:"config,omitempty"`
	}{cfg})
	if err != nil {
		return BasinInfo{}, "", err
	}
	resp, err := c.do(ctx, &request{method: http.MethodPut, base: c.account, path: "/basins/" + url.PathEscape(name), body: body, ctype: "application/json"})
	if err != nil {
		return BasinInfo{}, "", err
	}
	var info BasinInfo
	if err := json.Unmarshal(resp.body, &info); err != nil {
		return BasinInfo{}, "", fmt.Errorf("decoding BasinInfo: %w", err)
	}
	return info, ProvisionResult(resp.header.Get("s2-provision-result")), nil
}

// GetBasinConfig returns a basin's configuration (API 5.4).
func (c *Client) GetBasinConfig(ctx context.Context, name string) (BasinConfig, error) {
	var cfg BasinConfig
	err := c.getJSON(ctx, &request{method: http.MethodGet, base: c.account, path: "/basins/" + url.PathEscape(name)}, &cfg)
	return cfg, err
}

// ReconfigureBasin patches a basin's configuration and returns the new one
// (API 5.5).
func (c *Client) ReconfigureBasin(ctx context.Context, name string, r BasinReconfiguration) (BasinConfig, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return BasinConfig{}, err
	}
	var cfg BasinConfig
	err = c.getJSON(ctx, &request{method: http.MethodPatch, base: c.account, path: "/basins/" + url.PathEscape(name), body: body, ctype: "application/json"}, &cfg)
	return cfg, err
}

// DeleteBasin starts deleting a basin and its streams (API 5.6).
func (c *Client) DeleteBasin(ctx context.Context, name string) error {
	_, err := c.do(ctx, &request{method: http.MethodDelete, base: c.account, path: "/basins/" + url.PathEscape(name)})
	return err
}

// getJSON sends a request and decodes a JSON answer into out.
func (c *Client) getJSON(ctx context.Context, r *request, out any) error {
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return fmt.Errorf("client: decoding %s %s answer: %w", r.method, r.path, err)
	}
	return nil
}

// requestToken returns t, or a fresh random token (at most 36 bytes).
func requestToken(t string) string {
	if t != "" {
		return t
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Basin is a handle on one basin's streams.
type Basin struct {
	c    *Client
	name string
}

// Basin returns a handle on the named basin; it does not check that the
// basin exists.
func (c *Client) Basin(name string) *Basin { return &Basin{c: c, name: name} }

// Name is the basin's name.
func (b *Basin) Name() string { return b.name }
