package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/s2lite/s2lite/engine"
)

// metrics are the server's Prometheus metrics, on a registry of its own so
// that several servers (tests) never share state (API 14.2).
type metrics struct {
	reg *prometheus.Registry

	appendAckLatency    prometheus.Histogram
	appendPermitLatency prometheus.Histogram
	appendBatchRecords  prometheus.Histogram
	appendBatchBytes    prometheus.Histogram
	appendInflight      prometheus.Gauge
	appendSessions      prometheus.Gauge

	readLatency   prometheus.Histogram
	readSessions  *prometheus.GaugeVec
	readFollowers *prometheus.GaugeVec
	readRecords   prometheus.Counter

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
}

// latencyBuckets span 5 ms to 2.5 s, like the reference's append
// histograms.
func latencyBuckets() []float64 { return []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5} }

func newMetrics(engineMetrics func() engine.Metrics) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		appendAckLatency: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "s2_append_ack_latency_seconds",
			Help:    "Time from accepting an append batch to its durable acknowledgement.",
			Buckets: latencyBuckets(),
		})),
		appendPermitLatency: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "s2_append_permit_latency_seconds",
			Help:    "Time an append session input waited for room in the in-flight byte budget.",
			Buckets: latencyBuckets(),
		})),
		appendBatchRecords: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "s2_append_batch_records",
			Help:    "Records per acknowledged append batch.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		})),
		appendBatchBytes: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "s2_append_batch_bytes",
			Help:    "Metered bytes per acknowledged append batch.",
			Buckets: prometheus.ExponentialBuckets(512, 2, 12),
		})),
		appendInflight: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "s2lite_append_inflight_bytes",
			Help: "Metered bytes of appends received but not yet acknowledged.",
		})),
		appendSessions: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "s2lite_append_sessions",
			Help: "Open S2S append sessions.",
		})),
		readLatency: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "s2lite_read_latency_seconds",
			Help:    "Duration of unary reads, long polls included.",
			Buckets: latencyBuckets(),
		})),
		readSessions: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "s2lite_read_sessions",
			Help: "Open read sessions by transport.",
		}, []string{"transport"})),
		readFollowers: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "s2lite_read_followers",
			Help: "Read sessions that have caught up with the tail and follow live appends, by transport.",
		}, []string{"transport"})),
		readRecords: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "s2lite_read_session_records_total",
			Help: "Records delivered by read sessions.",
		})),
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s2lite_http_requests_total",
			Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"})),
		requestDuration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "s2lite_http_request_duration_seconds",
			Help:    "HTTP request duration by route and method (sessions included).",
			Buckets: latencyBuckets(),
		}, []string{"route", "method"})),
	}
	reg.MustRegister(collectors.NewGoCollector())
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if engineMetrics != nil {
		reg.MustRegister(&engineCollector{snapshot: engineMetrics})
	}
	return m
}

// register adds c to reg and returns it, so that each metric is declared
// and registered in one expression.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	reg.MustRegister(c)
	return c
}

func (m *metrics) observeAppend(records int, metered uint64, latency time.Duration) {
	m.appendAckLatency.Observe(latency.Seconds())
	m.appendBatchRecords.Observe(float64(records))
	m.appendBatchBytes.Observe(float64(metered))
}

func (m *metrics) observeRequest(route, method string, status int, d time.Duration) {
	if status == 0 {
		status = http.StatusOK
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.requestDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// readSessionTracker keeps the session gauges of one read session.
type readSessionTracker struct {
	m         *metrics
	transport string
	once      sync.Once
	follows   bool
}

func (m *metrics) trackReadSession(transport string) *readSessionTracker {
	m.readSessions.WithLabelValues(transport).Inc()
	return &readSessionTracker{m: m, transport: transport}
}

// following marks the session as caught up (it received a tail).
func (t *readSessionTracker) following() {
	if !t.follows {
		t.follows = true
		t.m.readFollowers.WithLabelValues(t.transport).Inc()
	}
}

func (t *readSessionTracker) end() {
	t.once.Do(func() {
		t.m.readSessions.WithLabelValues(t.transport).Dec()
		if t.follows {
			t.m.readFollowers.WithLabelValues(t.transport).Dec()
		}
	})
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request, _ []string) error {
	if s.opts.SeparateMetrics {
		writeEmpty(w, http.StatusNotFound)
		return nil
	}
	s.MetricsHandler().ServeHTTP(w, r)
	return nil
}

// MetricsHandler serves the Prometheus metrics, for a listener of their
// own (serve --metrics-addr).
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorLog: slogPromLogger{s}})
}

// Gatherer is the server's metric registry, for a node that merges the
// metrics of several servers (one per partition) on one endpoint.
func (s *Server) Gatherer() prometheus.Gatherer { return s.metrics.reg }

// slogPromLogger routes promhttp's error log to the server's logger.
type slogPromLogger struct{ s *Server }

func (l slogPromLogger) Println(v ...any) { l.s.log.Warn("metrics exposition", "err", v) }
