package twitterpipeline_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	rockerr "github.com/rockset/rockset-go-client/errors"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/twitterpipeline"
	"github.com/streamdash/streamdash/internal/producer"
)

func isNotFound(err error) bool {
	var re rockerr.Error
	return errors.As(err, &re) && re.IsNotFoundError()
}

// TestPipelineLifecycle: create -> stream, integration, collection, producer
// -> Ready once the producer is available; quiet steady state; reshard;
// stream deleted out of band -> recreated; delete -> everything gone.
func TestPipelineLifecycle(t *testing.T) {
	t.Parallel()
	needSuite(t)
	ctx := context.Background()
	ns := "lifecycle"
	if err := createNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := direct.Create(ctx, awsSecret(ns)); err != nil {
		t.Fatal(err)
	}
	counter := startManager(t, ns, nil)

	p := newTestPipeline(ns, "tweets", func(p *v1alpha1.TwitterPipeline) {
		p.Spec.Stream.ShardCount = 2
		p.Spec.Stream.RetentionHours = 48
		p.Spec.Rockset.Retention = &metav1.Duration{Duration: 24 * time.Hour}
	})
	if err := direct.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(p)
	stream := names.Stream(p)
	// The admin key copy earlier versions kept for dashboard pods, as one of
	// them left it: the pipeline deletes it (dashboards have keys of their own).
	staleCopy := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tweets-rockset-apikey",
			Labels: map[string]string{"app.kubernetes.io/managed-by": "streamdash", "streamdash.io/pipeline": "tweets"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: "TwitterPipeline",
				Name: p.Name, UID: p.UID, Controller: ptr.To(true)}}},
		Data: map[string][]byte{"apikey": []byte(apiKey)},
	}
	if err := direct.Create(ctx, staleCopy); err != nil {
		t.Fatal(err)
	}

	// Stream: ACTIVE with 2 shards, 48h retention, tagged with its owner.
	eventually(t, 60*time.Second, "stream ACTIVE with 2 shards and 48h", func() error {
		out, err := describeStream(stream)
		if err != nil {
			return err
		}
		d := out.StreamDescriptionSummary
		if d.StreamStatus != kinesistypes.StreamStatusActive || aws.ToInt32(d.OpenShardCount) != 2 || aws.ToInt32(d.RetentionPeriodHours) != 48 {
			return fmt.Errorf("stream %s %d shards %dh", d.StreamStatus, aws.ToInt32(d.OpenShardCount), aws.ToInt32(d.RetentionPeriodHours))
		}
		return nil
	})
	tags, err := kinesisC.ListTagsForStream(ctx, &awskinesis.ListTagsForStreamInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var owner string
	for _, tg := range tags.Tags {
		if aws.ToString(tg.Key) == "streamdash.io/pipeline" {
			owner = aws.ToString(tg.Value)
		}
	}
	if owner != "lifecycle/tweets" {
		t.Errorf("stream owner tag = %q, want lifecycle/tweets", owner)
	}

	// Integration and collection, read back through the Rockset client.
	integ, err := rocksetC.GetIntegration(ctx, names.Integration(p))
	for deadline := time.Now().Add(30 * time.Second); err != nil && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		integ, err = rocksetC.GetIntegration(ctx, names.Integration(p))
	}
	if err != nil {
		t.Fatalf("integration %s: %v (status: %s)", names.Integration(p), err, describeConditions(getPipeline(t, key)))
	}
	if integ.Kinesis == nil {
		t.Errorf("integration %s is not a Kinesis integration: %+v", integ.Name, integ)
	}
	waitCondition(t, key, v1alpha1.ConditionCollectionReady, metav1.ConditionTrue, "CollectionReady", 60*time.Second)
	coll, err := rocksetC.GetCollection(ctx, "commons", "tweets")
	if err != nil {
		t.Fatalf("collection: %v", err)
	}
	if len(coll.Sources) != 1 || coll.Sources[0].Kinesis == nil || coll.Sources[0].Kinesis.StreamName != stream ||
		coll.Sources[0].Kinesis.GetOffsetResetPolicy() != "EARLIEST" || coll.Sources[0].GetIntegrationName() != integ.Name {
		t.Errorf("collection sources = %+v", coll.Sources)
	}
	if coll.GetRetentionSecs() != 24*3600 {
		t.Errorf("collection retention = %d, want %d", coll.GetRetentionSecs(), 24*3600)
	}
	if !strings.Contains(coll.GetDescription(), "lifecycle/tweets") {
		t.Errorf("collection description = %q", coll.GetDescription())
	}

	// Producer Deployment: owned, hardened, args from the source, Secret references only.
	var d appsv1.Deployment
	eventually(t, 30*time.Second, "producer Deployment", func() error {
		return direct.Get(ctx, types.NamespacedName{Namespace: ns, Name: "tweets-producer"}, &d)
	})
	if !metav1.IsControlledBy(&d, getPipeline(t, key)) {
		t.Errorf("producer owner references = %+v", d.OwnerReferences)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	// The arguments as the producer reads them (the typed contract).
	if cfg, err := producer.ParseArgs(c.Args, io.Discard); err != nil {
		t.Errorf("the producer refuses its arguments %q: %v", c.Args, err)
	} else if cfg.Stream != stream || cfg.Listen != "$(POD_IP):8081" || cfg.Source != producer.SourceReplay ||
		cfg.Replay.Seed != 42 || cfg.Replay.Rate != 50 {
		t.Errorf("producer config from %q = %+v", c.Args, cfg)
	}
	if c.Image != testImage || !slices.Equal(c.Command, []string{"producer"}) {
		t.Errorf("producer image %q command %q", c.Image, c.Command)
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || pod.SecurityContext == nil ||
		pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("producer not hardened: pod %+v container %+v", pod.SecurityContext, sc)
	}
	envs := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		envs[e.Name] = e
	}
	if e := envs["AWS_SECRET_ACCESS_KEY"]; e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "aws" {
		t.Errorf("AWS_SECRET_ACCESS_KEY = %+v, want a secretKeyRef", e)
	}
	if envs["AWS_ENDPOINT_URL_KINESIS"].Value != emulator.Endpoint || envs["AWS_REGION"].Value != emulator.Region {
		t.Errorf("AWS passthrough env: %+v %+v", envs["AWS_ENDPOINT_URL_KINESIS"], envs["AWS_REGION"])
	}

	// No copy of the operator's (admin) API key in the namespace: the stale
	// one is deleted.
	eventually(t, 30*time.Second, "the stale API key copy deleted", func() error {
		err := direct.Get(ctx, types.NamespacedName{Namespace: ns, Name: "tweets-rockset-apikey"}, &corev1.Secret{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
	waitEvent(t, key, twitterpipeline.EventAPIKeyCopyRemoved)

	// Not Ready until the producer is available; then Ready.
	got := getPipeline(t, key)
	if c := condition(got, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Ready before the producer is available: %s", describeConditions(got))
	}
	markProducerAvailable(t, key)
	got = waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, "PipelineReady", 30*time.Second)
	if got.Status.ObservedGeneration != got.Generation {
		t.Errorf("observedGeneration %d, generation %d", got.Status.ObservedGeneration, got.Generation)
	}
	for _, ct := range []string{v1alpha1.ConditionStalled, v1alpha1.ConditionReconciling} {
		if c := condition(got, ct); c != nil && c.Status == metav1.ConditionTrue {
			t.Errorf("%s still True when Ready: %s", ct, describeConditions(got))
		}
	}
	if s := got.Status.Stream; s == nil || s.Status != "ACTIVE" || s.OpenShards != 2 || s.ARN == "" {
		t.Errorf("status.stream = %+v", got.Status.Stream)
	}
	if cs := got.Status.Collection; cs == nil || cs.Status != "READY" || cs.Workspace != "commons" || cs.Name != "tweets" {
		t.Errorf("status.collection = %+v", got.Status.Collection)
	}
	if got.Status.SourceType != "replay" || got.Status.Integration == nil || got.Status.Producer == nil || got.Status.Producer.ReadyReplicas != 1 {
		t.Errorf("status = %+v", got.Status)
	}

	// Steady state: two more resync passes write nothing.
	_, _, before := counter.snapshot()
	totalBefore, _, _ := counter.snapshot()
	gets := counter.gets(key)
	eventually(t, 30*time.Second, "two resync passes", func() error {
		if n := counter.gets(key) - gets; n < 2 {
			return fmt.Errorf("%d passes so far", n)
		}
		return nil
	})
	totalAfter, byVerb, after := counter.snapshot()
	if after[key] != before[key] {
		t.Errorf("steady state wrote status %d times", after[key]-before[key])
	}
	if totalAfter != totalBefore {
		t.Errorf("steady state made %d API writes: %v", totalAfter-totalBefore, byVerb)
	}

	// Reshard 2 -> 5: two steps (2->4->5), then Ready again.
	got = getPipeline(t, key)
	got.Spec.Stream.ShardCount = 5
	if err := direct.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "stream resharded to 5", func() error {
		out, err := describeStream(stream)
		if err != nil {
			return err
		}
		if n := aws.ToInt32(out.StreamDescriptionSummary.OpenShardCount); n != 5 || out.StreamDescriptionSummary.StreamStatus != kinesistypes.StreamStatusActive {
			return fmt.Errorf("%d open shards, %s", n, out.StreamDescriptionSummary.StreamStatus)
		}
		return nil
	})
	eventually(t, 30*time.Second, "status shows 5 shards and Ready", func() error {
		p := getPipeline(t, key)
		if p.Status.Stream == nil || p.Status.Stream.OpenShards != 5 || condition(p, v1alpha1.ConditionReady).Status != metav1.ConditionTrue {
			return fmt.Errorf("stream %+v: %s", p.Status.Stream, describeConditions(p))
		}
		if p.Status.ObservedGeneration != p.Generation {
			return fmt.Errorf("observedGeneration %d < %d", p.Status.ObservedGeneration, p.Generation)
		}
		return nil
	})
	if n := len(waitEvent(t, key, "StreamResharding")); n < 2 {
		t.Errorf("%d StreamResharding events, want one per step (2)", n)
	}

	// Delete the stream behind the operator's back: recreated, with an event and a condition.
	if _, err := kinesisC.DeleteStream(ctx, &awskinesis.DeleteStreamInput{StreamName: aws.String(stream)}); err != nil {
		t.Fatal(err)
	}
	notes := waitEvent(t, key, "StreamRecreated")
	if !strings.Contains(notes[0], stream) {
		t.Errorf("StreamRecreated note %q does not name the stream", notes[0])
	}
	// The condition says so too (its change is itself an event with the condition's reason).
	eventually(t, 30*time.Second, "StreamReady=False StreamRecreated recorded", func() error {
		for _, n := range events(t, key)["StreamRecreated"] {
			if strings.HasPrefix(n, "StreamReady=False") {
				return nil
			}
		}
		return fmt.Errorf("no StreamReady=False StreamRecreated condition event: %q", events(t, key))
	})
	eventually(t, 60*time.Second, "recreated stream ACTIVE with 5 shards", func() error {
		out, err := describeStream(stream)
		if err != nil {
			return err
		}
		if n := aws.ToInt32(out.StreamDescriptionSummary.OpenShardCount); n != 5 || out.StreamDescriptionSummary.StreamStatus != kinesistypes.StreamStatusActive {
			return fmt.Errorf("%d open shards, %s", n, out.StreamDescriptionSummary.StreamStatus)
		}
		return nil
	})
	// The stream is the controller's part and is back. The collection's
	// source held checkpoints of the deleted stream's shards; the bundled
	// analytics server sees a different stream (its identity is stored with
	// the checkpoints) and reads the new one from its start, so the pipeline
	// is Ready again with every part True.
	waitCondition(t, key, v1alpha1.ConditionStreamReady, metav1.ConditionTrue, "StreamActive", 60*time.Second)
	p = waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, "PipelineReady", 60*time.Second)
	for _, ct := range []string{v1alpha1.ConditionStreamReady, v1alpha1.ConditionCollectionReady, v1alpha1.ConditionProducerReady} {
		if c := condition(p, ct); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("Ready=True after the stream came back, but %s is not True: %s", ct, describeConditions(p))
		}
	}
	t.Logf("after the stream was recreated: %s", describeConditions(p))

	// Delete with deletionPolicy Delete: producer, collection, integration, stream all gone.
	if err := direct.Delete(ctx, getPipeline(t, key)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "pipeline gone", func() error {
		p := &v1alpha1.TwitterPipeline{}
		err := direct.Get(ctx, key, p)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v): %s", err, describeConditions(p))
	})
	if _, err := describeStream(stream); !isKinesisNotFound(err) {
		t.Errorf("stream after delete: %v, want not found", err)
	}
	if _, err := rocksetC.GetCollection(ctx, "commons", "tweets"); !isNotFound(err) {
		t.Errorf("collection after delete: %v, want not found", err)
	}
	if _, err := rocksetC.GetIntegration(ctx, names.Integration(p)); !isNotFound(err) {
		t.Errorf("integration after delete: %v, want not found", err)
	}
	if err := direct.Get(ctx, types.NamespacedName{Namespace: ns, Name: "tweets-producer"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("producer after delete: %v, want not found", err)
	}
	ev := events(t, key)
	for _, reason := range []string{"ProducerDeleted", "CollectionDeleted", "IntegrationDeleted", "StreamDeleted", "CleanupFinished"} {
		if len(ev[reason]) == 0 {
			t.Errorf("no %s event", reason)
		}
	}
	for reason, notes := range ev {
		for _, n := range notes {
			if strings.Contains(n, apiKey) {
				t.Errorf("event %s carries the API key: %q", reason, n)
			}
		}
	}
}

