package twitterpipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/rockset/rockset-go-client/option"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/names"
)

func streamTags(t testing.TB, name string) map[string]string {
	t.Helper()
	out, err := kinesisC.ListTagsForStream(context.Background(), &awskinesis.ListTagsForStreamInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatalf("tags of %s: %v", name, err)
	}
	tags := map[string]string{}
	for _, tg := range out.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return tags
}

func createForeignStream(t testing.TB, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := kinesisC.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "foreign stream ACTIVE", func() error {
		out, err := describeStream(name)
		if err != nil {
			return err
		}
		if s := out.StreamDescriptionSummary.StreamStatus; s != "ACTIVE" {
			return fmt.Errorf("%s", s)
		}
		return nil
	})
}

// TestAdoptionIsExplicit: a stream or collection the pipeline did not create
// is neither used nor deleted without the user's word; with
// spec.adoption.policy Adopt it is used and, at deletion, kept unless
// spec.adoption.deleteAdopted says otherwise.
func TestAdoptionIsExplicit(t *testing.T) {
	t.Parallel()
	needSuite(t)
	ctx := context.Background()
	ns := "adoption"
	if err := createNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := direct.Create(ctx, awsSecret(ns)); err != nil {
		t.Fatal(err)
	}
	startManager(t, ns, nil)

	const foreign = "someone-elses-stream"
	createForeignStream(t, foreign)
	onForeign := func(name string, mut ...func(*v1alpha1.TwitterPipeline)) *v1alpha1.TwitterPipeline {
		return newTestPipeline(ns, name, append([]func(*v1alpha1.TwitterPipeline){func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Stream.Name = foreign
		}}, mut...)...)
	}

	t.Run("no adoption: stalls, says how, touches nothing, deletes nothing", func(t *testing.T) {
		p := onForeign("careful")
		if err := direct.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		key := client.ObjectKeyFromObject(p)
		got := waitCondition(t, key, v1alpha1.ConditionStalled, metav1.ConditionTrue, "AdoptionRequired", 60*time.Second)
		msg := condition(got, v1alpha1.ConditionStalled).Message
		if !strings.Contains(msg, foreign) || !strings.Contains(msg, "spec.adoption.policy: Adopt") {
			t.Errorf("Stalled message %q does not name the stream and how to adopt it", msg)
		}
		if health := checkHealthAgrees(t, got, "TwitterPipeline"); health != "Degraded" {
			t.Errorf("Argo CD health = %s, want Degraded", health)
		}
		if got.Status.ObservedGeneration != got.Generation {
			t.Errorf("observedGeneration %d, generation %d: a stall must be observed", got.Status.ObservedGeneration, got.Generation)
		}
		if tags := streamTags(t, foreign); len(tags) != 0 {
			t.Errorf("the foreign stream was tagged %v without adoption", tags)
		}
		if _, err := rocksetC.GetIntegration(ctx, names.Integration(p)); !isNotFound(err) {
			t.Errorf("an integration was made for a stalled pipeline: %v", err)
		}
		deleteAndWait(t, key)
		if _, err := describeStream(foreign); err != nil {
			t.Errorf("the foreign stream is gone after deleting a pipeline that never owned it: %v", err)
		}
	})

	t.Run("adopt, then keep it at deletion", func(t *testing.T) {
		p := onForeign("adopter", func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Adoption = &v1alpha1.AdoptionSpec{Policy: v1alpha1.AdoptionAdopt}
		})
		if err := direct.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		key := client.ObjectKeyFromObject(p)
		waitCondition(t, key, v1alpha1.ConditionStreamReady, metav1.ConditionTrue, "", 60*time.Second)
		waitCondition(t, key, v1alpha1.ConditionCollectionReady, metav1.ConditionTrue, "", 60*time.Second)
		tags := streamTags(t, foreign)
		if tags["streamdash.io/pipeline"] != "adoption/adopter" || tags["streamdash.io/adopted"] != "true" {
			t.Errorf("adopted stream tags = %v", tags)
		}
		waitEvent(t, key, "StreamAdopted")
		deleteAndWait(t, key)
		if _, err := describeStream(foreign); err != nil {
			t.Errorf("the adopted stream was deleted without spec.adoption.deleteAdopted: %v", err)
		}
		// What the pipeline created itself went with it.
		if _, err := rocksetC.GetCollection(ctx, "commons", "adopter"); !isNotFound(err) {
			t.Errorf("the pipeline's own collection after delete: %v", err)
		}
		waitEvent(t, key, "ResourcesRetained")
	})

	t.Run("adopt a stream adopted before, and delete it when asked", func(t *testing.T) {
		// The stream is tagged for "adoption/adopter" now: another pipeline
		// may not take it even with Adopt.
		thief := onForeign("thief", func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Adoption = &v1alpha1.AdoptionSpec{Policy: v1alpha1.AdoptionAdopt}
		})
		if err := direct.Create(ctx, thief); err != nil {
			t.Fatal(err)
		}
		waitCondition(t, client.ObjectKeyFromObject(thief), v1alpha1.ConditionStalled, metav1.ConditionTrue, "StreamConflict", 60*time.Second)
		deleteAndWait(t, client.ObjectKeyFromObject(thief))

		p := onForeign("adopter", func(p *v1alpha1.TwitterPipeline) {
			p.Spec.Adoption = &v1alpha1.AdoptionSpec{Policy: v1alpha1.AdoptionAdopt, DeleteAdopted: true}
		})
		if err := direct.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		key := client.ObjectKeyFromObject(p)
		waitCondition(t, key, v1alpha1.ConditionCollectionReady, metav1.ConditionTrue, "", 60*time.Second)
		deleteAndWait(t, key)
		eventually(t, 30*time.Second, "adopted stream deleted as asked", func() error {
			if _, err := describeStream(foreign); !isKinesisNotFound(err) {
				return fmt.Errorf("still there: %v", err)
			}
			return nil
		})
	})

	t.Run("a collection it did not create", func(t *testing.T) {
		// An integration and collection someone made by hand, reading the
		// stream the pipeline will create.
		p := newTestPipeline(ns, "handmade")
		stream := names.Stream(p)
		createForeignStream(t, stream)
		if _, err := kinesisC.AddTagsToStream(ctx, &awskinesis.AddTagsToStreamInput{StreamName: aws.String(stream),
			Tags: map[string]string{"streamdash.io/pipeline": "adoption/handmade"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := rocksetC.CreateKinesisIntegration(ctx, names.Integration(p), option.AWSKeys("test", "test"),
			option.WithKinesisIntegrationDescription("made by hand")); err != nil {
			t.Fatal(err)
		}
		if _, err := rocksetC.CreateCollection(ctx, "commons", "handmade", option.WithCollectionDescription("made by hand")); err != nil {
			t.Fatal(err)
		}
		if err := direct.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		key := client.ObjectKeyFromObject(p)
		got := waitCondition(t, key, v1alpha1.ConditionStalled, metav1.ConditionTrue, "AdoptionRequired", 60*time.Second)
		if msg := condition(got, v1alpha1.ConditionStalled).Message; !strings.Contains(msg, "integration "+names.Integration(p)) {
			t.Errorf("Stalled message %q does not name the integration", msg)
		}
		// Adopting: the collection (without a source) is taken over and marked.
		eventually(t, 10*time.Second, "spec.adoption set", func() error {
			fresh := getPipeline(t, key)
			fresh.Spec.Adoption = &v1alpha1.AdoptionSpec{Policy: v1alpha1.AdoptionAdopt}
			return direct.Update(ctx, fresh)
		})
		eventually(t, 60*time.Second, "collection marked adopted", func() error {
			c, err := rocksetC.GetCollection(ctx, "commons", "handmade")
			if err != nil {
				return err
			}
			if !strings.HasSuffix(c.GetDescription(), "(adopted)") {
				return fmt.Errorf("description %q", c.GetDescription())
			}
			return nil
		})
		deleteAndWait(t, key)
		if _, err := rocksetC.GetCollection(ctx, "commons", "handmade"); err != nil {
			t.Errorf("the adopted collection was deleted: %v", err)
		}
		if _, err := rocksetC.GetIntegration(ctx, names.Integration(p)); err != nil {
			t.Errorf("the adopted integration was deleted: %v", err)
		}
		_ = rocksetC.DeleteCollection(ctx, "commons", "handmade")
	})
}
