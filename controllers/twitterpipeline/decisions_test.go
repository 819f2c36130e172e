package twitterpipeline

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/status"
	"github.com/streamdash/streamdash/internal/producer"
	"github.com/streamdash/streamdash/internal/producer/xstream"
	"github.com/streamdash/streamdash/internal/tweet"
)

func newPipeline(mutate ...func(*v1alpha1.TwitterPipeline)) *v1alpha1.TwitterPipeline {
	p := &v1alpha1.TwitterPipeline{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "demo", Generation: 1},
		Spec: v1alpha1.TwitterPipelineSpec{
			Source: v1alpha1.SourceSpec{Replay: &v1alpha1.ReplaySource{Synthetic: &v1alpha1.SyntheticSource{Seed: 7}, Rate: 20}},
			Stream: v1alpha1.StreamSpec{ShardCount: 1},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name          string
		p             *v1alpha1.TwitterPipeline
		defaultRegion string
		// wantErr is a substring of the error; empty means valid.
		wantErr string
	}{
		{name: "synthetic replay is valid", p: newPipeline(), defaultRegion: "us-east-1"},
		{name: "no source", p: newPipeline(func(p *v1alpha1.TwitterPipeline) { p.Spec.Source = v1alpha1.SourceSpec{} }),
			defaultRegion: "us-east-1", wantErr: "exactly one of x, bluesky or replay"},
		{name: "two sources", p: newPipeline(func(p *v1alpha1.TwitterPipeline) { p.Spec.Source.Bluesky = &v1alpha1.BlueskySource{} }),
			defaultRegion: "us-east-1", wantErr: "exactly one of x, bluesky or replay"},
		{name: "replay with two inputs", p: newPipeline(func(p *v1alpha1.TwitterPipeline) { p.Spec.Source.Replay.File = "/x" }),
			defaultRegion: "us-east-1", wantErr: "configMapRef, file or synthetic"},
		{name: "x without rules", p: newPipeline(func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Source = v1alpha1.SourceSpec{X: &v1alpha1.XSource{BearerTokenSecretRef: v1alpha1.SecretKeyReference{Name: "t", Key: "k"}}}
		}), defaultRegion: "us-east-1", wantErr: "at least one rule"},
		{name: "retention out of range", p: newPipeline(func(p *v1alpha1.TwitterPipeline) { p.Spec.Stream.RetentionHours = 12 }),
			defaultRegion: "us-east-1", wantErr: "retentionHours"},
		{name: "no region anywhere", p: newPipeline(), wantErr: "region"},
		{name: "region from spec suffices", p: newPipeline(func(p *v1alpha1.TwitterPipeline) { p.Spec.Stream.Region = "eu-west-1" })},
		{name: "short collection retention", p: newPipeline(func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Rockset.Retention = &metav1.Duration{Duration: time.Minute}
		}), defaultRegion: "us-east-1", wantErr: "shorter than 1h"},
		{name: "transformation not over _input", p: newPipeline(func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Rockset.IngestTransformation = "SELECT 1"
		}), defaultRegion: "us-east-1", wantErr: "_input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := validate(tc.p, tc.defaultRegion)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("validate() = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestProducerArgs decodes the pod's arguments the way the producer does
