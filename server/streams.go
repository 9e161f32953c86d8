package server

import (
	"github.com/s2lite/s2lite/auth"
	"net/http"

	"github.com/s2lite/s2lite/stream"
)

// Stream endpoints (API 6) and check tail (API 8.1). All carry the basin
// in the s2-basin header, which is extracted first.

// streamTarget extracts the basin header and then the stream path
// parameter, in the order of API 1.8.
func streamTarget(r *http.Request, params []string) (basin, name string, err *apiError) {
	if basin, err = basinFromHeader(r); err != nil {
		return "", "", err
	}
	if e := stream.ValidateStreamName(params[0]); e != nil {
		return "", "", toAPIError(e, fromPath)
	}
	return basin, params[0], nil
}

func streamConfigValue(c *stream.StreamConfig) stream.StreamConfig {
	if c == nil {
		return stream.StreamConfig{}
	}
	return *c
}

func (s *Server) listStreams(w http.ResponseWriter, r *http.Request, _ []string) error {
	basin, err := basinFromHeader(r)
	if err != nil {
		return err
	}
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	req, err := q.listRequest(stream.ValidateStreamPrefix, stream.StreamNamePrefix, stream.StreamStartAfter)
	if err != nil {
		return err
	}
	var keep func(*stream.StreamInfo) bool
	if p := principal(r); p != nil && !p.IsRoot() {
		req.Prefix = p.Info.StreamNameIn(req.Prefix)
		if req.StartAfter != "" {
			req.StartAfter = p.Info.StreamNameIn(req.StartAfter)
		}
		var empty bool
		if req.Prefix, empty = narrowPrefix(req.Prefix, p.Info.Scope.Streams); empty {
			writeJSON(w, r, http.StatusOK, jsonListStreams{Streams: []jsonStreamInfo{}})
			return nil
		}
		keep = func(st *stream.StreamInfo) bool {
			var ok bool
			if !p.Info.Scope.StreamVisible(st.Name) {
				return false
			}
			st.Name, ok = p.Info.StreamNameOut(st.Name)
			return ok
		}
	}
	streams, more, lerr := fillPage(req, func(req stream.ListRequest) ([]stream.StreamInfo, bool, error) {
		resp, err := s.svc.ListStreams(r.Context(), basin, req)
		return resp.Streams, resp.HasMore, err
	}, func(st stream.StreamInfo) string { return st.Name }, keep)
	if lerr != nil {
		return toAPIError(lerr, fromQuery)
	}
	out := jsonListStreams{Streams: make([]jsonStreamInfo, 0, len(streams)), HasMore: more}
	for _, st := range streams {
		out.Streams = append(out.Streams, streamInfoJSON(st))
	}
	writeJSON(w, r, http.StatusOK, out)
	return nil
}

func (s *Server) createStream(w http.ResponseWriter, r *http.Request, _ []string) error {
	basin, err := basinFromHeader(r)
	if err != nil {
		return err
	}
	token, err := requestToken(r)
	if err != nil {
		return err
	}
	body, err := readJSONBody(r, false)
	if err != nil {
		return err
	}
	name, config, derr := decodeCreateStream(body)
	if derr != nil {
		return badJSON("Failed to deserialize the JSON body into the target type: %v", derr)
	}
	name = streamNameIn(r, name)
	if err := allowNamed(r, auth.OpCreateStream, basin, name); err != nil {
		return err
	}
	info, res, cerr := s.svc.CreateStream(r.Context(), basin, name, streamConfigValue(config), token)
	if cerr != nil {
		return toAPIError(cerr, fromJSON)
	}
	info.Name, _ = streamNameOut(r, info.Name)
	w.Header().Set(headerProvision, string(res))
	writeJSON(w, r, http.StatusCreated, streamInfoJSON(info))
	return nil
}

func decodeCreateStream(body []byte) (string, *stream.StreamConfig, error) {
	obj, err := parseObject("", body)
	if err != nil {
		return "", nil, err
	}
	name, err := obj.requiredString("", "stream")
	if err != nil {
		return "", nil, err
	}
	if err := stream.ValidateStreamName(name); err != nil {
		return "", nil, fieldErrorf("stream", "%v", err)
	}
	config, err := decodeStreamConfig("config", obj["config"])
	return name, config, err
}

func (s *Server) ensureStream(w http.ResponseWriter, r *http.Request, params []string) error {
	basin, name, err := streamTarget(r, params)
	if err != nil {
		return err
	}
	body, err := readJSONBody(r, true)
	if err != nil {
		return err
	}
	var config *stream.StreamConfig
	if body != nil {
		// The body is a bare StreamConfig, and must be an object.
		if _, derr := parseObject("", body); derr != nil {
			return badJSON("Failed to deserialize the JSON body into the target type: %v", derr)
		}
		var derr error
		if config, derr = decodeStreamConfig("", body); derr != nil {
			return badJSON("Failed to deserialize the JSON body into the target type: %v", derr)
		}
	}
	if err := s.allowEnsure(r, auth.OpCreateStream, auth.OpReconfigureStream, basin, name, func() error {
		_, err := s.svc.GetStreamConfig(r.Context(), basin, name)
		return err
	}); err != nil {
		return err
	}
	info, res, eerr := s.svc.EnsureStream(r.Context(), basin, name, streamConfigValue(config))
	if eerr != nil {
		return toAPIError(eerr, fromPath)
	}
	info.Name, _ = streamNameOut(r, info.Name)
	w.Header().Set(headerProvision, string(res))
	writeJSON(w, r, provisionStatus(res), streamInfoJSON(info))
	return nil
}

func (s *Server) getStreamConfig(w http.ResponseWriter, r *http.Request, params []string) error {
	basin, name, err := streamTarget(r, params)
	if err != nil {
		return err
	}
	config, gerr := s.svc.GetStreamConfig(r.Context(), basin, name)
	if gerr != nil {
		return toAPIError(gerr, fromPath)
	}
	writeJSON(w, r, http.StatusOK, resolvedStreamConfigJSON(config))
	return nil
}

func (s *Server) reconfigureStream(w http.ResponseWriter, r *http.Request, params []string) error {
	basin, name, err := streamTarget(r, params)
	if err != nil {
		return err
	}
	body, err := readJSONBody(r, false)
	if err != nil {
		return err
	}
	reconf, derr := decodeStreamReconfiguration("", body)
	if derr != nil {
		return badJSON("Failed to deserialize the JSON body into the target type: %v", derr)
	}
	config, rerr := s.svc.ReconfigureStream(r.Context(), basin, name, reconf)
	if rerr != nil {
		return toAPIError(rerr, fromPath)
	}
	writeJSON(w, r, http.StatusOK, resolvedStreamConfigJSON(config))
	return nil
}

func (s *Server) deleteStream(w http.ResponseWriter, r *http.Request, params []string) error {
	basin, name, err := streamTarget(r, params)
	if err != nil {
		return err
	}
	if derr := s.svc.DeleteStream(r.Context(), basin, name); derr != nil {
		return toAPIError(derr, fromPath)
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func (s *Server) checkTail(w http.ResponseWriter, r *http.Request, params []string) error {
	basin, name, err := streamTarget(r, params)
	if err != nil {
		return err
	}
	opts, err := autoCreateOptions(r)
	if err != nil {
		return err
	}
	tail, terr := s.svc.CheckTail(r.Context(), basin, name, opts...)
	if terr != nil {
		return toAPIError(terr, fromPath)
	}
	writeJSON(w, r, http.StatusOK, jsonTailResponse{Tail: positionJSON(tail)})
	return nil
}
