package twitterpipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/config/argocd"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/controllers/twitterpipeline"
	"github.com/streamdash/streamdash/internal/rockset"
)

// putDocs writes n canonical tweet documents, ids from..from+n-1, to stream.
func putDocs(t testing.TB, stream string, from, n int) {
	t.Helper()
	for start := 0; start < n; start += 500 {
		var recs []kinesistypes.PutRecordsRequestEntry
		for i := start; i < min(n, start+500); i++ {
			id := strconv.Itoa(from + i)
			doc, _ := json.Marshal(map[string]any{
				"id_str": id, "text": "late post #late", "timestamp_ms": strconv.FormatInt(time.Now().UnixMilli(), 10),
				"user":     map[string]any{"id_str": "u1", "screen_name": "late", "followers_count": 1},
				"entities": map[string]any{"hashtags": []any{map[string]any{"text": "late", "indices": []int{10, 15}}}},
			})
			recs = append(recs, kinesistypes.PutRecordsRequestEntry{Data: doc, PartitionKey: aws.String(id)})
		}
		out, err := kinesisC.PutRecords(context.Background(), &awskinesis.PutRecordsInput{StreamName: aws.String(stream), Records: recs})
		if err != nil {
			t.Fatalf("put records: %v", err)
		}
		if aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("%d records failed", aws.ToInt32(out.FailedRecordCount))
		}
	}
}

// checkHealthAgrees computes the live object's kstatus and Argo CD health
// and fails when they disagree, returning the health.
func checkHealthAgrees(t testing.TB, obj client.Object, kind string) string {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u["apiVersion"], u["kind"] = v1alpha1.GroupVersion.String(), kind
	health, ks, err := argocd.CheckAgreement(u)
	if err != nil {
		t.Errorf("%s %s: %v", kind, obj.GetName(), err)
	}
	t.Logf("%s %s: Argo CD %s, kstatus %s", kind, obj.GetName(), health, ks)
	return health
}

// TestDocumentsArrivingLate: documents that start arriving five minutes
// after the pipeline became Ready reach status.collection at the next ingest
// check, within one interval (30s, the default) of their arrival. The
// check's clock is a fake one, stepped by the test: ten quiet checks (five
// minutes) read the collection, write no status and run no full reconcile;
// the check after the documents arrived writes status once; the one after
// that writes nothing.
func TestDocumentsArrivingLate(t *testing.T) {
	t.Parallel()
	needSuite(t)
	ctx := context.Background()
	ns := "late-docs"
	if err := createNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := direct.Create(ctx, awsSecret(ns)); err != nil {
		t.Fatal(err)
	}
	fake := clocktesting.NewFakeClock(time.Now())
	counter := startManager(t, ns, func(o *twitterpipeline.Options) {
		o.ResyncPeriod = time.Hour // only the ingest check may look
		o.Clock = fake
	})
	p := newTestPipeline(ns, "quiet")
	if err := direct.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(p)
	waitCondition(t, key, v1alpha1.ConditionCollectionReady, metav1.ConditionTrue, "", 60*time.Second)
	markProducerAvailable(t, key)
	got := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, "PipelineReady", 60*time.Second)
	if got.Status.Collection == nil || got.Status.Collection.DocumentCount != 0 {
		t.Fatalf("status.collection before any document = %+v", got.Status.Collection)
	}
	checkHealthAgrees(t, got, "TwitterPipeline")

	interval := twitterpipeline.DefaultIngestCheckInterval
	check := func() string { t.Helper(); return stepIngestCheck(t, fake, key) }

	_, _, statusBefore := counter.snapshot()
	passes := counter.gets(key)
	const quiet = 10
	for i := 0; i < quiet; i++ {
		if r := check(); r != "unchanged" {
			t.Fatalf("quiet check %d: %s, want unchanged", i+1, r)
		}
	}
	_, _, statusAfter := counter.snapshot()
	if n := statusAfter[key] - statusBefore[key]; n != 0 {
		t.Errorf("%d quiet checks wrote status %d times, want 0", quiet, n)
	}
	if n := counter.gets(key) - passes; n != 0 {
		t.Errorf("%d full reconciles during %d quiet checks, want 0 (the check reads only the collection)", n, quiet)
	}
	t.Logf("%d quiet ingest checks (%s on the check's clock): no status write, no full reconcile", quiet, quiet*interval)

	const n = 120
	putDocs(t, names.Stream(p), 0, n)
	eventually(t, 30*time.Second, "the documents in the collection", func() error {
		c, err := rocksetC.GetCollection(ctx, names.Workspace(p), names.Collection(p))
		if err != nil {
			return err
		}
		if got := c.Stats.GetDocCount(); got != n {
			return fmt.Errorf("%d documents", got)
		}
		return nil
	})
	arrived := time.Now()
	if r := check(); r != "written" {
		t.Fatalf("check after the documents arrived: %s, want written", r)
	}
	cs := getPipeline(t, key).Status.Collection
	if cs == nil || cs.DocumentCount != n || cs.LastIngestTime == nil ||
		cs.LastIngestTime.Time.Before(arrived.Add(-30*time.Second).Truncate(time.Second)) {
		t.Fatalf("status.collection after one check = %+v, want %d documents and their ingest time", cs, n)
	}
	_, _, statusAfter = counter.snapshot()
	if w := statusAfter[key] - statusBefore[key]; w != 1 {
		t.Errorf("%d status writes for the arrival, want 1", w)
	}
	if r := check(); r != "unchanged" {
		t.Errorf("check after status caught up: %s, want unchanged", r)
	}
	deleteAndWait(t, key)
}

