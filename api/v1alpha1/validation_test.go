package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/test/apitest"
)

// These tests install the CRDs into a real kube-apiserver (envtest) and prove
// that admission accepts what it should, fills the defaults and rejects bad
// objects with a message a user understands.

var (
	k8s     client.Client
	testEnv *envtest.Environment
)

func TestMain(m *testing.M) {
	code, err := func() (int, error) {
		scheme := runtime.NewScheme()
		if err := v1alpha1.AddToScheme(scheme); err != nil {
			return 1, err
		}
		env, err := apitest.Start(scheme)
		if err != nil {
			return 1, err
		}
		testEnv = env
		defer env.Stop() //nolint:errcheck
		k8s, err = client.New(env.Config, client.Options{Scheme: scheme})
		if err != nil {
			return 1, err
		}
		return m.Run(), nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

var nameSeq int

func uniqueName(prefix string) string {
	nameSeq++
	return fmt.Sprintf("%s-%d", prefix, nameSeq)
}

func validPipeline() *v1alpha1.TwitterPipeline {
	return &v1alpha1.TwitterPipeline{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("tp"), Namespace: "default"},
		Spec: v1alpha1.TwitterPipelineSpec{
			Source: v1alpha1.SourceSpec{Replay: &v1alpha1.ReplaySource{Synthetic: &v1alpha1.SyntheticSource{Seed: 7}}},
		},
	}
}

func validDashboard() *v1alpha1.LiveDashboard {
	return &v1alpha1.LiveDashboard{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("ld"), Namespace: "default"},
		Spec:       v1alpha1.LiveDashboardSpec{PipelineRef: v1alpha1.LocalObjectReference{Name: "demo"}},
	}
}

func TestPipelineDefaults(t *testing.T) {
	ctx := context.Background()
	p := validPipeline()
	if err := k8s.Create(ctx, p); err != nil {
		t.Fatalf("valid pipeline rejected: %v", err)
	}
	got := &v1alpha1.TwitterPipeline{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(p), got); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"spec.stream.shardCount", got.Spec.Stream.ShardCount, int32(1)},
		{"spec.rockset.workspace", got.Spec.Rockset.Workspace, "commons"},
		{"spec.deletionPolicy", got.Spec.DeletionPolicy, v1alpha1.DeletionPolicyDelete},
		{"spec.producer.replicas", ptr.Deref(got.Spec.Producer.Replicas, -1), int32(1)},
		{"spec.source.replay.rate", got.Spec.Source.Replay.Rate, int32(10)},
		{"spec.source.replay.format", got.Spec.Source.Replay.Format, v1alpha1.ReplayFormat("auto")},
		{"spec.source.replay.rewriteTimestamps", ptr.Deref(got.Spec.Source.Replay.RewriteTimestamps, false), true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s defaulted to %v, want %v", c.field, c.got, c.want)
		}
	}
}

func TestDashboardDefaults(t *testing.T) {
	ctx := context.Background()
	d := validDashboard()
	if err := k8s.Create(ctx, d); err != nil {
		t.Fatalf("valid dashboard rejected: %v", err)
	}
	got := &v1alpha1.LiveDashboard{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(d), got); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"spec.window", got.Spec.Window.Duration, time.Hour},
		{"spec.topN", got.Spec.TopN, int32(8)},
		{"spec.refreshInterval", got.Spec.RefreshInterval.Duration, 30 * time.Second},
		{"spec.service.type", got.Spec.Service.Type, "ClusterIP"},
		{"spec.service.port", got.Spec.Service.Port, int32(80)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s defaulted to %v, want %v", c.field, c.got, c.want)
		}
	}
}

