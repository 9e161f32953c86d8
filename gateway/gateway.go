package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/s2lite/s2lite/authstore"
	"github.com/s2lite/s2lite/partition"
	"github.com/s2lite/s2lite/stream"
)

// Headers between nodes and to clients.
const (
	// HeaderUnit names the unit a forwarded request is for.
	HeaderUnit = "S2lite-Unit"
	// HeaderClusterKey carries the cluster key on requests between nodes;
	// without it HeaderUnit and the internal endpoints are refused.
	HeaderClusterKey = "S2lite-Cluster-Key"
	// HeaderServedBy names, on every /v1 answer, the node whose unit
	// served it.
	HeaderServedBy = "S2lite-Served-By"
)

const (
	// rootCacheTTL is how long a basin found in the root is routed there
	// without asking again.
	rootCacheTTL = 5 * time.Second
	// probeTimeout bounds asking a unit whether it holds a basin.
	probeTimeout = 5 * time.Second
	// maxCreateBody bounds the create-basin body read to learn its name
	// (a name and a config: a few hundred bytes), so that the gateway
	// never buffers much.
	maxCreateBody = 64 << 10
)

// Unit is a unit this node serves.
type Unit struct {
	// API serves the S2 API from the unit's database.
	API http.Handler
	// Has reports whether the unit's database holds basin (in any state).
	Has func(ctx context.Context, basin string) (bool, error)
	// Tokens is the token store; only the root has one (nil with auth off).
	Tokens *authstore.Store
}

// Route is where a unit is served now: Local when by this node, otherwise
// the owner's node ID and base URL.
type Route struct {
	Local *Unit
	Node  string
	URL   string
}

// Directory says where units are served. Route returns an error when the
// unit has no owner now (it is moving); the request is answered 503.
type Directory interface {
	Route(unit int) (Route, error)
}

// Options configure a Gateway.
type Options struct {
	// Layout is the bucket's partition layout.
	Layout partition.Layout
	// Directory locates units.
	Directory Directory
	// Node is this node's ID, sent in HeaderServedBy.
	Node string
	// CreateAtRoot puts new basins in the root instead of their home
	// partition: a single node serving a partitioned bucket keeps today's
	// layout for what it creates.
	CreateAtRoot bool
	// ClusterKey authenticates requests between nodes.
	ClusterKey string
	// Transport reaches peers; default: cleartext HTTP/2 (NewTransport).
	Transport http.RoundTripper
	// Logger; default discard.
	Logger *slog.Logger
	// NodeLocal serves every path outside /v1/ (health, readiness,
	// Prometheus metrics, status): they are about this node.
	NodeLocal http.Handler
	// Now is the clock of the caches; default time.Now.
	Now func() time.Time
}

// Gateway routes S2 API requests to units. It is an http.Handler.
type Gateway struct {
	opts      Options
	log       *slog.Logger
	transport http.RoundTripper
	now       func() time.Time

	mu      sync.Mutex
	located map[string]location
	logged  map[string]time.Time // node → when a forwarding failure to it was last logged
	auth    *Authority
}

type location struct {
	unit    int
	expires time.Time // zero: for good
}

// New returns a Gateway.
func New(opts Options) *Gateway {
	g := &Gateway{opts: opts, log: opts.Logger, transport: opts.Transport, now: opts.Now, located: make(map[string]location)}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.transport == nil {
		g.transport = NewTransport()
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.opts.NodeLocal == nil {
		g.opts.NodeLocal = http.NotFoundHandler()
	}
	g.auth = newAuthority(g)
	return g
}

// NewTransport is a transport to peers: cleartext HTTP/2 with prior
// knowledge (every s2lite listener speaks it), pinging idle connections so
// that a dead peer is noticed within seconds.
func NewTransport() *http.Transport {
	t := &http.Transport{
		Protocols:           new(http.Protocols),
		MaxIdleConnsPerHost: 4,
		// The client's Accept-Encoding goes through as it is: the transport
		// must not add its own (S2S sessions compress frames when asked).
		DisableCompression: true,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: 10 * time.Second,
			PingTimeout:     5 * time.Second,
		},
	}
	t.Protocols.SetUnencryptedHTTP2(true)
	return t
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, internalPrefix):
		g.serveInternal(w, r)
		return
	case !strings.HasPrefix(path, "/v1/"):
		g.opts.NodeLocal.ServeHTTP(w, r)
		return
	}
	if r.Header.Get(HeaderUnit) != "" {
		if g.fromPeer(r) {
			g.serveForwarded(w, r)
			return
		}
		r.Header.Del(HeaderUnit)
	}
	r.Header.Del(HeaderClusterKey)
	g.route(w, r)
}