// stepIngestCheck steps the ingest check's clock by one interval and
// returns the result of the pipeline's ingest check that follows.
func stepIngestCheck(t testing.TB, fake *clocktesting.FakeClock, key client.ObjectKey) string {
	t.Helper()
	before := ingestCheckCounts(t, key)
	eventually(t, 10*time.Second, "the ingest check waiting on its clock", func() error {
		if !fake.HasWaiters() {
			return fmt.Errorf("no ticker yet")
		}
		return nil
	})
	fake.Step(twitterpipeline.DefaultIngestCheckInterval)
	var result string
	eventually(t, 30*time.Second, "the pipeline's ingest check", func() error {
		for r, n := range ingestCheckCounts(t, key) {
			if n > before[r] {
				result = r
				return nil
			}
		}
		return fmt.Errorf("not checked yet")
	})
	return result
}

// TestCollectionDeletedOutOfBand: a collection deleted behind the
// pipeline's back (here through the real analytics server's API) is not
// left to the resync: the next ingest check finds it gone and hands the
// pipeline to a full reconcile, which creates it again and is Ready again.
func TestCollectionDeletedOutOfBand(t *testing.T) {
	t.Parallel()
	needSuite(t)
	ctx := context.Background()
	ns := "deleted-collection"
	if err := createNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := direct.Create(ctx, awsSecret(ns)); err != nil {
		t.Fatal(err)
	}
	fake := clocktesting.NewFakeClock(time.Now())
	counter := startManager(t, ns, func(o *twitterpipeline.Options) {
		o.ResyncPeriod = time.Hour // only the ingest check may notice
		o.Clock = fake
	})
	p := newTestPipeline(ns, "orphaned")
	if err := direct.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(p)
	waitCondition(t, key, v1alpha1.ConditionCollectionReady, metav1.ConditionTrue, "", 60*time.Second)
	markProducerAvailable(t, key)
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, "PipelineReady", 60*time.Second)
	if r := stepIngestCheck(t, fake, key); r != "unchanged" {
		t.Fatalf("check before the deletion: %s, want unchanged", r)
	}

	ws, coll := names.Workspace(p), names.Collection(p)
	if err := rocksetC.DeleteCollection(ctx, ws, coll); err != nil {
		t.Fatal(err)
	}
	passes := counter.gets(key)
	if r := stepIngestCheck(t, fake, key); r != "reconcile" {
		t.Fatalf("check after the collection was deleted: %s, want reconcile", r)
	}
	eventually(t, 30*time.Second, "the full reconcile to create the collection again", func() error {
		if n := counter.gets(key) - passes; n == 0 {
			return fmt.Errorf("no full reconcile yet")
		}
		_, err := rocksetC.GetCollection(ctx, ws, coll)
		return err
	})
	waitCondition(t, key, v1alpha1.ConditionCollectionReady, metav1.ConditionTrue, "", 60*time.Second)
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, "PipelineReady", 60*time.Second)
	deleteAndWait(t, key)
}

// ingestCheckCounts reads the ingest check results of one pipeline from
// the manager's metrics.
func ingestCheckCounts(t testing.TB, key client.ObjectKey) map[string]float64 {
	t.Helper()
	return allIngestCheckCounts(t)[key]
}

// allIngestCheckCounts reads every pipeline's ingest check results, by result.
func allIngestCheckCounts(t testing.TB) map[client.ObjectKey]map[string]float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[client.ObjectKey]map[string]float64{}
	for _, f := range families {
		if f.GetName() != "streamdash_twitterpipeline_ingest_checks_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			key := client.ObjectKey{Namespace: labels["namespace"], Name: labels["name"]}
			if out[key] == nil {
				out[key] = map[string]float64{}
			}
			out[key][labels["result"]] = m.GetCounter().GetValue()
		}
	}
	return out
}

