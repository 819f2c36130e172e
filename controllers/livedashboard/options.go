package livedashboard

import (
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/internal/panels"
)

// Options configure the LiveDashboard controller. cmd/manager fills them
// from its flags; zero values take the defaults below.
type Options struct {
	// Rockset are the operator-wide Rockset defaults: --rockset-api-server,
	// --rockset-api-key-secret, --rockset-api-key-secret-key.
	Rockset rocksetconn.Defaults

	// Image is the dashboard pods' image (--image / STREAMDASH_IMAGE). Required.
	Image string

	// MaxConcurrentReconciles bounds parallel reconciles (and so parallel
	// status refreshes against the analytics server). Default 4.
	MaxConcurrentReconciles int

	// HTTPClient reaches the Rockset-API servers. Default: a 15s-timeout client.
	HTTPClient *http.Client

	// QueryTimeout bounds one refresh's queries together. Default 10s.
	QueryTimeout time.Duration

	// Resources of the dashboard container. Default: requests 50m CPU and
	// 64Mi, limits 500m CPU and 256Mi.
	Resources *corev1.ResourceRequirements

	// NewQuerier builds the query client for a pipeline's connection.
	// Default: internal/rockset.NewClient. Tests replace it only to produce
	// failures a real server cannot (a hung server).
	NewQuerier func(conn rocksetconn.Connection) (panels.Querier, error)

	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Defaults used when Options leave a field empty.
const (
	DefaultMaxConcurrentReconciles = 4
	DefaultQueryTimeout            = 10 * time.Second
	defaultHTTPTimeout             = 15 * time.Second
)

func (o *Options) defaults() {
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = DefaultQueryTimeout
	}
	if o.Resources == nil {
		o.Resources = &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}
