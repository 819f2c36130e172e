package postqueue

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the producer's Prometheus metrics (prefix streamdash_producer_).
type Metrics struct {
	Read       *prometheus.CounterVec // by source: posts converted and offered to the queue
	Malformed  *prometheus.CounterVec // by source, reason: input skipped as malformed
	Dropped    *prometheus.CounterVec // by source: posts dropped because the queue was full
	Reconnects *prometheus.CounterVec // by source
	Written    prometheus.Counter     // records Kinesis acknowledged
	Failed     prometheus.Counter     // records given up on
	Retried    prometheus.Counter     // records sent again after a partial failure
	Throttled  prometheus.Counter     // records rejected with ProvisionedThroughputExceeded
	Batches    prometheus.Counter     // PutRecords calls
}

// NewMetrics creates the metrics and registers them with reg (may be nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "streamdash_producer_"
	m := &Metrics{
		Read:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "posts_read_total", Help: "Posts read from the source and converted to documents."}, []string{"source"}),
		Malformed:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "malformed_total", Help: "Input messages skipped because they were malformed."}, []string{"source", "reason"}),
		Dropped:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "posts_dropped_total", Help: "Posts dropped because the queue to the writer was full."}, []string{"source"}),
		Reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "reconnects_total", Help: "Source reconnections."}, []string{"source"}),
		Written:    prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "posts_written_total", Help: "Documents acknowledged by Kinesis."}),
		Failed:     prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "posts_failed_total", Help: "Documents that could not be written to Kinesis."}),
		Retried:    prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "records_retried_total", Help: "Records sent again after a partial PutRecords failure."}),
		Throttled:  prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "records_throttled_total", Help: "Records rejected with ProvisionedThroughputExceededException."}),
		Batches:    prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "put_records_requests_total", Help: "PutRecords requests sent."}),
	}
	if reg != nil {
		reg.MustRegister(m.Read, m.Malformed, m.Dropped, m.Reconnects, m.Written, m.Failed, m.Retried, m.Throttled, m.Batches)
	}
	return m
}
