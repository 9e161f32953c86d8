package server

import (
	"net/http"
	"net/url"
	"strings"
)

// The route table of API 1.2. A small router of its own rather than
// http.ServeMux: the API wants an empty-bodied 404 for unknown paths, no
// path cleaning or redirects (a stream may be named "a//b" or "."), and
// path parameters that are single segments percent-decoded exactly once
// (a stream name may contain "/", sent as %2F).

// handlerFunc serves one route. params are the decoded path parameters in
// order. A returned error is rendered as the API error it maps to; a
// handler that has started a streaming response must not return one.
type handlerFunc func(w http.ResponseWriter, r *http.Request, params []string) error

type route struct {
	// name labels metrics; it is the pattern, e.g. /v1/streams/{stream}.
	name string
	// segs are literal segments, or "" for a parameter.
	segs    []string
	methods map[string]handlerFunc
}

type router struct {
	routes []*route
}

func (rt *router) handle(pattern string, method string, h handlerFunc) {
	for _, r := range rt.routes {
		if r.name == pattern {
			r.methods[method] = h
			return
		}
	}
	var segs []string
	for s := range strings.SplitSeq(strings.TrimPrefix(pattern, "/"), "/") {
		if strings.HasPrefix(s, "{") {
			s = ""
		}
		segs = append(segs, s)
	}
	rt.routes = append(rt.routes, &route{name: pattern, segs: segs, methods: map[string]handlerFunc{method: h}})
}

// match finds the route of a request path; params are the decoded values
// of its parameters. ok is false for an unknown path or a parameter that
// does not decode.
func (rt *router) match(escapedPath string) (r *route, params []string, ok bool) {
	if !strings.HasPrefix(escapedPath, "/") {
		return nil, nil, false
	}
	segs := strings.Split(escapedPath[1:], "/")
	for _, cand := range rt.routes {
		if len(cand.segs) != len(segs) {
			continue
		}
		params = params[:0]
		matched := true
		for i, s := range cand.segs {
			switch {
			case s != "":
				matched = s == segs[i]
			case segs[i] == "":
				// An empty parameter matches nothing, as in the reference.
				matched = false
			default:
				v, err := url.PathUnescape(segs[i])
				if err != nil {
					matched = false
				} else {
					params = append(params, v)
				}
			}
			if !matched {
				break
			}
		}
		if matched {
			return cand, params, true
		}
	}
	return nil, nil, false
}

// lookup resolves a request to its route and handler. A known path with
// another method yields the route and a nil handler (405).
func (rt *router) lookup(req *http.Request) (*route, handlerFunc, []string) {
	r, params, ok := rt.match(req.URL.EscapedPath())
	if !ok {
		return nil, nil, nil
	}
	method := req.Method
	if method == http.MethodHead {
		// HEAD is served by GET handlers; net/http drops the body.
		method = http.MethodGet
	}
	return r, r.methods[method], params
}

// allowed lists a route's methods for the Allow header of a 405.
func (r *route) allowed() string {
	var ms []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if _, ok := r.methods[m]; ok {
			ms = append(ms, m)
			if m == http.MethodGet {
				ms = append(ms, http.MethodHead)
			}
		}
	}
	return strings.Join(ms, ",")
}
