package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/s2lite/s2lite/auth"
	"github.com/s2lite/s2lite/stream"
	"github.com/s2lite/s2lite/usage"
)

// UsageMetrics is what the server needs of the usage recorder (package
// usage): counting requests, and answering the metrics API.
type UsageMetrics interface {
	AccountOp(op string)
	BasinOp(basin, op string)
	Accumulations(scope, metric string, labels []string, res usage.Resolution, start, end uint32) []usage.Series
	Storage(basin, stream string, res usage.Resolution, start, end uint32) []usage.Point
	ActiveBasins(start, end uint32) []string
}

// Limits of a metrics query, as the cloud service validates them.
const (
	metricsMaxRange     = 30 * 24 * 60 * 60 // seconds
	metricsFutureMargin = 60                // seconds end may be ahead of now
)

// countUsage counts a served request as an account or basin operation.
// Appends and reads are counted by the stream layer, with their bytes.
func (s *Server) countUsage(r *http.Request, rt *route, params []string, status int) {
	u := s.opts.Usage
	if u == nil || status >= 400 {
		return
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	op, ok := routeOps[method+" "+rt.name]
	if !ok || op == auth.OpAppend || op == auth.OpRead {
		return
	}
	if g, _ := op.Group(); g == auth.GroupAccount {
		u.AccountOp(string(op))
		return
	}
	var basin string
	switch {
	case strings.HasPrefix(rt.name, "/v1/basins/{basin}"), strings.HasPrefix(rt.name, "/v1/metrics/{basin}"):
		basin = params[0]
	case strings.HasPrefix(rt.name, "/v1/streams"):
		basin = r.Header.Get(headerBasin)
	}
	u.BasinOp(basin, string(op))
}

type jsonMetricSet struct {
	Values []any `json:"values"`
}

type jsonAccumulation struct {
	Accumulation jsonSeries `json:"accumulation"`
}

type jsonGauge struct {
	Gauge jsonSeries `json:"gauge"`
}

type jsonSeries struct {
	Name     string       `json:"name"`
	Unit     string       `json:"unit"`
	Interval string       `json:"interval,omitempty"`
	Values   [][2]float64 `json:"values"`
}

type jsonLabel struct {
	Label struct {
		Name   string   `json:"name"`
		Values []string `json:"values"`
	} `json:"label"`
}

func pointsJSON(ps []usage.Point) [][2]float64 {
	out := make([][2]float64, 0, len(ps))
	for _, p := range ps {
		out = append(out, [2]float64{float64(p.T), float64(p.V)})
	}
	return out
}

// metricsRange is a validated metrics query.
type metricsRange struct {
	set        string
	start, end uint32
	interval   string // "" when not given
}

// parseMetrics parses and validates a metrics query: the set as
// metricsQuery checks it (400), then the range rules of the cloud
// service (422 invalid).
func (s *Server) parseMetrics(r *http.Request, sets ...string) (metricsRange, *apiError) {
	if err := metricsQuery(r, sets...); err != nil {
		return metricsRange{}, err
	}
	q, err := parseQuery(r)
	if err != nil {
		return metricsRange{}, err
	}
	var m metricsRange
	m.set, _, _ = q.str("set")
	m.interval, _, _ = q.str("interval")
	start, err := q.uint("start", 32)
	if err != nil {
		return m, err
	}
	end, err := q.uint("end", 32)
	if err != nil {
		return m, err
	}
	if start == nil || end == nil {
		return m, invalid("start and end params required for %s", m.set)
	}
	m.start, m.end = uint32(*start), uint32(*end)
	now := s.now().Unix()
	switch {
	case m.start > m.end:
		return m, invalid("start must not be after end")
	case int64(m.end) > now+metricsFutureMargin:
		return m, invalid("end must not be more than %d seconds in the future", metricsFutureMargin)
	case m.end-m.start > metricsMaxRange:
		return m, invalid("time range must not exceed 30 days")
	}
	return m, nil
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

func resolutionOf(interval, def string) usage.Resolution {
	if interval == "" {
		interval = def
	}
	switch interval {
	case "hour":
		return usage.Hour
	case "day":
		return usage.Day
	}
	return usage.Minute
}

func (s *Server) accountMetrics(w http.ResponseWriter, r *http.Request, _ []string) error {
	sets := append([]string{"active-basins", "account-ops"}, storageSets...)
	if s.opts.Usage == nil {
		if err := metricsQuery(r, sets...); err != nil {
			return err
		}
		return notImplemented()
	}
	m, err := s.parseMetrics(r, sets...)
	if err != nil {
		return err
	}
	out := jsonMetricSet{Values: []any{}}
	switch m.set {
	case "active-basins":
		basins := s.opts.Usage.ActiveBasins(m.start, m.end)
		if p := principal(r); p != nil && !p.IsRoot() {
			kept := basins[:0]
			for _, b := range basins {
				if p.Info.Scope.BasinVisible(b) {
					kept = append(kept, b)
				}
			}
			basins = kept
		}
		var l jsonLabel
		l.Label.Name, l.Label.Values = "active_basins", append([]string{}, basins...)
		out.Values = append(out.Values, l)
	case "account-ops":
		res := resolutionOf(m.interval, "hour")
		for _, sr := range s.opts.Usage.Accumulations("", usage.MetricAccountOps, nil, res, m.start, m.end) {
			out.Values = append(out.Values, jsonAccumulation{jsonSeries{Name: sr.Label, Unit: "operations", Interval: res.String(), Values: pointsJSON(sr.Points)}})
		}
	default: // storage-*: what no basin could be charged with
		out.Values = s.storageSet("", m, "hour")
	}
	writeJSON(w, r, http.StatusOK, out)
	return nil
}

// metricsBasinExists answers 404 basin_not_found for a basin that does
// not exist.
func (s *Server) metricsBasinExists(r *http.Request, basin string) error {
	if _, err := s.svc.GetBasinConfig(r.Context(), basin); err != nil {
		return toAPIError(err, fromPath)
	}
	return nil
}

func (s *Server) basinMetrics(w http.ResponseWriter, r *http.Request, params []string) error {
	basin, aerr := basinFromPath(params)
	if aerr != nil {
		return aerr
	}
	sets := append([]string{"storage", "append-ops", "read-ops", "read-throughput", "append-throughput", "basin-ops"}, storageSets...)
	if s.opts.Usage == nil {
		if err := metricsQuery(r, sets...); err != nil {
			return err
		}
		return notImplemented()
	}
	m, aerr := s.parseMetrics(r, sets...)
	if aerr != nil {
		return aerr
	}
	if m.set == "storage" && m.interval != "" && m.interval != "hour" {
		return invalid("storage metrics of a basin are only available per hour")
	}
	if err := s.metricsBasinExists(r, basin); err != nil {
		return err
	}
	u := s.opts.Usage
	out := jsonMetricSet{Values: []any{}}
	res := resolutionOf(m.interval, "minute")
	acc := func(metric, unit string, labels []string, name func(string) string) {
		for _, sr := range u.Accumulations(basin, metric, labels, res, m.start, m.end) {
			out.Values = append(out.Values, jsonAccumulation{jsonSeries{Name: name(sr.Label), Unit: unit, Interval: res.String(), Values: pointsJSON(sr.Points)}})
		}
	}
	same := func(l string) string { return l }
	switch m.set {
	case "storage":
		out.Values = append(out.Values, jsonGauge{jsonSeries{Name: "storage", Unit: "bytes", Values: pointsJSON(u.Storage(basin, "", usage.Hour, m.start, m.end))}})
	case "append-ops":
		acc(usage.MetricAppendOps, "operations", []string{usage.LabelStandard, usage.LabelExpress}, same)
	case "append-throughput":
		acc(usage.MetricAppendThroughput, "bytes", []string{usage.LabelStandard, usage.LabelExpress}, same)
	case "read-ops":
		acc(usage.MetricReadOps, "operations", []string{usage.LabelUnary, usage.LabelStreaming}, same)
	case "read-throughput":
		acc(usage.MetricReadThroughput, "bytes", []string{""}, func(string) string { return "read-throughput" })
	case "basin-ops":
		acc(usage.MetricBasinOps, "operations", nil, same)
	default: // storage-*
		out.Values = s.storageSet(basin, m, "minute")
	}
	writeJSON(w, r, http.StatusOK, out)
	return nil
}

// storageSets are the s2lite extension sets of object-store cost, by
// set name: the usage metric and its unit. At the account level they
// answer the share no basin could be charged with.
var storageSets = []string{usage.MetricStoragePuts, usage.MetricStorageGets, usage.MetricStorageBytesWritten, usage.MetricStorageBytesRead}

// storageSet answers one storage-* set of scope: one series per object
// class (wal, table, other), always all three.
func (s *Server) storageSet(scope string, m metricsRange, defInterval string) []any {
	unit := "bytes"
	if m.set == usage.MetricStoragePuts || m.set == usage.MetricStorageGets {
		unit = "operations"
	}
	res := resolutionOf(m.interval, defInterval)
	out := []any{}
	for _, sr := range s.opts.Usage.Accumulations(scope, m.set, usage.StorageClasses, res, m.start, m.end) {
		out = append(out, jsonAccumulation{jsonSeries{Name: sr.Label, Unit: unit, Interval: res.String(), Values: pointsJSON(sr.Points)}})
	}
	return out
}

func (s *Server) streamMetrics(w http.ResponseWriter, r *http.Request, params []string) error {
	basin, aerr := basinFromPath(params[:1])
	if aerr != nil {
		return aerr
	}
	if err := stream.ValidateStreamName(params[1]); err != nil {
		return toAPIError(err, fromPath)
	}
	if s.opts.Usage == nil {
		if err := metricsQuery(r, "storage"); err != nil {
			return err
		}
		return notImplemented()
	}
	m, aerr := s.parseMetrics(r, "storage")
	if aerr != nil {
		return aerr
	}
	if m.interval != "" && m.interval != "minute" {
		return invalid("storage metrics of a stream are only available per minute")
	}
	if err := s.metricsBasinExists(r, basin); err != nil {
		return err
	}
	// A stream that no longer exists still has its history: no 404.
	name := params[1]
	out := jsonMetricSet{Values: []any{
		jsonGauge{jsonSeries{Name: "storage", Unit: "bytes", Values: pointsJSON(s.opts.Usage.Storage(basin, name, usage.Minute, m.start, m.end))}},
	}}
	writeJSON(w, r, http.StatusOK, out)
	return nil
}
