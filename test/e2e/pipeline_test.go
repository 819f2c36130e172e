package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	rs "github.com/rockset/rockset-go-client"
	rserrors "github.com/rockset/rockset-go-client/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/internal/panels/panelstest"
	"github.com/streamdash/streamdash/internal/rockset"
	"github.com/streamdash/streamdash/internal/tweet"
)

// seededDocs are the documents a synthetic source with seed produces: the
// expected dashboard is computed from these, independently of the system.
func seededDocs(seed int64, n int) []tweet.Document {
	g := tweet.NewGenerator(seed)
	docs := make([]tweet.Document, n)
	now := time.Now()
	for i := range docs {
		docs[i] = g.Next(now)
	}
	return docs
}

func getPipeline(t *testing.T, ns, name string) *v1alpha1.TwitterPipeline {
	t.Helper()
	p := &v1alpha1.TwitterPipeline{}
	if err := cluster.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func getDashboard(t *testing.T, ns, name string) *v1alpha1.LiveDashboard {
	t.Helper()
	d := &v1alpha1.LiveDashboard{}
	if err := cluster.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	return d
}

func conditionSummary(conds []metav1.Condition) string {
	var parts []string
	for _, c := range conds {
		parts = append(parts, fmt.Sprintf("%s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return strings.Join(parts, "; ")
}

func rocksetClient(t *testing.T) *rs.RockClient {
	t.Helper()
	c, err := rockset.NewClient(cluster.AnalyticsURL, cluster.APIKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitDocuments waits until the pipeline's status reports n documents.
func waitDocuments(t *testing.T, ns, name string, n int64, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%d documents in %s/%s", n, ns, name), func() (bool, string) {
		p := getPipeline(t, ns, name)
		if p.Status.Collection == nil {
			return false, "no collection status yet: " + conditionSummary(p.Status.Conditions)
		}
		return p.Status.Collection.DocumentCount == n,
			fmt.Sprintf("documentCount=%d; %s", p.Status.Collection.DocumentCount, conditionSummary(p.Status.Conditions))
	})
}

// distinctDocuments counts all and distinct tweet ids in the collection.
func distinctDocuments(t *testing.T, ws, coll string) (all, distinct int64) {
	t.Helper()
	resp, err := rocksetClient(t).Query(context.Background(),
		fmt.Sprintf(`SELECT COUNT(*) AS n, COUNT(DISTINCT t.id_str) AS d FROM "%s"."%s" AS t`, ws, coll))
	if err != nil {
		t.Fatalf("count query on %s.%s: %s", ws, coll, describeError(err))
	}
	if len(resp.Results) != 1 {
		t.Fatalf("count query returned %d rows", len(resp.Results))
	}
	n, _ := resp.Results[0]["n"].(float64)
	d, _ := resp.Results[0]["d"].(float64)
	return int64(n), int64(d)
}

func pipelineYAML(ns, name string, seed int64, count, rate, shards int, policy string) string {
	return fmt.Sprintf(`apiVersion: streamdash.io/v1alpha1
kind: TwitterPipeline
metadata:
  name: %s
  namespace: %s
spec:
  source:
    replay:
      synthetic:
        seed: %d
        count: %d
      rate: %d
  stream:
    shardCount: %d
  deletionPolicy: %s
`, name, ns, seed, count, rate, shards, policy)
}

func dashboardYAML(ns, name, pipeline, hashtag string, topN int) string {
	h := ""
	if hashtag != "" {
		h = "\n  hashtag: " + hashtag
	}
	return fmt.Sprintf(`apiVersion: streamdash.io/v1alpha1
kind: LiveDashboard
metadata:
  name: %s
  namespace: %s
spec:
  pipelineRef:
    name: %s%s
  topN: %d
  refreshInterval: 10s
`, name, ns, pipeline, h, topN)
}

func toStatus(in []panelstest.HashtagCount) []v1alpha1.HashtagCount {
	out := make([]v1alpha1.HashtagCount, len(in))
	for i, h := range in {
		out[i] = v1alpha1.HashtagCount{Hashtag: h.Hashtag, TweetCount: h.Tweets}
	}
	return out
}

func toInfluencers(in []panelstest.Influencer) []v1alpha1.Influencer {
	out := make([]v1alpha1.Influencer, len(in))
	for i, u := range in {
		out[i] = v1alpha1.Influencer{ScreenName: u.ScreenName, FollowersCount: u.Followers}
	}
	return out
}

// TestSeededPipelineToDashboards: a pipeline with a seeded synthetic source
// and two dashboards; the status counts equal the counts computed from the
// seed, kubectl prints them, the browser shows them, and changing the
// hashtag moves the status along.
func TestSeededPipelineToDashboards(t *testing.T) {
	requireCluster(t)
	t.Parallel()
	ns := namespace(t, "e2e-seeded")
	const seed, count = 20261126, 600
	applyYAML(t, pipelineYAML(ns, "seeded", seed, count, 150, 2, "Delete")+"---\n"+
		dashboardYAML(ns, "tweets", "seeded", "", 8)+"---\n"+
		dashboardYAML(ns, "music", "seeded", "music", 5))

	waitDocuments(t, ns, "seeded", count, 3*time.Minute)
	eventually(t, 90*time.Second, "the producer to report every post written", func() (bool, string) {
		p := getPipeline(t, ns, "seeded")
		return p.Status.Producer != nil && p.Status.Producer.PostsWritten == count, fmt.Sprintf("producer=%+v", p.Status.Producer)
	})
	docs := seededDocs(seed, count)
	all := time.Time{}

	wantTop := toStatus(panelstest.TopHashtags(docs, all, 8))
	eventually(t, 90*time.Second, "the Tweets view's status to hold the seed's top hashtags", func() (bool, string) {
		d := getDashboard(t, ns, "tweets")
		ready := meta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionReady)
		return ready && fmt.Sprint(d.Status.TopHashtags) == fmt.Sprint(wantTop),
			fmt.Sprintf("topHashtags=%v want %v; %s", d.Status.TopHashtags, wantTop, conditionSummary(d.Status.Conditions))
	})

	wantRelated := toStatus(panelstest.RelatedHashtags(docs, "music", all, 5))
	wantInfluencers := toInfluencers(panelstest.Influencers(docs, "music", all, 5))
	eventually(t, 90*time.Second, "the #music view's status to hold the seed's related hashtags and influencers", func() (bool, string) {
		d := getDashboard(t, ns, "music")
		return fmt.Sprint(d.Status.RelatedHashtags) == fmt.Sprint(wantRelated) &&
				fmt.Sprint(d.Status.Influencers) == fmt.Sprint(wantInfluencers),
			fmt.Sprintf("related=%v want %v; influencers=%v want %v; %s", d.Status.RelatedHashtags, wantRelated,
				d.Status.Influencers, wantInfluencers, conditionSummary(d.Status.Conditions))
	})
	// Argo CD's health checks on the live objects agree.
	wantArgoHealth(t, "TwitterPipeline", ns, "seeded", "Healthy")
	wantArgoHealth(t, "LiveDashboard", ns, "tweets", "Healthy")
	wantArgoHealth(t, "LiveDashboard", ns, "music", "Healthy")
	if d := getDashboard(t, ns, "music"); len(d.Status.RelatedHashtags) > 5 || len(d.Status.Influencers) > 5 {
		t.Errorf("lists exceed topN=5: %d related, %d influencers", len(d.Status.RelatedHashtags), len(d.Status.Influencers))
	}

	// kubectl get dashboards answers the same question.
	out := kubectl(t, "get", "dashboards", "-n", ns)
	if !strings.Contains(oneLine(out), "tweets seeded "+wantTop[0].Hashtag) {
		t.Errorf("kubectl get dashboards does not show top hashtag %q for tweets:\n%s", wantTop[0].Hashtag, out)
	}

	t.Run("browser shows the status's numbers", func(t *testing.T) {
		checkBrowser(t, ns, "tweets", wantTop)
	})

	// Change the hashtag: the status follows.
	applyYAML(t, dashboardYAML(ns, "music", "seeded", "ai", 5))
	wantAI := toStatus(panelstest.RelatedHashtags(docs, "ai", all, 5))
	eventually(t, 90*time.Second, "the status to follow the new hashtag #ai", func() (bool, string) {
		d := getDashboard(t, ns, "music")
		return fmt.Sprint(d.Status.RelatedHashtags) == fmt.Sprint(wantAI),
			fmt.Sprintf("related=%v want %v", d.Status.RelatedHashtags, wantAI)
	})
}

// TestResilience: while a pipeline produces, its stream is resharded and the
// analytics pod is deleted; the new pod comes back with its data from the
// volume and every document arrives exactly once. It is the one test that
// does not run in parallel: the analytics pod it deletes serves every other
// test, and go test runs it before the parallel ones start.
func TestResilience(t *testing.T) {
	requireCluster(t)
	ns := namespace(t, "e2e-resilience")
	// 40 s of records: slow enough that the reshard (about 15 s after the
	// first 300 documents) and the pod deletion happen mid-ingest.
	const seed, count = 7, 2400
	const rate = 60
	applyYAML(t, pipelineYAML(ns, "busy", seed, count, rate, 1, "Delete"))

	eventually(t, 2*time.Minute, "ingest under way", func() (bool, string) {
		p := getPipeline(t, ns, "busy")
		n := int64(0)
		if p.Status.Collection != nil {
			n = p.Status.Collection.DocumentCount
		}
		return n >= 300, fmt.Sprintf("documentCount=%d; %s", n, conditionSummary(p.Status.Conditions))
	})

	// Scale shards 1 -> 2 while records flow.
	applyYAML(t, pipelineYAML(ns, "busy", seed, count, rate, 2, "Delete"))
	p := getPipeline(t, ns, "busy")
	stream := p.Status.Stream.Name
	eventually(t, 2*time.Minute, "the stream to have 2 open shards", func() (bool, string) {
		p := getPipeline(t, ns, "busy")
		return p.Status.Stream != nil && p.Status.Stream.OpenShards == 2, fmt.Sprintf("stream=%+v", p.Status.Stream)
	})
	openShards := countOpenShards(t, stream)
	if openShards != 2 {
		t.Errorf("Kinesis reports %d open shards, want 2", openShards)
	}

	// Delete the analytics pod mid-ingest, at once, as a crash would: its
	// Deployment brings a new one up on the same volume, which goes on from
	// its checkpoints while the producer keeps writing to Kinesis.
	before := documentCount(t, ns, "busy")
	if before >= count {
		t.Fatalf("all %d documents are in before the analytics pod is deleted: the check would prove nothing", count)
	}
	old, err := cluster.RestartAnalytics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("analytics pod %s deleted at %d documents; a new pod serves again", old, before)
	if n := documentCount(t, ns, "busy"); n < before {
		t.Errorf("after the restart the collection reports %d documents, fewer than the %d before: the volume lost data", n, before)
	}

	waitDocuments(t, ns, "busy", count, 4*time.Minute)
	p = getPipeline(t, ns, "busy")
	all, distinct := distinctDocuments(t, p.Status.Collection.Workspace, p.Status.Collection.Name)
	if all != count || distinct != count {
		t.Errorf("collection holds %d documents, %d distinct; want %d of each (no loss, no duplicate)", all, distinct, count)
	}
}

// documentCount asks the analytics server (not the status) how many
// documents the pipeline's collection holds.
func documentCount(t *testing.T, ns, name string) int64 {
	t.Helper()
	p := getPipeline(t, ns, name)
	if p.Status.Collection == nil {
		t.Fatalf("%s/%s has no collection status: %s", ns, name, conditionSummary(p.Status.Conditions))
	}
	all, _ := distinctDocuments(t, p.Status.Collection.Workspace, p.Status.Collection.Name)
	return all
}

func countOpenShards(t *testing.T, stream string) int {
	t.Helper()
	out, err := cluster.Kinesis.Client().ListShards(context.Background(), &kinesis.ListShardsInput{
		StreamName:  aws.String(stream),
		ShardFilter: &ktypes.ShardFilter{Type: ktypes.ShardFilterTypeAtLatest},
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Shards)
}

// TestDeletionPolicies: Delete removes the stream, the collection and the
// integration, and the dashboards over it stall; Retain keeps all three.
func TestDeletionPolicies(t *testing.T) {
	requireCluster(t)
	t.Parallel()
	ns := namespace(t, "e2e-delete")
	applyYAML(t, pipelineYAML(ns, "gone", 1, 50, 50, 1, "Delete")+"---\n"+
		pipelineYAML(ns, "kept", 2, 50, 50, 1, "Retain")+"---\n"+
		dashboardYAML(ns, "orphan", "gone", "", 3))
	waitDocuments(t, ns, "gone", 50, 3*time.Minute)
	waitDocuments(t, ns, "kept", 50, 3*time.Minute)
	gone, kept := getPipeline(t, ns, "gone"), getPipeline(t, ns, "kept")

	kubectl(t, "delete", "twitterpipeline", "gone", "kept", "-n", ns, "--wait=true", "--timeout=120s")

	rc := rocksetClient(t)
	ctx := context.Background()
	streamExists := func(name string) bool {
		_, err := cluster.Kinesis.Client().DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		var nf *ktypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		return true
	}
	notFound := func(err error) bool {
		var re rserrors.Error
		return err != nil && errors.As(err, &re) && re.IsNotFoundError()
	}

	if streamExists(gone.Status.Stream.Name) {
		t.Errorf("stream %s of the Delete pipeline still exists", gone.Status.Stream.Name)
	}
	if _, err := rc.GetCollection(ctx, gone.Status.Collection.Workspace, gone.Status.Collection.Name); !notFound(err) {
		t.Errorf("collection of the Delete pipeline: err=%v, want not found", err)
	}
	if _, err := rc.GetIntegration(ctx, gone.Status.Integration.Name); !notFound(err) {
		t.Errorf("integration of the Delete pipeline: err=%v, want not found", err)
	}

	if !streamExists(kept.Status.Stream.Name) {
		t.Errorf("stream %s of the Retain pipeline was deleted", kept.Status.Stream.Name)
	}
	if _, err := rc.GetCollection(ctx, kept.Status.Collection.Workspace, kept.Status.Collection.Name); err != nil {
		t.Errorf("collection of the Retain pipeline: %s", describeError(err))
	}
	if _, err := rc.GetIntegration(ctx, kept.Status.Integration.Name); err != nil {
		t.Errorf("integration of the Retain pipeline: %s", describeError(err))
	}
	all, _ := distinctDocuments(t, kept.Status.Collection.Workspace, kept.Status.Collection.Name)
	if all != 50 {
		t.Errorf("the retained collection holds %d documents, want 50", all)
	}

	eventually(t, 60*time.Second, "the dashboard over the deleted pipeline to be Stalled", func() (bool, string) {
		d := getDashboard(t, ns, "orphan")
		return meta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionStalled), conditionSummary(d.Status.Conditions)
	})
	wantArgoHealth(t, "LiveDashboard", ns, "orphan", "Degraded")
}

// describeError spells out a Rockset client error, whose message is empty
// when the server's error body did not decode.
func describeError(err error) string {
	var re rserrors.Error
	if errors.As(err, &re) {
		model, _ := json.Marshal(re.ErrorModel)
		return fmt.Sprintf("%v (HTTP %d, %s, cause %v)", err, re.StatusCode, model, re.Cause)
	}
	return err.Error()
}
