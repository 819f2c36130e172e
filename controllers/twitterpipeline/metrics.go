package twitterpipeline

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/streamdash/streamdash/api/v1alpha1"
)

// Per-pipeline gauges on controller-runtime's registry (served by the
// manager's metrics endpoint next to controller_runtime_reconcile_*).
var (
	documentsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "streamdash_twitterpipeline_documents",
		Help: "Documents in the pipeline's collection, as last read from the Rockset API.",
	}, []string{"namespace", "name"})
	readyGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "streamdash_twitterpipeline_ready",
		Help: "1 when the pipeline's Ready condition is True, else 0.",
	}, []string{"namespace", "name"})
	shardsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "streamdash_twitterpipeline_stream_open_shards",
		Help: "Open shards of the pipeline's Kinesis stream, as last observed.",
	}, []string{"namespace", "name"})
)

func init() {
	metrics.Registry.MustRegister(documentsGauge, readyGauge, shardsGauge)
}

func recordMetrics(p *v1alpha1.TwitterPipeline) {
	ready := 0.0
	for _, c := range p.Status.Conditions {
		if c.Type == v1alpha1.ConditionReady && c.Status == "True" {
			ready = 1
		}
	}
	readyGauge.WithLabelValues(p.Namespace, p.Name).Set(ready)
	if c := p.Status.Collection; c != nil {
		documentsGauge.WithLabelValues(p.Namespace, p.Name).Set(float64(c.DocumentCount))
	}
	if st := p.Status.Stream; st != nil {
		shardsGauge.WithLabelValues(p.Namespace, p.Name).Set(float64(st.OpenShards))
	}
}

func forgetMetrics(namespace, name string) {
	for _, g := range []*prometheus.GaugeVec{documentsGauge, readyGauge, shardsGauge} {
		g.DeleteLabelValues(namespace, name)
	}
	ingestChecks.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "name": name})
}
