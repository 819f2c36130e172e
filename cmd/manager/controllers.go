package main

import (
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/controllers/apikey"
)

// setupControllers registers the controllers that exist with the manager.
func setupControllers(mgr ctrl.Manager, cfg managerConfig, keySecret types.NamespacedName) error {
	// An uncached client: one Get at start does not justify watching every Secret.
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return err
	}
	if err := mgr.Add(&apikey.Ensurer{Client: direct, Secret: keySecret, Key: cfg.apiKeySecretKey}); err != nil {
		return err
	}
	return nil
}