// (producer.ParseArgs) and checks what the producer will run with.
func TestProducerArgs(t *testing.T) {
	tests := []struct {
		name string
		p    *v1alpha1.TwitterPipeline
		// want checks the decoded configuration.
		want func(t *testing.T, c producer.Config)
	}{
		{
			name: "synthetic",
			p:    newPipeline(func(p *v1alpha1.TwitterPipeline) { p.Spec.Source.Replay.Synthetic.Count = 500 }),
			want: func(t *testing.T, c producer.Config) {
				if c.Stream != "s" || c.Listen != "$(POD_IP):8081" || c.Source != producer.SourceReplay || c.Replay.Rate != 20 ||
					c.Replay.Seed != 7 || c.Replay.Count != 500 || !c.Replay.RewriteTimestamps || c.Replay.Loop || c.Replay.File != "" {
					t.Errorf("config %+v", c)
				}
			},
		},
		{
			name: "configmap replay",
			p: newPipeline(func(p *v1alpha1.TwitterPipeline) {
				f := false
				p.Spec.Source.Replay = &v1alpha1.ReplaySource{
					ConfigMapRef: &v1alpha1.ConfigMapKeyReference{Name: "posts", Key: "tweets.ndjson"},
					Format:       "v1.1", Rate: 5, Loop: true, RewriteTimestamps: &f,
				}
			}),
			want: func(t *testing.T, c producer.Config) {
				if c.Replay.File != "/etc/streamdash/replay/tweets.ndjson" || c.Replay.Format != tweet.FormatV11 || c.Replay.Rate != 5 ||
					!c.Replay.Loop || c.Replay.RewriteTimestamps {
					t.Errorf("replay config %+v", c.Replay)
				}
			},
		},
		{
			name: "x: rules, this pipeline's tag prefix, and a $ kept as written",
			p: newPipeline(func(p *v1alpha1.TwitterPipeline) {
				p.Spec.Source = v1alpha1.SourceSpec{X: &v1alpha1.XSource{
					BearerTokenSecretRef: v1alpha1.SecretKeyReference{Name: "x", Key: "token"},
					Rules:                []v1alpha1.XRule{{Value: "music has:hashtags", Tag: "music"}, {Value: "$(HOME) money"}},
					Endpoint:             "http://127.0.0.1:9999",
				}}
			}),
			want: func(t *testing.T, c producer.Config) {
				want := []xstream.Rule{{Value: "music has:hashtags", Tag: "music"}, {Value: "$(HOME) money"}}
				if c.Source != producer.SourceX || !slices.Equal(c.XRules, want) || c.XEndpoint != "http://127.0.0.1:9999" {
					t.Errorf("x config %+v", c)
				}
				if c.RulesTagPrefix != "streamdash/team/demo:" {
					t.Errorf("rules tag prefix %q, want this pipeline's", c.RulesTagPrefix)
				}
			},
		},
		{
			name: "bluesky",
			p: newPipeline(func(p *v1alpha1.TwitterPipeline) {
				p.Spec.Source = v1alpha1.SourceSpec{Bluesky: &v1alpha1.BlueskySource{
					Endpoint: "ws://127.0.0.1:1/subscribe", Languages: []string{"en", "fr"}, Keywords: []string{"music"},
				}}
			}),
			want: func(t *testing.T, c producer.Config) {
				if c.Source != producer.SourceBluesky || c.JetstreamURL != "ws://127.0.0.1:1/subscribe" ||
					!slices.Equal(c.BlueskyLangs, []string{"en", "fr"}) || !slices.Equal(c.BlueskyKeywords, []string{"music"}) {
					t.Errorf("bluesky config %+v", c)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args, err := producerArgs(tc.p, "s")
			if err != nil {
				t.Fatal(err)
			}
			c, err := producer.ParseArgs(kubeletExpand(args), io.Discard)
			if err != nil {
				t.Fatalf("the producer refuses %q: %v", args, err)
			}
			tc.want(t, c)
		})
	}
}

// kubeletExpand undoes the kubelet's escaping of $$ (no variables are
// expanded: $(POD_IP) stays as written).
func kubeletExpand(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, "$$", "$")
	}
	return out
}

func TestProducerArgsRefuseWhatCannotTravel(t *testing.T) {
	p := newPipeline(func(p *v1alpha1.TwitterPipeline) {
		p.Spec.Source = v1alpha1.SourceSpec{Bluesky: &v1alpha1.BlueskySource{Keywords: []string{"a,b"}}}
	})
	if _, err := producerArgs(p, "s"); err == nil {
		t.Error("a keyword with a comma was encoded; the producer would read two keywords")
	}
}

func testReconciler() *Reconciler {
	o := Options{Image: "streamdash:test", AWSRegion: "us-east-1",
		ProducerEnv: []corev1.EnvVar{{Name: "AWS_ENDPOINT_URL_KINESIS", Value: "http://127.0.0.1:4567"}, {Name: "AWS_REGION", Value: "ignored"}}}
	o.setDefaults()
	return &Reconciler{opts: o}
}

