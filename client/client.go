package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/net/http2"
)

// Format is the encoding of record bodies for unary appends and reads.
type Format int

const (
	// FormatProtobuf sends and receives records as protobuf (API 7.8):
	// binary-safe and the cheapest to encode. The default.
	FormatProtobuf Format = iota
	// FormatJSON sends and receives records as JSON with base64 bytes
	// (s2-format: base64, API 7.2).
	FormatJSON
)

// Compression of request bodies and S2S messages (API 1.7, 10.3).
type Compression string

const (
	CompressionNone Compression = ""
	CompressionGzip Compression = "gzip"
	CompressionZstd Compression = "zstd"
)

// AppendRetry says which failed appends are sent again.
type AppendRetry int

const (
	// AppendRetryNoSideEffects retries an append only when the failure
	// guarantees nothing was appended (the default): an append is never
	// written twice by a retry.
	AppendRetryNoSideEffects AppendRetry = iota
	// AppendRetryAll also retries appends whose outcome is unknown; a
	// retried append may then be written twice unless it carries
	// MatchSeqNum.
	AppendRetryAll
)

// Config configures a Client. The zero value of each field means its
// default.
type Config struct {
	// AccountEndpoint is the base URL of account operations (basins,
	// access tokens), e.g. "http://localhost:8080". A path, if any, is
	// kept; without one "/v1" is used.
	AccountEndpoint string
	// BasinEndpoint is the base URL of stream and record operations;
	// default AccountEndpoint. The basin is named in the s2-basin header.
	BasinEndpoint string
	// AccessToken is sent as a bearer token when set.
	AccessToken string

	// Format of records in unary appends and reads.
	Format Format
	// Compression of request bodies, and accepted for responses and
	// S2S messages.
	Compression Compression

	// MaxAttempts is how many times a request is tried in all when it
	// fails retryably (default 3; 1 disables retries).
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between attempts (default
	// 100 ms and 2 s); each wait is drawn at random up to an exponentially
	// growing cap (full jitter).
	MinBackoff, MaxBackoff time.Duration
	// AppendRetry says which failed appends are retried.
	AppendRetry AppendRetry
	// RequestTimeout bounds each unary attempt (default 30 s; sessions are
	// not bounded by it).
	RequestTimeout time.Duration

	// TLSConfig is used for https endpoints (default: system roots).
	TLSConfig *tls.Config
	// UserAgent is sent on every request (default "s2lite-go-client").
	UserAgent string

	// EncryptionKey, when set, is the key (32 bytes) of encrypted streams
	// (API 7.9) that every stream handle of the client starts with;
	// Stream.WithEncryptionKey replaces it for one handle. It is sent in
	// base64 in the s2-encryption-key header of appends, reads, read and
	// append sessions and imports, never with other requests. New copies
	// it, so the caller may clear its slice afterwards.
	EncryptionKey []byte
}

// ConfigFromEnv reads S2_ACCOUNT_ENDPOINT, S2_BASIN_ENDPOINT and
// S2_ACCESS_TOKEN. Endpoints without a scheme get "https://", as the
// official SDKs do.
func ConfigFromEnv() Config {
	return Config{
		AccountEndpoint: os.Getenv("S2_ACCOUNT_ENDPOINT"),
		BasinEndpoint:   os.Getenv("S2_BASIN_ENDPOINT"),
		AccessToken:     os.Getenv("S2_ACCESS_TOKEN"),
	}
}

// Client is a client of one S2 server (or of the account and basin
// endpoints of a service). It is safe for concurrent use.
type Client struct {
	cfg     Config
	account string // base URL including /v1
	basin   string // base URL including /v1
	// unary carries unary requests: HTTP/1.1 keep-alive for http URLs,
	// HTTP/2 when TLS negotiates it.
	unary *http.Client
	// sessions carries S2S sessions: HTTP/2 with prior knowledge (h2c)
	// for http URLs, HTTP/2 over TLS for https.
	sessions *http.Client
	h1       *http.Transport
	h2       *http2.Transport
	key      EncryptionKey // Config.EncryptionKey
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.AccountEndpoint == "" && cfg.BasinEndpoint == "" {
		return nil, errors.New("client: no endpoint: set S2_ACCOUNT_ENDPOINT (and S2_BASIN_ENDPOINT) or Config.AccountEndpoint")
	}
	if cfg.AccountEndpoint == "" {
		cfg.AccountEndpoint = cfg.BasinEndpoint
	}
	if cfg.BasinEndpoint == "" {
		cfg.BasinEndpoint = cfg.AccountEndpoint
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(2*time.Second, cfg.MinBackoff)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "s2lite-go-client"
	}
	switch cfg.Compression {
	case CompressionNone, CompressionGzip, CompressionZstd:
	default:
		return nil, fmt.Errorf("client: unknown compression %q", cfg.Compression)
	}
	var key EncryptionKey
	if cfg.EncryptionKey != nil {
		var err error
		if key, err = NewEncryptionKey(cfg.EncryptionKey); err != nil {
			return nil, err
		}
		cfg.EncryptionKey = nil // kept encoded in key only
	}
	account, err := baseURL(cfg.AccountEndpoint)
	if err != nil {
		return nil, fmt.Errorf("client: account endpoint: %w", err)
	}
	basin, err := baseURL(cfg.BasinEndpoint)
	if err != nil {
		return nil, fmt.Errorf("client: basin endpoint: %w", err)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	h1 := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     cfg.TLSConfig,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		// Compression is the client's own business (Config.Compression):
		// the transport must not ask for gzip behind its back.
		DisableCompression: true,
	}
	h2 := &http2.Transport{
		DisableCompression: true,
		ReadIdleTimeout:    30 * time.Second,
		PingTimeout:        15 * time.Second,
		TLSClientConfig:    cfg.TLSConfig,
	}
	if strings.HasPrefix(basin, "http://") || strings.HasPrefix(account, "http://") {
		// Cleartext HTTP/2 with prior knowledge, which the API requires
		// for S2S over http:// (API 1.1).
		h2.AllowHTTP = true
		h2.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		}
	}
	c := &Client{
		cfg: cfg, account: account, basin: basin,
		unary:    &http.Client{Transport: h1},
		sessions: &http.Client{Transport: h2},
		h1:       h1, h2: h2,
		key: key,
	}
	if strings.HasPrefix(basin, "https://") {
		// Over TLS the standard transport negotiates HTTP/2 by ALPN.
		c.sessions = c.unary
	}
	return c, nil
}

