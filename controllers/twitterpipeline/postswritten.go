package twitterpipeline

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=list

// postsWrittenMetric is the producer's counter of posts Kinesis accepted.
const postsWrittenMetric = "streamdash_producer_posts_written_total"

// postsWritten sums the producer pods' posts-written counters, read from
// their /metrics. It answers false when any running pod cannot be read (a
// network policy, a pod just starting): status then keeps its last value
// rather than report a smaller one.
//
// The pods are listed uncached, by the Deployment's selector: one call per
// pass does not justify watching every pod of the cluster.
func (r *Reconciler) postsWritten(ctx context.Context, d *appsv1.Deployment) (int64, bool) {
	if r.uncached == nil || d.Spec.Selector == nil {
		return 0, false
	}
	var pods corev1.PodList
	if err := r.uncached.List(ctx, &pods, client.InNamespace(d.Namespace), client.MatchingLabels(d.Spec.Selector.MatchLabels)); err != nil {
		return 0, false
	}
	var total int64
	for _, pod := range pods.Items {
		if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
			continue
		}
		n, err := scrapeCounter(ctx, r.opts.HTTPClient,
			"http://"+net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(producerPort))+"/metrics", postsWrittenMetric)
		if err != nil {
			return 0, false
		}
		total += n
	}
	return total, true
}

// scrapeCounter reads one counter (summed over its label sets) from a
// Prometheus text endpoint.
func scrapeCounter(ctx context.Context, hc *http.Client, url, name string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", url, err)
	}
	mf, ok := families[name]
	if !ok {
		return 0, fmt.Errorf("%s has no %s", url, name)
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return int64(sum), nil
}