func TestProducerPodTemplate(t *testing.T) {
	r := testReconciler()
	p := newPipeline(func(p *v1alpha1.TwitterPipeline) {
		p.Spec.Stream.CredentialsSecretRef = &v1alpha1.LocalObjectReference{Name: "aws"}
		p.Spec.Source = v1alpha1.SourceSpec{X: &v1alpha1.XSource{
			BearerTokenSecretRef: v1alpha1.SecretKeyReference{Name: "x", Key: "token"},
			Rules:                []v1alpha1.XRule{{Value: "a"}},
		}}
	})
	tpl, err := r.producerPodTemplate(p, "s", "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	ps := tpl.Spec
	if ps.SecurityContext == nil || !ptr.Deref(ps.SecurityContext.RunAsNonRoot, false) || ptr.Deref(ps.SecurityContext.RunAsUser, 0) != 65532 ||
		ps.SecurityContext.SeccompProfile == nil || ps.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context not hardened: %+v", ps.SecurityContext)
	}
	c := ps.Containers[0]
	sc := c.SecurityContext
	if sc == nil || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) || ptr.Deref(sc.AllowPrivilegeEscalation, true) ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context not hardened: %+v", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources lack requests or limits: %+v", c.Resources)
	}
	if !slices.Equal(c.Command, []string{"producer"}) || c.Image != "streamdash:test" {
		t.Errorf("command %q image %q", c.Command, c.Image)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/healthz" ||
		c.ReadinessProbe.HTTPGet.Port.StrVal != "metrics" {
		t.Errorf("readiness probe %+v", c.ReadinessProbe)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("env %s twice", e.Name)
		}
		env[e.Name] = e
	}
	if e := env["POD_IP"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Errorf("POD_IP = %+v", e)
	}
	if env["AWS_REGION"].Value != "eu-west-1" {
		t.Errorf("AWS_REGION = %q, want the stream's region", env["AWS_REGION"].Value)
	}
	if env["AWS_ENDPOINT_URL_KINESIS"].Value != "http://127.0.0.1:4567" {
		t.Errorf("endpoint override not passed through: %+v", env["AWS_ENDPOINT_URL_KINESIS"])
	}
	for name, ref := range map[string][2]string{
		"AWS_ACCESS_KEY_ID": {"aws", "AWS_ACCESS_KEY_ID"}, "AWS_SECRET_ACCESS_KEY": {"aws", "AWS_SECRET_ACCESS_KEY"}, "X_BEARER_TOKEN": {"x", "token"},
	} {
		e := env[name]
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name != ref[0] || e.ValueFrom.SecretKeyRef.Key != ref[1] {
			t.Errorf("%s = %+v, want a secretKeyRef to %s/%s", name, e, ref[0], ref[1])
		}
	}
	if ptr.Deref(ps.AutomountServiceAccountToken, true) {
		t.Error("the producer gets a service account token it never uses")
	}
}

func mustProducer(t *testing.T, r *Reconciler, p *v1alpha1.TwitterPipeline, inputs string) *appsv1.Deployment {
	t.Helper()
	d, err := r.desiredProducer(p, "s", "us-east-1", inputs)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTemplateHashFollowsInputs(t *testing.T) {
	r := testReconciler()
	hash := func(d *appsv1.Deployment) string { return d.Annotations[templateHashAnnotation] }
	base := mustProducer(t, r, newPipeline(), "c1")
	tests := []struct {
		name string
		d    *appsv1.Deployment
		// wantRoll: the pod template (and so its hash) changes.
		wantRoll bool
	}{
		{name: "the same pipeline", d: mustProducer(t, r, newPipeline(), "c1"), wantRoll: false},
		{name: "a changed rate", d: mustProducer(t, r, newPipeline(func(p *v1alpha1.TwitterPipeline) { p.Spec.Source.Replay.Rate = 99 }), "c1"), wantRoll: true},
		{name: "a rotated Secret (new inputs checksum)", d: mustProducer(t, r, newPipeline(), "c2"), wantRoll: true},
		{name: "pausing is not a roll", d: mustProducer(t, r, newPipeline(func(p *v1alpha1.TwitterPipeline) { p.Spec.Producer.Replicas = ptr.To(int32(0)) }), "c1"), wantRoll: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if rolled := hash(tc.d) != hash(base); rolled != tc.wantRoll {
				t.Errorf("hash changed = %v, want %v", rolled, tc.wantRoll)
			}
			if tc.d.Spec.Template.Annotations[templateHashAnnotation] != hash(tc.d) {
				t.Errorf("pod template annotation %q differs from the Deployment's %q", tc.d.Spec.Template.Annotations[templateHashAnnotation], hash(tc.d))
			}
		})
	}
	if got := base.Spec.Template.Annotations[inputsChecksumAnnotation]; got != "c1" {
		t.Errorf("inputs checksum annotation = %q, want c1", got)
	}
}

