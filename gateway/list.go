package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/s2lite/s2lite/partition"
)

// maxListLimit is the API's largest page.
const maxListLimit = 1000

// unitPage is one unit's answer to a list request.
type unitPage struct {
	status int
	header http.Header
	body   []byte
}

// listBasins asks every unit for the page and merges the answers by name:
// each unit returns up to limit basins after start_after, so the first
// limit of the union are the page, and there is more if any unit said so
// or the union was longer.
func (g *Gateway) listBasins(w http.ResponseWriter, r *http.Request) {
	limit := maxListLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			g.toUnit(w, r, partition.Root) // the root answers the bad query
			return
		}
		if n > 0 { // 0 means the default, as the API says
			limit = min(n, maxListLimit)
		}
	}
	pages := g.askAll(r)
	type basin struct {
		name string
		raw  json.RawMessage
	}
	var all []basin
	more := false
	for _, p := range pages {
		if p.status != http.StatusOK {
			copyAnswer(w, p)
			return
		}
		var page struct {
			Basins  []json.RawMessage `json:"basins"`
			HasMore bool              `json:"has_more"`
		}
		if err := json.Unmarshal(p.body, &page); err != nil {
			writeUnavailable(w, "listing basins: a partition answered: "+err.Error())
			return
		}
		more = more || page.HasMore
		for _, raw := range page.Basins {
			var b struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(raw, &b)
			all = append(all, basin{name: b.Name, raw: raw})
		}
	}
	slices.SortFunc(all, func(a, b basin) int { return strings.Compare(a.name, b.name) })
	if len(all) > limit {
		all, more = all[:limit], true
	}
	out := struct {
		Basins  []json.RawMessage `json:"basins"`
		HasMore bool              `json:"has_more"`
	}{Basins: make([]json.RawMessage, 0, len(all)), HasMore: more}
	for _, b := range all {
		out.Basins = append(out.Basins, b.raw)
	}
	w.Header().Set(HeaderServedBy, g.opts.Node)
	writeJSON(w, out)
}

// askAll sends a copy of r to every unit at once and returns their answers.
func (g *Gateway) askAll(r *http.Request) []unitPage {
	units := g.opts.Layout.Units()
	pages := make([]unitPage, len(units))
	var wg sync.WaitGroup
	for i, u := range units {
		wg.Go(func() { pages[i] = g.ask(r, u) })
	}
	wg.Wait()
	return pages
}

// ask sends a copy of r (no body) to unit u and returns its answer.
func (g *Gateway) ask(r *http.Request, u int) unitPage {
	rt, err := g.opts.Directory.Route(u)
	if err != nil {
		return unavailablePage("partition " + partition.Name(u) + ": " + err.Error())
	}
	req := r.Clone(r.Context())
	req.Body, req.ContentLength = http.NoBody, 0
	req.Header.Del("Accept-Encoding") // the merge reads the bodies
	if rt.Local != nil {
		rec := &recorder{header: make(http.Header)}
		rt.Local.API.ServeHTTP(rec, req)
		return unitPage{status: rec.statusOr200(), header: rec.header, body: rec.body.Bytes()}
	}
	return g.askPeer(req.Context(), req, rt, u)
}

func (g *Gateway) askPeer(ctx context.Context, r *http.Request, rt Route, u int) unitPage {
	req, err := http.NewRequestWithContext(ctx, r.Method, strings.TrimSuffix(rt.URL, "/")+r.URL.RequestURI(), nil)
	if err != nil {
		return unavailablePage(err.Error())
	}
	req.Header = r.Header.Clone()
	req.Header.Set(HeaderUnit, strconv.Itoa(u))
	req.Header.Set(HeaderClusterKey, g.opts.ClusterKey)
	resp, err := g.transport.RoundTrip(req)
	if err != nil {
		return unavailablePage("node " + rt.Node + ": " + err.Error())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return unavailablePage("node " + rt.Node + ": " + err.Error())
	}
	return unitPage{status: resp.StatusCode, header: resp.Header, body: body}
}

func unavailablePage(msg string) unitPage {
	body, _ := json.Marshal(errorBody{Code: "unavailable", Message: msg})
	h := make(http.Header)
	h.Set("Content-Type", "application/json")
	return unitPage{status: http.StatusServiceUnavailable, header: h, body: body}
}

func copyAnswer(w http.ResponseWriter, p unitPage) {
	for _, k := range []string{"Content-Type", "Retry-After", HeaderServedBy} {
		if v := p.header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(p.status)
	_, _ = w.Write(p.body)
}

// recorder is the ResponseWriter of a unit asked in-process.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
func (r *recorder) statusOr200() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}
