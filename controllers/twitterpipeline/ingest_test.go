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
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// TestDocumentsArrivingLate: a pipeline stays Ready with no documents for
// several ingest checks (the old controller stopped looking after one
// unchanged count), then documents arrive: status.collection follows within
// 60s, and the quiet checks before wrote no status.
func TestDocumentsArrivingLate(t *testing.T) {
	needSuite(t)
	ctx := context.Background()
	ns := "late-docs"
	if err := createNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := direct.Create(ctx, awsSecret(ns)); err != nil {
		t.Fatal(err)
	}
	// A short ingest interval stands in for the minutes of a real quiet
	// stream; the resync is far away so only the ingest checks run.
	const interval = 3 * time.Second
	counter := startManager(t, func(o *twitterpipeline.Options) {
		o.ResyncPeriod = time.Hour
		o.IngestCheckInterval = interval
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

	// Several quiet checks: the controller keeps looking, and writes nothing.
	_, _, statusBefore := counter.snapshot()
	gets := counter.gets(key)
	eventually(t, 10*interval, "four quiet ingest checks", func() error {
		if n := counter.gets(key) - gets; n < 4 {
			return fmt.Errorf("%d checks so far", n)
		}
		return nil
	})
	if _, _, statusAfter := counter.snapshot(); statusAfter[key] != statusBefore[key] {
		t.Errorf("quiet checks wrote status %d times, want 0", statusAfter[key]-statusBefore[key])
	}

	const n = 120
	putDocs(t, names.Stream(p), 0, n)
	arrived := time.Now()
	eventually(t, 60*time.Second, "documentCount follows the late documents within 60s", func() error {
		cs := getPipeline(t, key).Status.Collection
		if cs == nil || cs.DocumentCount != n || cs.LastIngestTime == nil {
			return fmt.Errorf("status.collection = %+v", cs)
		}
		return nil
	})
	t.Logf("documentCount %d in status %s after the documents were written", n, time.Since(arrived).Round(time.Millisecond))
	cs := getPipeline(t, key).Status.Collection
	if cs.LastIngestTime.Time.Before(arrived.Add(-2 * time.Second).Truncate(time.Second)) {
		t.Errorf("lastIngestTime %s is before the documents arrived (%s)", cs.LastIngestTime, arrived)
	}

	// Once the count is stable again, checks write nothing.
	_, _, settled := counter.snapshot()
	gets = counter.gets(key)
	eventually(t, 10*interval, "three more checks", func() error {
		if c := counter.gets(key) - gets; c < 3 {
			return fmt.Errorf("%d checks so far", c)
		}
		return nil
	})
	if _, _, after := counter.snapshot(); after[key]-settled[key] > 1 {
		// One write at most: the check that saw the last documents land.
		t.Errorf("%d status writes after the count settled", after[key]-settled[key])
	}
	deleteAndWait(t, key)
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
	startManager(t, func(o *twitterpipeline.Options) {
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
