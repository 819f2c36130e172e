package twitterpipeline

import (
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/internal/kinesis"
	"github.com/streamdash/streamdash/internal/rockset"
)

// Options configure the TwitterPipeline controller. cmd/manager fills them
// from its flags; zero values take the defaults below.
type Options struct {
	// Rockset are the operator-wide Rockset defaults: --rockset-api-server,
	// --rockset-api-key-secret, --rockset-api-key-secret-key.
	Rockset rocksetconn.Defaults

	// Image is the producer image when a pipeline sets no spec.producer.image
	// (--image / STREAMDASH_IMAGE). Required.
	Image string

	// AWSRegion is the region of streams that set no spec.stream.region
	// (--aws-region). Default: AWSConfig's region.
	AWSRegion string

	// AWSConfig is the operator's AWS configuration (credentials chain,
	// endpoint overrides). Default: config.LoadDefaultConfig.
	AWSConfig *aws.Config

	// ProducerEnv are plain (non-secret) variables every producer pod gets.
	// Default: AWS_ENDPOINT_URL_KINESIS and AWS_ENDPOINT_URL from the
	// manager's own environment, when set. AWS_REGION is always the stream's region.
	ProducerEnv []corev1.EnvVar

	// ResyncPeriod is how often a pipeline with nothing changed is checked
	// for drift (--resync-period). Default 10m.
	ResyncPeriod time.Duration

	// IngestCheckInterval is how often every pipeline's collection is read
	// for its document count, last ingest time and source state
	// (--ingest-check-interval). The check is light: one collection read per
	// pipeline, a status patch only when a value changed (an idle pipeline
	// writes nothing), and a full reconcile only when the source failed or
	// recovered. Default 30s: status follows ingest, and a stopped ingest,
	// within 60s.
	IngestCheckInterval time.Duration

	// Clock paces the ingest check. Default: the real clock.
	Clock clock.WithTicker

	// MaxConcurrentReconciles bounds parallel reconciles. Default 8: a pass
	// mostly waits on AWS and the Rockset API, so more workers than cores
	// pay off (see TestScale).
	MaxConcurrentReconciles int

	// HTTPClient reaches Rockset-API servers. Default: a client with a 15s timeout.
	HTTPClient *http.Client

	// NewStreams and NewRockset replace the AWS and Rockset clients, for
	// tests that need failures a real server cannot produce. Default: the real clients.
	NewStreams func(region string, creds *kinesis.Credentials) kinesis.Streams
	NewRockset func(conn rocksetconn.Connection) (rockset.API, error)
}

// Defaults used when Options leave a field empty.
const (
	DefaultResyncPeriod            = 10 * time.Minute
	DefaultIngestCheckInterval     = 30 * time.Second
	DefaultMaxConcurrentReconciles = 8
	defaultRocksetTimeout          = 15 * time.Second
)

// passthroughEnv are the manager's own variables producers inherit: they
// point the SDK at a local or private Kinesis endpoint and are not secrets.
var passthroughEnv = []string{"AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL"}

func (o *Options) setDefaults() {
	if o.ResyncPeriod <= 0 {
		o.ResyncPeriod = DefaultResyncPeriod
	}
	if o.IngestCheckInterval <= 0 {
		o.IngestCheckInterval = DefaultIngestCheckInterval
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: defaultRocksetTimeout}
	}
	if o.ProducerEnv == nil {
		o.ProducerEnv = []corev1.EnvVar{}
		for _, name := range passthroughEnv {
			if v := os.Getenv(name); v != "" {
				o.ProducerEnv = append(o.ProducerEnv, corev1.EnvVar{Name: name, Value: v})
			}
		}
	}
	if o.AWSRegion == "" && o.AWSConfig != nil {
		o.AWSRegion = o.AWSConfig.Region
	}
}