func TestInputsChecksum(t *testing.T) {
	sum := func(adds ...[4]string) string {
		var c inputsChecksum
		for _, a := range adds {
			c.add(a[0], a[1], a[2], []byte(a[3]))
		}
		return c.sum()
	}
	key := [4]string{"Secret", "aws", "AWS_SECRET_ACCESS_KEY", "old-secret"}
	rotated := [4]string{"Secret", "aws", "AWS_SECRET_ACCESS_KEY", "new-secret"}
	if sum() != "" {
		t.Error("no inputs should give no checksum (no annotation)")
	}
	if sum(key) == sum(rotated) {
		t.Error("a rotated value keeps the checksum: the producer would not roll")
	}
	if sum(key) != sum(key) {
		t.Error("the same value gives two checksums: the producer would roll on every pass")
	}
	if strings.Contains(sum(key), "old-secret") {
		t.Error("the checksum carries the value")
	}
}

func TestProducerDrifted(t *testing.T) {
	r := testReconciler()
	desired := mustProducer(t, r, newPipeline(), "c1")
	// stored is what the API server gives back: defaults filled in.
	stored := func(mutate func(d *appsv1.Deployment)) *appsv1.Deployment {
		d := desired.DeepCopy()
		d.Spec.RevisionHistoryLimit = ptr.To(int32(10))
		d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		d.Spec.Template.Spec.Containers[0].TerminationMessagePath = "/dev/termination-log"
		d.Spec.Template.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
		if mutate != nil {
			mutate(d)
		}
		return d
	}
	tests := []struct {
		name     string
		existing *appsv1.Deployment
		want     bool
	}{
		{name: "server defaults are not drift", existing: stored(nil), want: false},
		{name: "different hash", existing: stored(func(d *appsv1.Deployment) { d.Annotations[templateHashAnnotation] = "old" }), want: true},
		{name: "replicas changed by hand", existing: stored(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(0)) }), want: true},
		{name: "args edited by hand", existing: stored(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Args = []string{"--rate=1"} }), want: true},
		{name: "image edited by hand", existing: stored(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "other" }), want: true},
		{name: "label removed", existing: stored(func(d *appsv1.Deployment) { delete(d.Labels, labelPipeline) }), want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := producerDrifted(tc.existing, desired); got != tc.want {
				t.Errorf("producerDrifted() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestProducerState(t *testing.T) {
	dep := func(replicas int32, gen, observed int64, available bool, availableReplicas int32, mutate ...func(*appsv1.Deployment)) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "demo-producer", Generation: gen}}
		d.Spec.Replicas = ptr.To(replicas)
		d.Status.ObservedGeneration = observed
		d.Status.UpdatedReplicas, d.Status.AvailableReplicas, d.Status.Replicas = availableReplicas, availableReplicas, availableReplicas
		if available {
			d.Status.Conditions = append(d.Status.Conditions, appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue})
		}
		for _, m := range mutate {
			m(d)
		}
		return d
	}
	tests := []struct {
		name       string
		d          *appsv1.Deployment
		wantReady  bool
		wantReason string
	}{
		{name: "new, nothing observed", d: dep(1, 1, 0, false, 0), wantReason: ReasonProducerProgressing},
		{name: "available", d: dep(1, 2, 2, true, 1), wantReady: true, wantReason: ReasonProducerAvailable},
		{name: "available but the new generation is not rolled", d: dep(1, 3, 2, true, 1), wantReason: ReasonProducerProgressing},
		{name: "paused and scaled down", d: dep(0, 2, 2, false, 0), wantReady: true, wantReason: ReasonProducerPaused},
		{name: "pausing", d: dep(0, 2, 1, true, 1), wantReason: ReasonProducerProgressing},
		{name: "deadline exceeded", d: dep(1, 1, 1, false, 0, func(d *appsv1.Deployment) {
			d.Status.Conditions = append(d.Status.Conditions, appsv1.DeploymentCondition{
				Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "timed out"})
		}), wantReason: ReasonProducerFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ready, reason, _ := producerState(tc.d)
			if ready != tc.wantReady || reason != tc.wantReason {
				t.Errorf("producerState() = %v %s, want %v %s", ready, reason, tc.wantReady, tc.wantReason)
			}
		})
	}
}

