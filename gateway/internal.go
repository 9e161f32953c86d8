package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/s2lite/s2lite/auth"
	"github.com/s2lite/s2lite/partition"
)

// internalPrefix is the path of requests between nodes. They need the
// cluster key, not an access token: they ask questions of the routing
// (does this unit hold this basin, whose is this token), not of the API.
const internalPrefix = "/internal/v1/"

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// serveInternal answers another node:
//
//	GET /internal/v1/units/{u}/basins/{basin}  {"exists": bool}
//	GET /internal/v1/principal                 the bearer token's info
func (g *Gateway) serveInternal(w http.ResponseWriter, r *http.Request) {
	if !g.fromPeer(r) {
		writeError(w, http.StatusForbidden, "permission_denied", "internal endpoint: cluster key required")
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "invalid", "GET only")
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, internalPrefix)
	switch {
	case rest == "principal":
		g.servePrincipal(w, r)
	case strings.HasPrefix(rest, "units/"):
		parts := strings.Split(rest, "/") // units, u, basins, name
		if len(parts) != 4 || parts[2] != "basins" {
			writeError(w, http.StatusNotFound, "not_found", "no such internal path")
			return
		}
		u, err := strconv.Atoi(parts[1])
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid", "bad unit")
			return
		}
		rt, err := g.opts.Directory.Route(u)
		if err == nil && rt.Local == nil {
			err = fmt.Errorf("moved to node %s", rt.Node)
		}
		if err != nil {
			writeUnavailable(w, fmt.Sprintf("partition %s is not served here: %v", partition.Name(u), err))
			return
		}
		has, err := rt.Local.Has(r.Context(), parts[3])
		if err != nil {
			writeUnavailable(w, err.Error())
			return
		}
		writeJSON(w, map[string]bool{"exists": has})
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such internal path")
	}
}

// principalAnswer is the answer of /internal/v1/principal.
type principalAnswer struct {
	Root bool            `json:"root,omitempty"`
	Info *auth.TokenInfo `json:"info,omitempty"`
}

func (g *Gateway) servePrincipal(w http.ResponseWriter, r *http.Request) {
	rt, err := g.opts.Directory.Route(partition.Root)
	if err == nil && (rt.Local == nil || rt.Local.Tokens == nil) {
		err = errors.New("the root partition's tokens are not here")
	}
	if err != nil {
		writeUnavailable(w, err.Error())
		return
	}
	secret, _ := auth.ParseBearer(r.Header.Get("Authorization"))
	p, err := rt.Local.Tokens.Authenticate(secret)
	if err != nil {
		var ae *auth.Error
		if errors.As(err, &ae) {
			writeError(w, ae.Status, ae.Code, ae.Message)
			return
		}
		writeUnavailable(w, err.Error())
		return
	}
	if p.IsRoot() {
		writeJSON(w, principalAnswer{Root: true})
		return
	}
	writeJSON(w, principalAnswer{Info: p.Info})
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// internalGet asks the owner in rt; a non-200 answer is an *errStatus.
func (g *Gateway) internalGet(ctx context.Context, rt Route, path, bearer string, out any) error {
	if g.opts.ClusterKey == "" {
		return errNoKey
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(rt.URL, "/")+internalPrefix+strings.TrimPrefix(path, "/"), nil)
	if err != nil {
		return err
	}
	req.Header.Set(HeaderClusterKey, g.opts.ClusterKey)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := g.transport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("node %s: %w", rt.Node, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("node %s: %w", rt.Node, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &errStatus{status: resp.StatusCode, body: body}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("node %s: %w", rt.Node, err)
	}
	return nil
}
