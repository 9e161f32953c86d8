package server

import "net/http"

// routes registers the route table of API 1.2.
func (s *Server) routes() {
	rt := &s.router
	rt.handle("/health", http.MethodGet, s.handleHealth)
	rt.handle("/ping", http.MethodGet, s.handleHealth)
	rt.handle("/ready", http.MethodGet, s.handleReady)
	rt.handle("/metrics", http.MethodGet, s.handleMetrics)

	rt.handle("/v1/basins", http.MethodGet, s.listBasins)
	rt.handle("/v1/basins", http.MethodPost, s.createBasin)
	rt.handle("/v1/basins/{basin}", http.MethodGet, s.getBasinConfig)
	rt.handle("/v1/basins/{basin}", http.MethodPut, s.ensureBasin)
	rt.handle("/v1/basins/{basin}", http.MethodPatch, s.reconfigureBasin)
	rt.handle("/v1/basins/{basin}", http.MethodDelete, s.deleteBasin)

	rt.handle("/v1/streams", http.MethodGet, s.listStreams)
	rt.handle("/v1/streams", http.MethodPost, s.createStream)
	rt.handle("/v1/streams/{stream}", http.MethodGet, s.getStreamConfig)
	rt.handle("/v1/streams/{stream}", http.MethodPut, s.ensureStream)
	rt.handle("/v1/streams/{stream}", http.MethodPatch, s.reconfigureStream)
	rt.handle("/v1/streams/{stream}", http.MethodDelete, s.deleteStream)
	rt.handle("/v1/streams/{stream}/records/tail", http.MethodGet, s.checkTail)
	rt.handle("/v1/streams/{stream}/records", http.MethodGet, s.read)
	rt.handle("/v1/streams/{stream}/records", http.MethodPost, s.append)
	// An s2lite extension, off by default: see import.go.
	rt.handle("/v1/streams/{stream}/import", http.MethodPost, s.importRecords)

	// Section 13: parsed, then answered 501.
	rt.handle("/v1/access-tokens", http.MethodGet, s.listAccessTokens)
	rt.handle("/v1/access-tokens", http.MethodPost, s.issueAccessToken)
	rt.handle("/v1/access-tokens/{id}", http.MethodDelete, s.revokeAccessToken)
	rt.handle("/v1/metrics", http.MethodGet, s.accountMetrics)
	rt.handle("/v1/metrics/{basin}", http.MethodGet, s.basinMetrics)
	rt.handle("/v1/metrics/{basin}/{stream}", http.MethodGet, s.streamMetrics)
	rt.handle("/v1/locations", http.MethodGet, s.listLocations)
	rt.handle("/v1/locations/default", http.MethodGet, s.getDefaultLocation)
	rt.handle("/v1/locations/default", http.MethodPut, s.setDefaultLocation)
}
