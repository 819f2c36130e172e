package dashboard

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/streamdash/streamdash/internal/panels"
)

type metrics struct {
	reg      *prometheus.Registry
	clients  prometheus.Gauge
	views    prometheus.Gauge
	latency  *prometheus.HistogramVec
	queries  *prometheus.CounterVec
	failures *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "streamdash_dashboard_connected_clients",
			Help: "Browsers connected to the live update stream.",
		}),
		views: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "streamdash_dashboard_active_views",
			Help: "Views (the Tweets view and hashtag views) being polled.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streamdash_dashboard_query_duration_seconds",
			Help:    "Round-trip latency of panel queries to the analytics server.",
			Buckets: []float64{.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"panel"}),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamdash_dashboard_queries_total",
			Help: "Panel queries sent to the analytics server.",
		}, []string{"panel"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamdash_dashboard_query_failures_total",
			Help: "Panel queries that failed, by reason.",
		}, []string{"panel", "reason"}),
	}
	m.reg.MustRegister(m.clients, m.views, m.latency, m.queries, m.failures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(panel string, d time.Duration, err error) {
	m.queries.WithLabelValues(panel).Inc()
	m.latency.WithLabelValues(panel).Observe(d.Seconds())
	if err != nil {
		m.failures.WithLabelValues(panel, panels.Reason(err)).Inc()
	}
}
