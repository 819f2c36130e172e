package apikey_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/controllers/apikey"
	"github.com/streamdash/streamdash/test/apitest"
)

func TestEnsureCreatesOnceAndKeepsExistingKeys(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	env, err := apitest.Start(scheme)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nn := types.NamespacedName{Namespace: "default", Name: "analytics-apikey"}

	created, err := apikey.Ensure(ctx, c, nn, "apikey")
	if err != nil || !created {
		t.Fatalf("first Ensure = %v, %v; want created", created, err)
	}
	var s corev1.Secret
	if err := c.Get(ctx, nn, &s); err != nil {
		t.Fatal(err)
	}
	first := string(s.Data["apikey"])
	if len(first) < 40 {
		t.Fatalf("generated key has %d characters, want at least 40", len(first))
	}

	created, err = apikey.Ensure(ctx, c, nn, "apikey")
	if err != nil || created {
		t.Fatalf("second Ensure = %v, %v; want not created", created, err)
	}
	if err := c.Get(ctx, nn, &s); err != nil {
		t.Fatal(err)
	}
	if string(s.Data["apikey"]) != first {
		t.Fatal("Ensure replaced an existing key")
	}
}

func TestGenerateIsRandom(t *testing.T) {
	a, _ := apikey.Generate()
	b, _ := apikey.Generate()
	if a == b {
		t.Fatal("two generated keys are equal")
	}
}