func TestSamplesAreAccepted(t *testing.T) {
	ctx := context.Background()
	for _, obj := range apitest.Samples(t, filepath.Join("..", "..", "config", "samples")) {
		obj.SetNamespace("default")
		obj.SetName(uniqueName("sample-" + obj.GetName()))
		if err := k8s.Create(ctx, obj); err != nil {
			t.Errorf("sample %s %s rejected: %v", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
		}
	}
}

func TestPipelineValidation(t *testing.T) {
	long := strings.Repeat("a", 101)
	cases := []struct {
		name    string
		mutate  func(*v1alpha1.TwitterPipeline)
		wantMsg string
	}{
		{"no source", func(p *v1alpha1.TwitterPipeline) { p.Spec.Source = v1alpha1.SourceSpec{} },
			"set exactly one source: x, bluesky or replay"},
		{"two sources", func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Source.Bluesky = &v1alpha1.BlueskySource{}
		}, "set exactly one source: x, bluesky or replay"},
		{"replay with nothing to replay", func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Source.Replay = &v1alpha1.ReplaySource{}
		}, "replay needs exactly one of configMapRef, file or synthetic"},
		{"x without rules", func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Source = v1alpha1.SourceSpec{X: &v1alpha1.XSource{
				BearerTokenSecretRef: v1alpha1.SecretKeyReference{Name: "x", Key: "token"}}}
		}, "spec.source.x.rules: Required value"},
		{"shardCount 0", func(p *v1alpha1.TwitterPipeline) { p.Spec.Stream.ShardCount = -1 },
			"spec.stream.shardCount: Invalid value: -1: spec.stream.shardCount in body should be greater than or equal to 1"},
		{"shardCount 10001", func(p *v1alpha1.TwitterPipeline) { p.Spec.Stream.ShardCount = 10001 },
			"spec.stream.shardCount in body should be less than or equal to 10000"},
		{"stream name Kinesis refuses", func(p *v1alpha1.TwitterPipeline) { p.Spec.Stream.Name = "my stream!" },
			"spec.stream.name in body should match '^[a-zA-Z0-9_.-]+$'"},
		{"collection name Rockset refuses", func(p *v1alpha1.TwitterPipeline) { p.Spec.Rockset.Collection = "-tweets" },
			"spec.rockset.collection in body should match '^[[:alnum:]][[:alnum:]_-]*$'"},
		{"collection name too long", func(p *v1alpha1.TwitterPipeline) { p.Spec.Rockset.Collection = long },
			"spec.rockset.collection: Too long: may not be more than 100 bytes"},
		{"workspace name Rockset refuses", func(p *v1alpha1.TwitterPipeline) { p.Spec.Rockset.Workspace = "my.ws" },
			"spec.rockset.workspace in body should match '^[[:alnum:]][[:alnum:]_-]*$'"},
		{"retention under an hour", func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Rockset.Retention = &metav1.Duration{Duration: 30 * time.Minute}
		}, "rockset.retention must be at least 1h"},
		{"ingest transformation without _input", func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Rockset.IngestTransformation = "SELECT * FROM tweets"
		}, "rockset.ingestTransformation must select FROM _input"},
		{"both credentials and role", func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Stream.CredentialsSecretRef = &v1alpha1.LocalObjectReference{Name: "aws"}
			p.Spec.Stream.RoleARN = "arn:aws:iam::123456789012:role/reader"
		}, "set at most one of stream.credentialsSecretRef and stream.roleARN"},
		{"unknown deletion policy", func(p *v1alpha1.TwitterPipeline) { p.Spec.DeletionPolicy = "Orphan" },
			`spec.deletionPolicy: Unsupported value: "Orphan": supported values: "Delete", "Retain"`},
		{"producer replicas 2", func(p *v1alpha1.TwitterPipeline) { p.Spec.Producer.Replicas = ptr.To[int32](2) },
			"spec.producer.replicas in body should be less than or equal to 1"},
		{"name too long for a label value", func(p *v1alpha1.TwitterPipeline) { p.Name = strings.Repeat("p", 64) },
			"metadata.name must be at most 63 characters"},
		{"unknown adoption policy", func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Adoption = &v1alpha1.AdoptionSpec{Policy: "Always"}
		}, `spec.adoption.policy: Unsupported value: "Always": supported values: "Never", "Adopt"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := validPipeline()
			tc.mutate(p)
			expectRejected(t, k8s.Create(context.Background(), p), tc.wantMsg)
		})
	}
}

func TestDashboardValidation(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*v1alpha1.LiveDashboard)
		wantMsg string
	}{
		{"topN 0", func(d *v1alpha1.LiveDashboard) { d.Spec.TopN = -1 },
			"spec.topN in body should be greater than or equal to 1"},
		{"topN 21", func(d *v1alpha1.LiveDashboard) { d.Spec.TopN = 21 },
			"spec.topN in body should be less than or equal to 20"},
		{"refreshInterval 5s", func(d *v1alpha1.LiveDashboard) { d.Spec.RefreshInterval = &metav1.Duration{Duration: 5 * time.Second} },
			"refreshInterval must be at least 10s"},
		{"window 10s", func(d *v1alpha1.LiveDashboard) { d.Spec.Window = &metav1.Duration{Duration: 10 * time.Second} },
			"window must be between 1m and 720h"},
		{"hashtag with #", func(d *v1alpha1.LiveDashboard) { d.Spec.Hashtag = "#music" },
			"hashtag is written without the leading #"},
		{"hashtag with space", func(d *v1alpha1.LiveDashboard) { d.Spec.Hashtag = "live music" },
			"hashtag cannot contain whitespace"},
		{"no pipeline", func(d *v1alpha1.LiveDashboard) { d.Spec.PipelineRef.Name = "" },
			"spec.pipelineRef.name in body should be at least 1 chars long"},
		{"service type", func(d *v1alpha1.LiveDashboard) { d.Spec.Service.Type = "ExternalName" },
			`spec.service.type: Unsupported value: "ExternalName"`},
		{"name too long for its Service", func(d *v1alpha1.LiveDashboard) { d.Name = strings.Repeat("d", 54) },
			"metadata.name must be at most 53 characters"},
		{"name a Service cannot have", func(d *v1alpha1.LiveDashboard) { d.Name = "1st.dashboard" },
			"metadata.name must start with a letter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := validDashboard()
			tc.mutate(d)
			expectRejected(t, k8s.Create(context.Background(), d), tc.wantMsg)
		})
	}
}

func TestImmutableFields(t *testing.T) {
	cases := []struct {
		name    string
		initial func(*v1alpha1.TwitterPipeline)
		change  func(*v1alpha1.TwitterPipeline)
		wantMsg string
	}{
		{"stream name", func(p *v1alpha1.TwitterPipeline) { p.Spec.Stream.Name = "tweets-a" },
			func(p *v1alpha1.TwitterPipeline) { p.Spec.Stream.Name = "tweets-b" }, "stream.name cannot change after creation"},
		{"stream name set later", func(*v1alpha1.TwitterPipeline) {},
			func(p *v1alpha1.TwitterPipeline) { p.Spec.Stream.Name = "tweets-b" }, "stream.name cannot change after creation"},
		{"stream region", func(p *v1alpha1.TwitterPipeline) { p.Spec.Stream.Region = "us-east-1" },
			func(p *v1alpha1.TwitterPipeline) { p.Spec.Stream.Region = "eu-west-1" }, "stream.region cannot change after creation"},
		{"collection", func(p *v1alpha1.TwitterPipeline) { p.Spec.Rockset.Collection = "tweets" },
			func(p *v1alpha1.TwitterPipeline) { p.Spec.Rockset.Collection = "tweets2" }, "rockset.collection cannot change after creation"},
		{"collection removed", func(p *v1alpha1.TwitterPipeline) { p.Spec.Rockset.Collection = "tweets" },
			func(p *v1alpha1.TwitterPipeline) { p.Spec.Rockset.Collection = "" }, "rockset.collection cannot change after creation"},
		{"retention", func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Rockset.Retention = &metav1.Duration{Duration: 24 * time.Hour}
		},
			func(p *v1alpha1.TwitterPipeline) {
				p.Spec.Rockset.Retention = &metav1.Duration{Duration: 48 * time.Hour}
			},
			"rockset.retention cannot change after creation"},
		{"workspace", func(*v1alpha1.TwitterPipeline) {},
			func(p *v1alpha1.TwitterPipeline) { p.Spec.Rockset.Workspace = "other" }, "rockset.workspace cannot change after creation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p := validPipeline()
			tc.initial(p)
			if err := k8s.Create(ctx, p); err != nil {
				t.Fatalf("create: %v", err)
			}
			tc.change(p)
			expectRejected(t, k8s.Update(ctx, p), tc.wantMsg)
		})
	}

	t.Run("mutable fields still change", func(t *testing.T) {
		ctx := context.Background()
		p := validPipeline()
		p.Spec.Stream.Name = "tweets-mutable"
		if err := k8s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		p.Spec.Stream.ShardCount = 4
		p.Spec.Producer.Replicas = ptr.To[int32](0)
		p.Spec.Rockset.IngestTransformation = "SELECT * EXCEPT (text) FROM _input"
		if err := k8s.Update(ctx, p); err != nil {
			t.Fatalf("update of mutable fields rejected: %v", err)
		}
	})
}

func expectRejected(t *testing.T, err error, wantMsg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want rejection with %q", wantMsg)
	}
	if !strings.Contains(err.Error(), wantMsg) {
		t.Fatalf("rejected with\n  %v\nwant the message to contain\n  %s", err, wantMsg)
	}
}

// TestLongestNamesAccepted: the name rules reject only what would fail
// later; the longest allowed names are accepted and every object they name
// fits (the producer's label value, the dashboard's Service).
func TestLongestNamesAccepted(t *testing.T) {
	p := validPipeline()
	p.Name = strings.Repeat("p", 63)
	if err := k8s.Create(context.Background(), p); err != nil {
		t.Errorf("63-character pipeline name rejected: %v", err)
	}
	d := validDashboard()
	d.Name = "d" + strings.Repeat("-x", 26)
	if err := k8s.Create(context.Background(), d); err != nil {
		t.Errorf("53-character dashboard name rejected: %v", err)
	}
	if n := len(d.Name + "-dashboard"); n != 63 {
		t.Errorf("the longest dashboard's Service name has %d characters, want 63", n)
	}
}