func isKinesisNotFound(err error) bool {
	var nf *kinesistypes.ResourceNotFoundException
	return errors.As(err, &nf)
}

// TestMissingSecretStallsThenRecovers: a missing API-key Secret stalls the
// pipeline with a clear message; creating the Secret makes it Ready without
// any other nudge (the controller watches referenced Secrets).
func TestMissingSecretStallsThenRecovers(t *testing.T) {
	t.Parallel()
	needSuite(t)
	ctx := context.Background()
	ns := "missing-secret"
	if err := createNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := direct.Create(ctx, awsSecret(ns)); err != nil {
		t.Fatal(err)
	}
	// A resync far away: recovery must come from the Secret watch.
	startManager(t, ns, func(o *twitterpipeline.Options) { o.ResyncPeriod = time.Hour })

	p := newTestPipeline(ns, "keyed", func(p *v1alpha1.TwitterPipeline) {
		p.Spec.Rockset.APIKeySecretRef = &v1alpha1.SecretKeyReference{Name: "team-rockset", Key: "apikey"}
	})
	if err := direct.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(p)
	got := waitCondition(t, key, v1alpha1.ConditionStalled, metav1.ConditionTrue, "MissingSecret", 30*time.Second)
	msg := condition(got, v1alpha1.ConditionStalled).Message
	if !strings.Contains(msg, "Secret missing-secret/team-rockset not found") {
		t.Errorf("Stalled message %q does not name the missing Secret", msg)
	}
	if c := condition(got, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != "MissingSecret" {
		t.Errorf("Ready while stalled: %s", describeConditions(got))
	}
	if _, err := describeStream(names.Stream(p)); !isKinesisNotFound(err) {
		t.Errorf("stream created while stalled: %v", err)
	}
	waitEvent(t, key, "MissingSecret")

	if err := direct.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-rockset"},
		Data:       map[string][]byte{"apikey": []byte(apiKey)},
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitCondition(t, key, v1alpha1.ConditionCollectionReady, metav1.ConditionTrue, "", 60*time.Second)
	t.Logf("collection ready %s after the Secret appeared", time.Since(start).Round(time.Millisecond))
	markProducerAvailable(t, key)
	got = waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, "PipelineReady", 60*time.Second)
	t.Logf("Ready %s after the Secret appeared", time.Since(start).Round(time.Millisecond))
	if c := condition(got, v1alpha1.ConditionStalled); c != nil {
		t.Errorf("Stalled left behind: %s", describeConditions(got))
	}
	// Its own key Secret: no mirrored copy.
	if err := direct.Get(ctx, types.NamespacedName{Namespace: ns, Name: "keyed-rockset-apikey"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("mirrored key Secret for a pipeline with its own key: %v", err)
	}
	for reason, notes := range events(t, key) {
		for _, n := range notes {
			if strings.Contains(n, apiKey) {
				t.Errorf("event %s carries the API key", reason)
			}
		}
	}
	deleteAndWait(t, key)
}

// TestRetainKeepsEverything: deletionPolicy Retain removes the pipeline and
// leaves the stream, the integration and the collection, with an event.
func TestRetainKeepsEverything(t *testing.T) {
	t.Parallel()
	needSuite(t)
	ctx := context.Background()
	ns := "retain"
	if err := createNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := direct.Create(ctx, awsSecret(ns)); err != nil {
		t.Fatal(err)
	}
	startManager(t, ns, nil)
	p := newTestPipeline(ns, "kept", func(p *v1alpha1.TwitterPipeline) {
		p.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain
		p.Spec.Rockset.Workspace = "retained"
	})
	if err := direct.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(p)
	waitCondition(t, key, v1alpha1.ConditionCollectionReady, metav1.ConditionTrue, "", 60*time.Second)
	waitCondition(t, key, v1alpha1.ConditionStreamReady, metav1.ConditionTrue, "", 60*time.Second)

	deleteAndWait(t, key)
	stream, integ := names.Stream(p), names.Integration(p)
	if _, err := describeStream(stream); err != nil {
		t.Errorf("retained stream: %v", err)
	}
	if _, err := rocksetC.GetCollection(ctx, "retained", "kept"); err != nil {
		t.Errorf("retained collection: %v", err)
	}
	if _, err := rocksetC.GetIntegration(ctx, integ); err != nil {
		t.Errorf("retained integration: %v", err)
	}
	notes := waitEvent(t, key, "ResourcesRetained")
	if !strings.Contains(notes[0], stream) || !strings.Contains(notes[0], "retained.kept") {
		t.Errorf("ResourcesRetained note %q does not name what it kept", notes[0])
	}
	// Clean up what the test kept, so later tests start empty.
	_ = rocksetC.DeleteCollection(ctx, "retained", "kept")
	eventually(t, 30*time.Second, "retained collection removed by the test", func() error {
		if _, err := rocksetC.GetCollection(ctx, "retained", "kept"); !isNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return rocksetC.DeleteIntegration(ctx, integ)
	})
	_, _ = kinesisC.DeleteStream(ctx, &awskinesis.DeleteStreamInput{StreamName: aws.String(stream)})
}

func deleteAndWait(t testing.TB, key types.NamespacedName) {
	t.Helper()
	ctx := context.Background()
	if err := direct.Delete(ctx, &v1alpha1.TwitterPipeline{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, fmt.Sprintf("%s deleted", key), func() error {
		var p v1alpha1.TwitterPipeline
		err := direct.Get(ctx, key, &p)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("still there: %s", describeConditions(&p))
	})
}

// TestDeleteWhileStalled: a pipeline that never got its Secret made nothing
// outside the cluster, so deleting it finishes without that Secret.
func TestDeleteWhileStalled(t *testing.T) {
	t.Parallel()
	needSuite(t)
	ctx := context.Background()
	ns := "delete-stalled"
	if err := createNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	startManager(t, ns, nil)
	p := newTestPipeline(ns, "orphan", func(p *v1alpha1.TwitterPipeline) {
		p.Spec.Rockset.APIKeySecretRef = &v1alpha1.SecretKeyReference{Name: "never", Key: "apikey"}
	})
	if err := direct.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(p)
	waitCondition(t, key, v1alpha1.ConditionStalled, metav1.ConditionTrue, "MissingSecret", 30*time.Second)
	deleteAndWait(t, key)
	if notes := waitEvent(t, key, "CleanupFinished"); !strings.Contains(notes[0], "nothing to clean up") {
		t.Errorf("CleanupFinished note %q", notes[0])
	}
}
