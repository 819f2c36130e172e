package rocksetconn

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/secrets"
)

func pipeline(ns, name string, mutate ...func(*v1alpha1.TwitterPipeline)) *v1alpha1.TwitterPipeline {
	p := &v1alpha1.TwitterPipeline{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func secret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func TestResolve(t *testing.T) {
	defaults := Defaults{
		APIServer:       "http://analytics.streamdash-system.svc:8080",
		APIKeySecret:    types.NamespacedName{Namespace: "streamdash-system", Name: "streamdash-analytics-apikey"},
		APIKeySecretKey: "apikey",
	}
	operatorKey := secret("streamdash-system", "streamdash-analytics-apikey", map[string]string{"apikey": "op-key\n"})
	userKey := secret("team", "my-key", map[string]string{"token": "user-key"})

	tests := []struct {
		name     string
		p        *v1alpha1.TwitterPipeline
		defaults Defaults
		objects  []*corev1.Secret
		// want is the resolved connection when wantErr is empty.
		want Connection
		// wantMissing says the error must satisfy IsMissingSecret.
		wantMissing bool
		// wantErr is a substring of the error; empty means success.
		wantErr string
		// wantNotConfigured says the error must wrap ErrNotConfigured.
		wantNotConfigured bool
	}{
		{
			name:     "operator defaults: key from the operator Secret",
			p:        pipeline("team", "demo"),
			defaults: defaults,
			objects:  []*corev1.Secret{operatorKey},
			want: Connection{
				APIServer: defaults.APIServer,
				APIKey:    "op-key",
			},
		},
		{
			name: "pipeline's own server and Secret win",
			p: pipeline("team", "demo", func(p *v1alpha1.TwitterPipeline) {
				p.Spec.Rockset.APIServer = "https://api.example.com"
				p.Spec.Rockset.APIKeySecretRef = &v1alpha1.SecretKeyReference{Name: "my-key", Key: "token"}
			}),
			defaults: defaults,
			objects:  []*corev1.Secret{operatorKey, userKey},
			want: Connection{
				APIServer: "https://api.example.com",
				APIKey:    "user-key",
			},
		},
		{
			name: "pipeline's Secret missing",
			p: pipeline("team", "demo", func(p *v1alpha1.TwitterPipeline) {
				p.Spec.Rockset.APIKeySecretRef = &v1alpha1.SecretKeyReference{Name: "absent", Key: "token"}
			}),
			defaults:    defaults,
			objects:     []*corev1.Secret{operatorKey},
			wantMissing: true,
			wantErr:     "Secret team/absent not found",
		},
		{
			name: "pipeline's Secret lacks the key",
			p: pipeline("team", "demo", func(p *v1alpha1.TwitterPipeline) {
				p.Spec.Rockset.APIKeySecretRef = &v1alpha1.SecretKeyReference{Name: "my-key", Key: "apikey"}
			}),
			defaults:    defaults,
			objects:     []*corev1.Secret{userKey},
			wantMissing: true,
			wantErr:     `Secret team/my-key has no key "apikey"`,
		},
		{
			name:        "operator Secret missing",
			p:           pipeline("team", "demo"),
			defaults:    defaults,
			wantMissing: true,
			wantErr:     "Secret streamdash-system/streamdash-analytics-apikey not found",
		},
		{
			name:     "operator Secret with an empty value counts as missing",
			p:        pipeline("team", "demo"),
			defaults: defaults,
			objects: []*corev1.Secret{
				secret("streamdash-system", "streamdash-analytics-apikey", map[string]string{"apikey": "  "}),
			},
			wantMissing: true,
			wantErr:     "has no key",
		},
		{
			name:              "no server anywhere",
			p:                 pipeline("team", "demo"),
			defaults:          Defaults{APIKeySecret: defaults.APIKeySecret, APIKeySecretKey: "apikey"},
			objects:           []*corev1.Secret{operatorKey},
			wantErr:           "no Rockset API server",
			wantNotConfigured: true,
		},
		{
			name:              "no key configured anywhere",
			p:                 pipeline("team", "demo"),
			defaults:          Defaults{APIServer: defaults.APIServer},
			wantErr:           "no Rockset API key",
			wantNotConfigured: true,
		},
		{
			name: "empty default key name means apikey",
			p:    pipeline("team", "demo"),
			defaults: Defaults{
				APIServer:    defaults.APIServer,
				APIKeySecret: defaults.APIKeySecret,
			},
			objects: []*corev1.Secret{operatorKey},
			want: Connection{
				APIServer: defaults.APIServer,
				APIKey:    "op-key",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scheme := runtime.NewScheme()
			if err := clientgoscheme.AddToScheme(scheme); err != nil {
				t.Fatal(err)
			}
			b := fake.NewClientBuilder().WithScheme(scheme)
			for _, s := range tc.objects {
				b = b.WithObjects(s.DeepCopy())
			}
			got, err := Resolve(context.Background(), b.Build(), tc.p, tc.defaults)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Resolve() = %+v, want error containing %q", got, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not contain %q", err, tc.wantErr)
				}
				if errors.Is(err, ErrNotConfigured) != tc.wantNotConfigured {
					t.Errorf("errors.Is(%v, ErrNotConfigured) = %v, want %v", err, !tc.wantNotConfigured, tc.wantNotConfigured)
				}
				if secrets.IsMissing(err) != tc.wantMissing {
					t.Errorf("secrets.IsMissing(%v) = %v, want %v", err, !tc.wantMissing, tc.wantMissing)
				}
				for _, s := range tc.objects {
					for _, v := range s.Data {
						if strings.TrimSpace(string(v)) != "" && strings.Contains(err.Error(), strings.TrimSpace(string(v))) {
							t.Errorf("error %q leaks a secret value", err)
						}
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(): %v", err)
			}
			if got != tc.want {
				t.Errorf("Resolve() = %+v, want %+v", got, tc.want)
			}
		})
	}
}