// ingestCheckRounds is the count and total seconds of ingest check rounds so
// far, of every manager in the process: only a test that runs alone may read it.
func ingestCheckRounds(t testing.TB) (count uint64, seconds float64) {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "streamdash_twitterpipeline_ingest_check_round_seconds" {
			h := f.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	return 0, 0
}

// failingSources is the one fake in these tests, at the Rockset seam: it
// passes every call to the real analytics server and, while failing is set,
// reports the collection's source in ERROR with that message (Rockset's
// field names), as a server whose ingest has stopped does. It stands for
// failures the bundled server cannot be made to hold on demand.
type failingSources struct {
	rockset.API
	mu      *sync.Mutex
	failing *string
}

func (f failingSources) GetCollection(ctx context.Context, ws, name string) (rockset.Collection, error) {
	c, err := f.API.GetCollection(ctx, ws, name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil && f.failing != nil && *f.failing != "" {
		for i := range c.Sources {
			c.Sources[i].State, c.Sources[i].Message = rockset.SourceError, *f.failing
		}
	}
	return c, err
}

// TestIngestStopsAndRecovers: with the default ingest check interval, a
// source that stops ingesting turns CollectionReady and Ready False within
// 60s with a message a user can act on (and no secret), a Warning event, and
// kstatus and Argo CD agreeing; recovery turns them True again on its own
// within 60s, and the documents written meanwhile all arrive.
func TestIngestStopsAndRecovers(t *testing.T) {
	t.Parallel()
	needSuite(t)
	ctx := context.Background()
	ns := "ingest-stops"
	if err := createNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := direct.Create(ctx, awsSecret(ns)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	failing := ""
	startManager(t, ns, func(o *twitterpipeline.Options) {
		o.ResyncPeriod = time.Hour
		o.NewRockset = func(conn rocksetconn.Connection) (rockset.API, error) {
			api, err := rockset.New(conn.APIServer, conn.APIKey, nil)
			return failingSources{API: api, mu: &mu, failing: &failing}, err
		}
	})
	p := newTestPipeline(ns, "flow")
	if err := direct.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(p)
	waitCondition(t, key, v1alpha1.ConditionCollectionReady, metav1.ConditionTrue, "", 60*time.Second)
	markProducerAvailable(t, key)
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, "PipelineReady", 60*time.Second)
	stream := names.Stream(p)
	putDocs(t, stream, 0, 50)

	// The server's message names a credential-looking token: it must not reach status.
	secretish := strings.Repeat("wJalrXUtnFEMIK7MDENG", 2)
	mu.Lock()
	failing = "read: AccessDeniedException: credentials " + secretish + " were revoked"
	mu.Unlock()
	stopped := time.Now()
	got := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, "", 60*time.Second)
	t.Logf("Ready=False %s after ingest stopped", time.Since(stopped).Round(time.Millisecond))
	c := condition(got, v1alpha1.ConditionCollectionReady)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "IngestFailed" ||
		!strings.Contains(c.Message, "ERROR") || !strings.Contains(c.Message, "AccessDeniedException") ||
		!strings.Contains(c.Message, "resumes on its own") {
		t.Errorf("CollectionReady = %+v, want False IngestFailed naming the source's error", c)
	}
	for _, cond := range got.Status.Conditions {
		if strings.Contains(cond.Message, secretish) {
			t.Errorf("condition %s carries the secret-looking token: %q", cond.Type, cond.Message)
		}
	}
	if health := checkHealthAgrees(t, got, "TwitterPipeline"); health != "Progressing" {
		t.Errorf("Argo CD health while ingest is stopped = %s, want Progressing (it recovers on its own)", health)
	}
	eventually(t, 30*time.Second, "a Warning event for the stopped ingest", func() error {
		for _, e := range warningEvents(t, key) {
			if e == "IngestFailed" {
				return nil
			}
		}
		return fmt.Errorf("warnings %q", warningEvents(t, key))
	})

	putDocs(t, stream, 50, 50) // written while the failure is reported
	mu.Lock()
	failing = ""
	mu.Unlock()
	recovered := time.Now()
	got = waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, "PipelineReady", 60*time.Second)
	t.Logf("Ready=True %s after ingest recovered", time.Since(recovered).Round(time.Millisecond))
	checkHealthAgrees(t, got, "TwitterPipeline")
	eventually(t, 60*time.Second, "all 100 documents, none twice", func() error {
		cs := getPipeline(t, key).Status.Collection
		if cs == nil || cs.DocumentCount != 100 {
			return fmt.Errorf("status.collection = %+v", cs)
		}
		return nil
	})
	deleteAndWait(t, key)
}

// warningEvents lists the reasons of Warning events about a pipeline.
func warningEvents(t testing.TB, key types.NamespacedName) []string {
	t.Helper()
	var out []string
	for reason, notes := range eventsOfType(t, key, "Warning") {
		for range notes {
			out = append(out, reason)
		}
	}
	return out
}
