package jobs

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hilsearch/hilsearch/coordinator/internal/bus"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// metrics are the manager's Prometheus collectors (Manager.Collectors).
type metrics struct {
	heartbeats    prometheus.Counter
	hbRejected    *prometheus.CounterVec
	results       *prometheus.CounterVec
	lost          prometheus.Counter
	flushSeconds  prometheus.Histogram
	flushBatch    prometheus.Histogram
	resultBatch   prometheus.Histogram
	resultSeconds prometheus.Histogram
	limits        []prometheus.Collector
}

func newMetrics(lostAfter time.Duration) metrics {
	limit := func(name, help string, v float64) prometheus.Collector {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		g.Set(v)
		return g
	}
	return metrics{
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hil_heartbeats_total", Help: "Heartbeats accepted (queued for the next presence flush)."}),
		hbRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hil_heartbeats_rejected_total", Help: "Heartbeats dropped, by reason (too_large, invalid)."}, []string{"reason"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hil_results_total", Help: "Result messages consumed, by outcome (stored, ignored, refused, malformed, too_large, retry)."}, []string{"outcome"}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hil_jobs_device_lost_total", Help: "Jobs failed with device_lost."}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hil_presence_flush_seconds", Help: "Duration of one presence flush (one PostgreSQL transaction).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		flushBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hil_presence_flush_devices", Help: "Devices written by one presence flush.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
		resultBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hil_result_batch_results", Help: "Results stored by one transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 9)}),
		resultSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hil_result_batch_seconds", Help: "Duration of one result-batch transaction.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		limits: []prometheus.Collector{
			limit("hil_limit_result_batch", "Most results stored by one transaction.", bus.MaxResultBatch),
			limit("hil_limit_message_bytes", "Largest message the NATS server accepts from the application account (account JWT payload limit).", wire.MaxMessageBytes),
			limit("hil_limit_result_bytes", "Largest result message the coordinator stores.", wire.MaxResultBytes),
			limit("hil_limit_heartbeat_bytes", "Largest heartbeat message the coordinator accepts.", wire.MaxHeartbeatBytes),
			limit("hil_limit_device_lost_after_seconds", "Silence after which a device's unfinished jobs fail with device_lost.", lostAfter.Seconds()),
		},
	}
}

// Collectors are the manager's metrics, for the /metrics registry.
func (m *Manager) Collectors() []prometheus.Collector {
	return append([]prometheus.Collector{m.met.heartbeats, m.met.hbRejected, m.met.results, m.met.lost,
		m.met.flushSeconds, m.met.flushBatch, m.met.resultBatch, m.met.resultSeconds}, m.met.limits...)
}
