package twitterpipeline_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/twitterpipeline"
	"github.com/streamdash/streamdash/internal/analytics"
	"github.com/streamdash/streamdash/internal/rockset"
	"github.com/streamdash/streamdash/test/analyticsserver"
)

// TestKeyRotationReachesIngest: the pipeline's AWS keys are revoked and then
// rotated in its Secret, end to end through the real analytics server. Its
// readers reach the Kinesis emulator through a proxy that checks keys as AWS
// does (the one fake: the emulator accepts any key). With the old key
// revoked, Ready turns False within 60s (default ingest check interval) with
// a message that says what failed and holds no secret; once the Secret has
// the new keys, the controller gives them to the integration
// (updateIntegration) and Ready is True again; the collection then holds
// exactly the documents produced, each once, including those written while
// ingest was refused.
func TestKeyRotationReachesIngest(t *testing.T) {
	t.Parallel()
	needSuite(t)
	ctx := context.Background()
	ns := "key-rotation"
	if err := createNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	const (
		oldID, oldSecret = "AKIAPIPELINEOLD", "old-secret-wJalrXUtnFEMI"
		newID, newSecret = "AKIAPIPELINENEW", "new-secret-K7MDENGbPxRfi"
		serverKey        = "rotation-server-key-5e2a9c"
	)
	keys := emulator.StartKeyChecker(t)
	keys.Allow(oldID, oldSecret)

	// An analytics server of its own, whose readers go through the checker.
	server := analyticsserver.Start(t, analytics.Config{
		Listen: "127.0.0.1:0", APIKeys: []string{serverKey}, PollInterval: 100 * time.Millisecond,
		KinesisEndpoint: keys.Endpoint, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})

	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "aws-rotating"},
			Data: map[string][]byte{"AWS_ACCESS_KEY_ID": []byte(oldID), "AWS_SECRET_ACCESS_KEY": []byte(oldSecret)}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rotation-analytics"},
			Data: map[string][]byte{"apikey": []byte(serverKey)}},
	} {
		if err := direct.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	startManager(t, ns, func(o *twitterpipeline.Options) { o.ResyncPeriod = time.Hour })
	p := newTestPipeline(ns, "rotating", func(p *v1alpha1.TwitterPipeline) {
		p.Spec.Stream.CredentialsSecretRef = &v1alpha1.LocalObjectReference{Name: "aws-rotating"}
		p.Spec.Rockset.APIServer = server
		p.Spec.Rockset.APIKeySecretRef = &v1alpha1.SecretKeyReference{Name: "rotation-analytics", Key: "apikey"}
	})
	if err := direct.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(p)
	waitCondition(t, key, v1alpha1.ConditionCollectionReady, metav1.ConditionTrue, "", 60*time.Second)
	markProducerAvailable(t, key)
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, "PipelineReady", 60*time.Second)
	stream := names.Stream(p)
	putDocs(t, stream, 0, 50)
	waitDocumentCount(t, key, 50, 60*time.Second)

	keys.Revoke(oldID)
	revoked := time.Now()
	putDocs(t, stream, 50, 50) // produced while ingest is refused
	got := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, "", 60*time.Second)
	t.Logf("Ready=False %s after the key was revoked", time.Since(revoked).Round(time.Millisecond))
	c := condition(got, v1alpha1.ConditionCollectionReady)
	if c == nil || c.Reason != twitterpipeline.ReasonIngestFailed || !strings.Contains(c.Message, "UnrecognizedClientException") ||
		!strings.Contains(c.Message, stream) || !strings.Contains(c.Message, "put valid ones in Secret aws-rotating") {
		t.Errorf("CollectionReady = %+v, want IngestFailed naming the stream, the refusal and the Secret to fix", c)
	}
	t.Logf("CollectionReady message: %s", c.Message)
	checkHealthAgrees(t, got, "TwitterPipeline")

	keys.Allow(newID, newSecret)
	checksumBefore := producerInputsChecksum(t, key)
	var secret corev1.Secret
	if err := direct.Get(ctx, client.ObjectKey{Namespace: ns, Name: "aws-rotating"}, &secret); err != nil {
		t.Fatal(err)
	}
	secret.Data = map[string][]byte{"AWS_ACCESS_KEY_ID": []byte(newID), "AWS_SECRET_ACCESS_KEY": []byte(newSecret)}
	if err := direct.Update(ctx, &secret); err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	// The producer rolls too (it reads the same Secret); envtest runs no
	// Deployment controller, so the test reports the new rollout complete.
	eventually(t, 30*time.Second, "the producer's pod template follows the rotated Secret", func() error {
		if now := producerInputsChecksum(t, key); now == checksumBefore {
			return fmt.Errorf("inputs checksum still %q", now)
		}
		return nil
	})
	markProducerAvailable(t, key)
	got = waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, "PipelineReady", 60*time.Second)
	t.Logf("Ready=True %s after the Secret was rotated", time.Since(rotated).Round(time.Millisecond))
	waitEvent(t, key, twitterpipeline.EventIntegrationRotated)
	if got.Status.Integration == nil || got.Status.Integration.CredentialsChecksum == "" {
		t.Errorf("status.integration = %+v, want the rotated keys' checksum", got.Status.Integration)
	}

	putDocs(t, stream, 100, 50)
	waitDocumentCount(t, key, 150, 60*time.Second)
	rc, err := rockset.NewClient(server, serverKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := rc.Query(ctx, fmt.Sprintf(`SELECT count(*) AS n, count(DISTINCT id_str) AS ids, min(CAST(id_str AS INT)) AS lo, max(CAST(id_str AS INT)) AS hi FROM %s.%s`,
		names.Workspace(p), names.Collection(p)))
	if err != nil {
		t.Fatal(err)
	}
	if want := "[map[hi:149 ids:150 lo:0 n:150]]"; fmt.Sprint(res.Results) != want {
		t.Errorf("collection holds %v, want %s (ids 0..149, each once)", res.Results, want)
	}
	if n := keys.Rejected(newID); n != 0 {
		t.Errorf("the new key was refused %d times", n)
	}

	// No secret anywhere the user reads: conditions and events.
	final := getPipeline(t, key)
	for _, s := range []string{oldSecret, newSecret} {
		for _, cond := range final.Status.Conditions {
			if strings.Contains(cond.Message, s) {
				t.Errorf("condition %s carries a secret key: %q", cond.Type, cond.Message)
			}
		}
		for reason, notes := range events(t, key) {
			for _, n := range notes {
				if strings.Contains(n, s) {
					t.Errorf("event %s carries a secret key: %q", reason, n)
				}
			}
		}
	}
	deleteAndWait(t, key)
}