func TestReferences(t *testing.T) {
	tests := []struct {
		name string
		p    *v1alpha1.TwitterPipeline
		want []string
	}{
		{name: "defaults", p: newPipeline(), want: []string{defaultKeyReference}},
		{name: "everything", p: newPipeline(func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Rockset.APIKeySecretRef = &v1alpha1.SecretKeyReference{Name: "rk", Key: "k"}
			p.Spec.Stream.CredentialsSecretRef = &v1alpha1.LocalObjectReference{Name: "aws"}
			p.Spec.Source = v1alpha1.SourceSpec{Replay: &v1alpha1.ReplaySource{ConfigMapRef: &v1alpha1.ConfigMapKeyReference{Name: "posts", Key: "k"}}}
		}), want: []string{"Secret/rk", "Secret/aws", "ConfigMap/posts"}},
		{name: "x token", p: newPipeline(func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Source = v1alpha1.SourceSpec{X: &v1alpha1.XSource{BearerTokenSecretRef: v1alpha1.SecretKeyReference{Name: "xt", Key: "k"}}}
		}), want: []string{defaultKeyReference, "Secret/xt"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := references(tc.p); !slices.Equal(got, tc.want) {
				t.Errorf("references() = %q, want %q", got, tc.want)
			}
		})
	}
}

// recordingRecorder keeps the events it is given.
type recordingRecorder struct{ notes []string }

func (r *recordingRecorder) Eventf(_, _ runtime.Object, eventtype, reason, action, note string, args ...any) {
	r.notes = append(r.notes, eventtype+" "+reason+" "+fmt.Sprintf(note, args...))
}

func TestEveryConditionChangeIsOneEvent(t *testing.T) {
	rec := &recordingRecorder{}
	r := &Reconciler{recorder: rec}
	p := newPipeline()
	steps := []struct {
		cond metav1.Condition
		// wantEvents is how many events the change records.
		wantEvents int
	}{
		{cond: status.False(v1alpha1.ConditionStreamReady, ReasonStreamCreating, "creating"), wantEvents: 1},
		{cond: status.False(v1alpha1.ConditionStreamReady, ReasonStreamCreating, "creating"), wantEvents: 0},
		{cond: status.False(v1alpha1.ConditionStreamReady, ReasonStreamUpdating, "updating"), wantEvents: 1},
		{cond: status.True(v1alpha1.ConditionStreamReady, ReasonStreamActive, "active"), wantEvents: 1},
		{cond: status.True(v1alpha1.ConditionStalled, ReasonMissingSecret, "gone"), wantEvents: 1},
	}
	for i, st := range steps {
		n := len(rec.notes)
		r.setCondition(p, st.cond)
		if got := len(rec.notes) - n; got != st.wantEvents {
			t.Errorf("step %d (%s %s): %d events, want %d: %q", i, st.cond.Type, st.cond.Reason, got, st.wantEvents, rec.notes[n:])
		}
	}
	if last := rec.notes[len(rec.notes)-1]; !strings.HasPrefix(last, "Warning MissingSecret Stalled=True") {
		t.Errorf("Stalled event = %q, want a Warning", last)
	}
	if c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionStreamReady); c == nil || c.Reason != ReasonStreamActive || c.ObservedGeneration != 1 {
		t.Errorf("StreamReady = %+v", c)
	}
}