// baseURL normalises an endpoint to scheme://host[/path], with /v1 when
// there is no path.
func baseURL(endpoint string) (string, error) {
	if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q: scheme must be http or https", endpoint)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q: no host", endpoint)
	}
	p := strings.TrimRight(u.Path, "/")
	if p == "" {
		p = "/v1"
	}
	return u.Scheme + "://" + u.Host + p, nil
}

// Close releases idle connections. Sessions still open keep working until
// they end.
func (c *Client) Close() {
	c.h1.CloseIdleConnections()
	c.h2.CloseIdleConnections()
}

// request describes one unary call.
type request struct {
	method   string
	base     string // c.account or c.basin
	path     string // below /v1, already escaped
	query    url.Values
	basin    string // s2-basin header when set
	body     []byte
	ctype    string
	accept   string
	headers  map[string]string
	isAppend bool // retried only when safe (AppendRetry)
	// key is the s2-encryption-key header value, when the request is a
	// record operation of a stream with a key.
	key string
	// onlyIfNoEffect: retried only when the failure shows the request
	// took no effect, whatever AppendRetry says (access-token issues).
	onlyIfNoEffect bool
	// ok lists the success statuses; default any 2xx.
}

// response is a successful answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request, retrying retryable failures, and returns the answer
// of the first 2xx attempt, or an error.
func (c *Client) do(ctx context.Context, r *request) (*response, error) {
	var err error
	for attempt := 1; ; attempt++ {
		var resp *response
		resp, err = c.doOnce(ctx, r)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil || attempt >= c.cfg.MaxAttempts || !c.retryable(r, err) {
			return nil, err
		}
		if werr := c.backoff(ctx, attempt); werr != nil {
			return nil, err
		}
	}
}

func (c *Client) retryable(r *request, err error) bool {
	if r.onlyIfNoEffect || (r.isAppend && c.cfg.AppendRetry == AppendRetryNoSideEffects) {
		return safeToRetryAppend(err)
	}
	return IsRetryable(err)
}

// backoff waits before attempt+1: a random time up to
// min(MaxBackoff, MinBackoff * 2^(attempt-1)), at least MinBackoff/2.
func (c *Client) backoff(ctx context.Context, attempt int) error {
	ceil := c.cfg.MinBackoff << min(attempt-1, 20)
	if ceil > c.cfg.MaxBackoff || ceil <= 0 {
		ceil = c.cfg.MaxBackoff
	}
	d := c.cfg.MinBackoff/2 + rand.N(ceil-c.cfg.MinBackoff/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) doOnce(ctx context.Context, r *request) (*response, error) {
	timeout := c.cfg.RequestTimeout
	if ctx.Value(longPollKey{}) != nil {
		timeout += maxWait
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := r.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	var encoding string
	if r.body != nil {
		data := r.body
		if c.cfg.Compression != CompressionNone && len(data) >= compressThreshold {
			var err error
			if data, err = compress(c.cfg.Compression, data); err != nil {
				return nil, err
			}
			encoding = string(c.cfg.Compression)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c.setCommonHeaders(req, r.basin)
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	if r.key != "" {
		req.Header.Set(encryptionKeyHeader, r.key)
	}
	hresp, err := c.unary.Do(req)
	if err != nil {
		return nil, &TransportError{Err: err}
	}
	defer hresp.Body.Close()
	data, err := readBody(hresp)
	if err != nil {
		return nil, &TransportError{Err: fmt.Errorf("%s %s: reading response: %w", r.method, r.path, err)}
	}
	if hresp.StatusCode/100 != 2 {
		return nil, decodeError(hresp.StatusCode, data)
	}
	return &response{status: hresp.StatusCode, header: hresp.Header, body: data}, nil
}

func (c *Client) setCommonHeaders(req *http.Request, basin string) {
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if c.cfg.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.AccessToken)
	}
	if basin != "" {
		req.Header.Set("s2-basin", basin)
	}
	if c.cfg.Compression != CompressionNone {
		req.Header.Set("Accept-Encoding", string(c.cfg.Compression))
	}
}

// maxResponseBytes bounds a unary response body: the API's largest is a
// 1 MiB read batch, which base64 and JSON at most triple.
const maxResponseBytes = 16 << 20

func readBody(resp *http.Response) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxResponseBytes {
		return nil, fmt.Errorf("response body over %d bytes", maxResponseBytes)
	}
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return data, nil
	default:
		return decompress(Compression(enc), data, maxResponseBytes)
	}
}
