// Command manager runs streamdash's controllers: TwitterPipeline and LiveDashboard.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamdash/streamdash/api/v1alpha1"
)

func main() {
	var (
		metricsAddr, probeAddr string
		leaderElect            bool
		leaderElectionNS       string
		apiServer              string
		apiKeySecret           string
		apiKeySecretKey        string
		image                  string
		awsRegion              string
		resync                 time.Duration
		ingestCheck            time.Duration
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader so that only one replica reconciles")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "", "namespace of the leader-election lease (default: the pod's)")
	flag.StringVar(&apiServer, "rockset-api-server", "http://streamdash-analytics.streamdash-system.svc:8080",
		"default Rockset-API endpoint for pipelines that set no spec.rockset.apiServer")
	flag.StringVar(&apiKeySecret, "rockset-api-key-secret", "streamdash-system/streamdash-analytics-apikey",
		"namespace/name of the Secret holding the default API key")
	flag.StringVar(&apiKeySecretKey, "rockset-api-key-secret-key", "apikey", "key of the API key in that Secret")
	flag.StringVar(&image, "image", os.Getenv("STREAMDASH_IMAGE"), "image for producer and dashboard pods (env STREAMDASH_IMAGE)")
	flag.StringVar(&awsRegion, "aws-region", "", "AWS region for streams that set none (default: the SDK's configuration)")
	flag.DurationVar(&resync, "resync-period", 10*time.Minute, "how often every resource is re-checked for drift when nothing changed")
	flag.DurationVar(&ingestCheck, "ingest-check-interval", 30*time.Second,
		"how often each pipeline's collection is read for its document count and source state (status is written only on change)")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	if err := run(managerConfig{
		metricsAddr: metricsAddr, probeAddr: probeAddr, leaderElect: leaderElect, leaderElectionNS: leaderElectionNS,
		apiServer: apiServer, apiKeySecret: apiKeySecret, apiKeySecretKey: apiKeySecretKey,
		image: image, awsRegion: awsRegion, resync: resync, ingestCheck: ingestCheck,
	}); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

type managerConfig struct {
	metricsAddr, probeAddr string
	leaderElect            bool
	leaderElectionNS       string
	apiServer              string
	apiKeySecret           string
	apiKeySecretKey        string
	image                  string
	awsRegion              string
	resync                 time.Duration
	ingestCheck            time.Duration
}

func run(cfg managerConfig) error {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))

	keySecret, err := parseNamespacedName(cfg.apiKeySecret)
	if err != nil {
		return fmt.Errorf("--rockset-api-key-secret: %w", err)
	}

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: cfg.metricsAddr},
		HealthProbeBindAddress:  cfg.probeAddr,
		LeaderElection:          cfg.leaderElect,
		LeaderElectionID:        "streamdash.io",
		LeaderElectionNamespace: cfg.leaderElectionNS,
		// A cancelled context ends the lease at once, so a new leader takes over without waiting out the lease.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}

	if err := setupControllers(mgr, cfg, keySecret); err != nil {
		return err
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting manager", "rocksetAPIServer", cfg.apiServer, "region", cfg.awsRegion)
	return mgr.Start(ctrl.SetupSignalHandler())
}

func parseNamespacedName(s string) (types.NamespacedName, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" {
		return types.NamespacedName{}, fmt.Errorf("%q is not namespace/name", s)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}