// fromPeer reports whether r carries the cluster key.
func (g *Gateway) fromPeer(r *http.Request) bool {
	k := r.Header.Get(HeaderClusterKey)
	return g.opts.ClusterKey != "" && constantTimeEqual(k, g.opts.ClusterKey)
}

// route sends a client's request to the unit holding what it names.
func (g *Gateway) route(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/v1/basins" && r.Method == http.MethodGet:
		g.listBasins(w, r)
	case path == "/v1/basins" && r.Method == http.MethodPost:
		g.createBasin(w, r)
	case strings.HasPrefix(path, "/v1/basins/"):
		basin, _, _ := strings.Cut(strings.TrimPrefix(path, "/v1/basins/"), "/")
		g.toBasin(w, r, basin)
	case path == "/v1/streams" || strings.HasPrefix(path, "/v1/streams/"):
		basin := r.Header.Get("S2-Basin")
		if basin == "" {
			// The root answers for the missing header.
			g.toUnit(w, r, partition.Root)
			return
		}
		g.toBasin(w, r, basin)
	case path == "/v1/metrics" && r.Method == http.MethodGet:
		g.accountMetrics(w, r)
	case strings.HasPrefix(path, "/v1/metrics/"):
		basin, _, _ := strings.Cut(strings.TrimPrefix(path, "/v1/metrics/"), "/")
		g.toBasin(w, r, basin)
	default:
		// Access tokens, account metrics, locations: the root's.
		g.toUnit(w, r, partition.Root)
	}
}

// toBasin serves r from the unit holding basin, or from the unit a new
// basin of that name would go to when none holds it (which answers
// basin_not_found, or creates it for an ensure).
func (g *Gateway) toBasin(w http.ResponseWriter, r *http.Request, basin string) {
	u, _, err := g.locate(r.Context(), basin)
	if err != nil {
		writeUnavailable(w, fmt.Sprintf("locating basin %q: %v", basin, err))
		return
	}
	g.toUnit(w, r, u)
}

// createBasin reads the name from the body, then sends the create to the
// unit holding that name already (which answers it: conflict, or an
// idempotent repeat) or to the unit new basins go to.
func (g *Gateway) createBasin(w http.ResponseWriter, r *http.Request) {
	if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
		if g.opts.CreateAtRoot {
			g.toUnit(w, r, partition.Root)
			return
		}
		writeError(w, http.StatusUnsupportedMediaType, "invalid", "a compressed create-basin body is not supported by a cluster; send it uncompressed")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCreateBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_json", "reading the body: "+err.Error())
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	var req struct {
		Basin string `json:"basin"`
	}
	if len(body) > maxCreateBody {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid", fmt.Sprintf("a create-basin body may be at most %d bytes", maxCreateBody))
		return
	}
	if json.Unmarshal(body, &req) != nil || req.Basin == "" {
		// Not a valid request: the root answers it with the right error.
		g.toUnit(w, r, partition.Root)
		return
	}
	g.toBasin(w, r, req.Basin)
}

// createUnit is the unit a new basin goes to.
func (g *Gateway) createUnit(basin string) int {
	if g.opts.CreateAtRoot {
		return partition.Root
	}
	return partition.Home(basin, g.opts.Layout.Partitions)
}

// locate finds the unit holding basin: its home partition, else the root.
// When neither does, it returns the unit a new basin would go to and
// exists false.
func (g *Gateway) locate(ctx context.Context, basin string) (unit int, exists bool, err error) {
	g.mu.Lock()
	l, ok := g.located[basin]
	g.mu.Unlock()
	if ok && (l.expires.IsZero() || g.now().Before(l.expires)) {
		return l.unit, true, nil
	}
	if stream.ValidateBasinName(basin) != nil {
		// Not a name any unit holds: the unit it would go to answers
		// with the right error.
		return g.createUnit(basin), false, nil
	}
	home := partition.Home(basin, g.opts.Layout.Partitions)
	for _, u := range []int{home, partition.Root} {
		has, err := g.has(ctx, u, basin)
		if err != nil {
			return 0, false, err
		}
		if has {
			l := location{unit: u}
			if u == partition.Root {
				l.expires = g.now().Add(rootCacheTTL)
			}
			g.mu.Lock()
			g.located[basin] = l
			g.mu.Unlock()
			return u, true, nil
		}
	}
	return g.createUnit(basin), false, nil
}

