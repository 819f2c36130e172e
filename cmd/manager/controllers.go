package main

import (
	"context"
	"errors"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/controllers/apikey"
	"github.com/streamdash/streamdash/controllers/livedashboard"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/controllers/twitterpipeline"
)

// setupControllers registers the API-key bootstrap and both controllers.
func setupControllers(mgr ctrl.Manager, cfg managerConfig, keySecret types.NamespacedName) error {
	if cfg.image == "" {
		return errors.New("--image (or STREAMDASH_IMAGE) is required: producers and dashboards run it")
	}
	// An uncached client: one Get at start does not justify watching every Secret.
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return err
	}
	if err := mgr.Add(&apikey.Ensurer{Client: direct, Secret: keySecret, Key: cfg.apiKeySecretKey}); err != nil {
		return err
	}

	rockset := rocksetconn.Defaults{APIServer: cfg.apiServer, APIKeySecret: keySecret, APIKeySecretKey: cfg.apiKeySecretKey}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		return err
	}
	if err := twitterpipeline.SetupWithManager(mgr, twitterpipeline.Options{
		Rockset:      rockset,
		Image:        cfg.image,
		AWSRegion:    cfg.awsRegion,
		AWSConfig:    &awsCfg,
		ResyncPeriod: cfg.resync,

		IngestCheckInterval: cfg.ingestCheck,
	}); err != nil {
		return err
	}
	return livedashboard.SetupWithManager(mgr, livedashboard.Options{Rockset: rockset, Image: cfg.image})
}