// producerInputsChecksum is the checksum annotation on the producer's pod template.
func producerInputsChecksum(t testing.TB, key client.ObjectKey) string {
	t.Helper()
	var d appsv1.Deployment
	if err := direct.Get(context.Background(), client.ObjectKey{Namespace: key.Namespace, Name: key.Name + "-producer"}, &d); err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Annotations["streamdash.io/inputs-checksum"]
}

// waitDocumentCount waits for status.collection.documentCount to be n.
func waitDocumentCount(t testing.TB, key client.ObjectKey, n int64, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("documentCount %d", n), func() error {
		cs := getPipeline(t, key).Status.Collection
		if cs == nil || cs.DocumentCount != n {
			return fmt.Errorf("status.collection = %+v", cs)
		}
		return nil
	})
}

// TestSecretChangeRollsProducer: the producer's pod template carries a
// checksum of the Secret data it reads, so changing a key it reads rolls it;
// a change to an unrelated Secret, or to a key of the referenced Secret the
// producer does not read, leaves the Deployment as it is (checked after the
// controller has looked at the pipeline again).
func TestSecretChangeRollsProducer(t *testing.T) {
	t.Parallel()
	needSuite(t)
	ctx := context.Background()
	ns := "secret-roll"
	if err := createNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	unrelated := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unrelated"}, Data: map[string][]byte{"token": []byte("a")}}
	for _, s := range []*corev1.Secret{awsSecret(ns), unrelated} {
		if err := direct.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	counter := startManager(t, ns, nil) // resync every 2s: the controller keeps looking
	p := newTestPipeline(ns, "roll")
	if err := direct.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(p)
	var initial string
	eventually(t, 60*time.Second, "the producer Deployment with its inputs checksum", func() error {
		var d appsv1.Deployment
		if err := direct.Get(ctx, client.ObjectKey{Namespace: ns, Name: "roll-producer"}, &d); err != nil {
			return err
		}
		if initial = d.Spec.Template.Annotations["streamdash.io/inputs-checksum"]; initial == "" {
			return fmt.Errorf("no checksum yet")
		}
		return nil
	})
	generation := func() int64 {
		var d appsv1.Deployment
		if err := direct.Get(ctx, client.ObjectKey{Namespace: ns, Name: "roll-producer"}, &d); err != nil {
			t.Fatal(err)
		}
		return d.Generation
	}
	edit := func(name string, mutate func(data map[string][]byte)) {
		var s corev1.Secret
		if err := direct.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
			t.Fatal(err)
		}
		mutate(s.Data)
		if err := direct.Update(ctx, &s); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		secret   string
		mutate   func(map[string][]byte)
		wantRoll bool
	}{
		{"an unrelated Secret changes", "unrelated", func(d map[string][]byte) { d["token"] = []byte("b") }, false},
		{"a key the producer does not read is added", "aws", func(d map[string][]byte) { d["note"] = []byte("rotated soon") }, false},
		{"the AWS secret key is rotated", "aws", func(d map[string][]byte) { d["AWS_SECRET_ACCESS_KEY"] = []byte("rotated-secret") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, gen := producerInputsChecksum(t, key), generation()
			passes := counter.gets(key)
			edit(tc.secret, tc.mutate)
			if tc.wantRoll {
				eventually(t, 30*time.Second, "the pod template's checksum changes", func() error {
					if producerInputsChecksum(t, key) == before {
						return fmt.Errorf("checksum still %s", before)
					}
					return nil
				})
				if got := producerInputsChecksum(t, key); strings.Contains(got, "rotated-secret") || len(got) != 16 {
					t.Errorf("checksum annotation %q", got)
				}
				return
			}
			eventually(t, 30*time.Second, "two more passes over the pipeline", func() error {
				if n := counter.gets(key) - passes; n < 2 {
					return fmt.Errorf("%d passes", n)
				}
				return nil
			})
			if got := producerInputsChecksum(t, key); got != before || generation() != gen {
				t.Errorf("the producer changed: checksum %s -> %s, generation %d -> %d", before, got, gen, generation())
			}
		})
	}
	deleteAndWait(t, key)
}