// has asks unit u whether it holds basin.
func (g *Gateway) has(ctx context.Context, u int, basin string) (bool, error) {
	rt, err := g.opts.Directory.Route(u)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if rt.Local != nil {
		return rt.Local.Has(ctx, basin)
	}
	var out struct {
		Exists bool `json:"exists"`
	}
	err = g.internalGet(ctx, rt, "/units/"+strconv.Itoa(u)+"/basins/"+url.PathEscape(basin), "", &out)
	return out.Exists, err
}

// toUnit serves r with unit u, here or at its owner.
func (g *Gateway) toUnit(w http.ResponseWriter, r *http.Request, u int) {
	rt, err := g.opts.Directory.Route(u)
	if err != nil {
		writeUnavailable(w, fmt.Sprintf("partition %s: %v", partition.Name(u), err))
		return
	}
	if rt.Local != nil {
		w.Header().Set(HeaderServedBy, g.opts.Node)
		rt.Local.API.ServeHTTP(w, r)
		return
	}
	g.forward(w, r, rt, u)
}

// forward proxies r to the owner of u, streaming both ways.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, rt Route, u int) {
	target, err := url.Parse(rt.URL)
	if err != nil {
		writeUnavailable(w, fmt.Sprintf("node %s has a bad URL %q: %v", rt.Node, rt.URL, err))
		return
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set(HeaderUnit, strconv.Itoa(u))
			pr.Out.Header.Set(HeaderClusterKey, g.opts.ClusterKey)
		},
		Transport: g.transport,
		// Sessions: every chunk goes on at once.
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client went away
			}
			if g.shouldLog(rt.Node) {
				g.log.Warn("forwarding failed", "node", rt.Node, "partition", partition.Name(u), "err", err)
			}
			writeUnavailable(w, fmt.Sprintf("forwarding to node %s: %v", rt.Node, err))
		},
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	// An S2S session over HTTP/1.1 sends acks while its body still comes.
	_ = http.NewResponseController(w).EnableFullDuplex()
	rp.ServeHTTP(w, r)
}

// shouldLog limits forwarding failures to one log line per node every
// five seconds: a dead node fails every request until it is replaced.
func (g *Gateway) shouldLog(node string) bool {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.logged == nil {
		g.logged = make(map[string]time.Time)
	}
	if now.Sub(g.logged[node]) < 5*time.Second {
		return false
	}
	g.logged[node] = now
	return true
}

// serveForwarded serves a peer's request for a unit this node should own;
// it is never forwarded again.
func (g *Gateway) serveForwarded(w http.ResponseWriter, r *http.Request) {
	u, err := strconv.Atoi(r.Header.Get(HeaderUnit))
	if err != nil || u < partition.Root || u >= g.opts.Layout.Partitions {
		writeError(w, http.StatusBadRequest, "bad_header", "bad "+HeaderUnit)
		return
	}
	rt, err := g.opts.Directory.Route(u)
	if err == nil && rt.Local == nil {
		err = fmt.Errorf("moved to node %s", rt.Node)
	}
	if err != nil {
		writeUnavailable(w, fmt.Sprintf("partition %s is not served by node %s: %v", partition.Name(u), g.opts.Node, err))
		return
	}
	w.Header().Set(HeaderServedBy, g.opts.Node)
	rt.Local.API.ServeHTTP(w, r)
}

// errorBody is the S2 error shape.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(errorBody{Code: code, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeUnavailable answers 503 unavailable: retryable, nothing was done.
func writeUnavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, "unavailable", msg)
}

// errStatus reports a peer's non-2xx answer to an internal request.
type errStatus struct {
	status int
	body   []byte
}

func (e *errStatus) Error() string {
	return fmt.Sprintf("status %d: %s", e.status, bytes.TrimSpace(e.body))
}

var errNoKey = errors.New("gateway: no cluster key")
