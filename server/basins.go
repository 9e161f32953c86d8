package server

import (
	"github.com/s2lite/s2lite/auth"
	"net/http"

	"github.com/s2lite/s2lite/stream"
)

// Basin endpoints (API 5).

func basinFromPath(params []string) (string, *apiError) {
	if err := stream.ValidateBasinName(params[0]); err != nil {
		return "", toAPIError(err, fromPath)
	}
	return params[0], nil
}

func provisionStatus(res stream.ProvisionResult) int {
	if res == stream.Created {
		return http.StatusCreated
	}
	return http.StatusOK
}

func (s *Server) listBasins(w http.ResponseWriter, r *http.Request, _ []string) error {
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	req, err := q.listRequest(stream.ValidateBasinPrefix, stream.BasinNamePrefix, stream.BasinStartAfter)
	if err != nil {
		return err
	}
	var keep func(*stream.BasinInfo) bool
	if p := principal(r); p != nil && !p.IsRoot() {
		var empty bool
		if req.Prefix, empty = narrowPrefix(req.Prefix, p.Info.Scope.Basins); empty {
			writeJSON(w, r, http.StatusOK, jsonListBasins{Basins: []jsonBasinInfo{}})
			return nil
		}
		keep = func(b *stream.BasinInfo) bool { return p.Info.Scope.BasinVisible(b.Name) }
	}
	basins, more, lerr := fillPage(req, func(req stream.ListRequest) ([]stream.BasinInfo, bool, error) {
		resp, err := s.svc.ListBasins(r.Context(), req)
		return resp.Basins, resp.HasMore, err
	}, func(b stream.BasinInfo) string { return b.Name }, keep)
	if lerr != nil {
		return toAPIError(lerr, fromQuery)
	}
	out := jsonListBasins{Basins: make([]jsonBasinInfo, 0, len(basins)), HasMore: more}
	for _, b := range basins {
		out.Basins = append(out.Basins, basinInfoJSON(b))
	}
	writeJSON(w, r, http.StatusOK, out)
	return nil
}

func (s *Server) createBasin(w http.ResponseWriter, r *http.Request, _ []string) error {
	token, err := requestToken(r)
	if err != nil {
		return err
	}
	body, err := readJSONBody(r, false)
	if err != nil {
		return err
	}
	name, config, derr := decodeCreateBasin(body)
	if derr != nil {
		return badJSON("Failed to deserialize the JSON body into the target type: %v", derr)
	}
	if err := allowNamed(r, auth.OpCreateBasin, name, ""); err != nil {
		return err
	}
	info, res, cerr := s.svc.CreateBasin(r.Context(), name, config, token)
	if cerr != nil {
		return toAPIError(cerr, fromJSON)
	}
	w.Header().Set(headerProvision, string(res))
	// Create always answers 201, replays included (API 5.2).
	writeJSON(w, r, http.StatusCreated, basinInfoJSON(info))
	return nil
}

func decodeCreateBasin(body []byte) (string, stream.BasinConfig, error) {
	obj, err := parseObject("", body)
	if err != nil {
		return "", stream.BasinConfig{}, err
	}
	name, err := obj.requiredString("", "basin")
	if err != nil {
		return "", stream.BasinConfig{}, err
	}
	if err := stream.ValidateBasinName(name); err != nil {
		return "", stream.BasinConfig{}, fieldErrorf("basin", "%v", err)
	}
	config, err := decodeBasinConfig("config", obj["config"])
	return name, config, err
}

func (s *Server) ensureBasin(w http.ResponseWriter, r *http.Request, params []string) error {
	name, err := basinFromPath(params)
	if err != nil {
		return err
	}
	body, err := readJSONBody(r, true)
	if err != nil {
		return err
	}
	var config stream.BasinConfig
	if body != nil {
		obj, derr := parseObject("", body)
		if derr == nil {
			config, derr = decodeBasinConfig("config", obj["config"])
		}
		if derr != nil {
			return badJSON("Failed to deserialize the JSON body into the target type: %v", derr)
		}
	}
	if err := s.allowEnsure(r, auth.OpCreateBasin, auth.OpReconfigureBasin, name, "", func() error {
		_, err := s.svc.GetBasinConfig(r.Context(), name)
		return err
	}); err != nil {
		return err
	}
	info, res, eerr := s.svc.EnsureBasin(r.Context(), name, config)
	if eerr != nil {
		return toAPIError(eerr, fromPath)
	}
	w.Header().Set(headerProvision, string(res))
	writeJSON(w, r, provisionStatus(res), basinInfoJSON(info))
	return nil
}

func (s *Server) getBasinConfig(w http.ResponseWriter, r *http.Request, params []string) error {
	name, err := basinFromPath(params)
	if err != nil {
		return err
	}
	config, gerr := s.svc.GetBasinConfig(r.Context(), name)
	if gerr != nil {
		return toAPIError(gerr, fromPath)
	}
	writeJSON(w, r, http.StatusOK, basinConfigJSON(config))
	return nil
}

func (s *Server) reconfigureBasin(w http.ResponseWriter, r *http.Request, params []string) error {
	name, err := basinFromPath(params)
	if err != nil {
		return err
	}
	body, err := readJSONBody(r, false)
	if err != nil {
		return err
	}
	reconf, derr := decodeBasinReconfiguration(body)
	if derr != nil {
		return badJSON("Failed to deserialize the JSON body into the target type: %v", derr)
	}
	config, rerr := s.svc.ReconfigureBasin(r.Context(), name, reconf)
	if rerr != nil {
		return toAPIError(rerr, fromPath)
	}
	writeJSON(w, r, http.StatusOK, basinConfigJSON(config))
	return nil
}

func (s *Server) deleteBasin(w http.ResponseWriter, r *http.Request, params []string) error {
	name, err := basinFromPath(params)
	if err != nil {
		return err
	}
	if derr := s.svc.DeleteBasin(r.Context(), name); derr != nil {
		return toAPIError(derr, fromPath)
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}
