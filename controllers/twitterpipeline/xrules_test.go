package twitterpipeline_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/internal/producer"
	"github.com/streamdash/streamdash/internal/producer/xstream"
	"github.com/streamdash/streamdash/internal/producer/xstream/xstreamtest"
)

// runProducerFromDeployment runs the producer the way the pod would: with
// the Deployment's arguments (the kubelet's $$ unescaped) and the bearer
// token the Secret reference gives, until the X server's rules satisfy done.
func runProducerFromDeployment(t *testing.T, key types.NamespacedName, token string, xsrv *xstreamtest.Server, done func([]xstream.PresentRule) bool) {
	t.Helper()
	var d appsv1.Deployment
	if err := direct.Get(context.Background(), types.NamespacedName{Namespace: key.Namespace, Name: key.Name + "-producer"}, &d); err != nil {
		t.Fatal(err)
	}
	cfg, err := producer.ParseArgs(kubeletUnescape(d.Spec.Template.Spec.Containers[0].Args), io.Discard)
	if err != nil {
		t.Fatalf("the producer refuses its arguments: %v", err)
	}
	cfg.XBearerToken = token
	cfg.Listen = "" // $(POD_IP) has no meaning outside a pod; metrics are not under test
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- producer.Run(ctx, cfg) }()
	eventually(t, 30*time.Second, "the producer synced its rules", func() error {
		if rules := presentRules(xsrv); !done(rules) {
			return fmt.Errorf("rules on the X server: %+v", rules)
		}
		return nil
	})
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("producer: %v", err)
	}
}

func kubeletUnescape(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		b := []byte{}
		for j := 0; j < len(a); j++ {
			if a[j] == '$' && j+1 < len(a) && a[j+1] == '$' {
				j++
			}
			b = append(b, a[j])
		}
		out[i] = string(b)
	}
	return out
}

func presentRules(xsrv *xstreamtest.Server) []xstream.PresentRule {
	rules := xsrv.PresentRules()
	sort.Slice(rules, func(i, j int) bool { return rules[i].Value < rules[j].Value })
	return rules
}

// TestXRulesFollowTheSpec: from spec.source.x.rules through the producer's
// arguments to the X account: the pipeline's rules carry its own tag
// prefix; changing the spec leaves exactly the new rules, and another
// application's rules (and another pipeline's) are never touched.
func TestXRulesFollowTheSpec(t *testing.T) {
	t.Parallel()
	needSuite(t)
	ctx := context.Background()
	ns := "xrules"
	if err := createNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := direct.Create(ctx, awsSecret(ns)); err != nil {
		t.Fatal(err)
	}
	const token = "x-app-token"
	if err := direct.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x"}, Data: map[string][]byte{"token": []byte(token)},
	}); err != nil {
		t.Fatal(err)
	}
	xsrv, xhttp := xstreamtest.Start(t, token)
	others := []xstream.PresentRule{
		{ID: "1", Value: "another app", Tag: "other-app"},
		{ID: "2", Value: "untagged rule"},
		{ID: "3", Value: "a neighbour pipeline", Tag: producer.RulesTagPrefix(ns, "tweets2") + "n"},
	}
	xsrv.SetRules(others)
	startManager(t, ns, nil)

	p := newTestPipeline(ns, "tweets", func(p *v1alpha1.TwitterPipeline) {
		// The suite's analytics server is shared by tests running in
		// parallel, and TestPipelineLifecycle's pipeline is "tweets" too.
		p.Spec.Rockset.Collection = "xrules-tweets"
		p.Spec.Source = v1alpha1.SourceSpec{X: &v1alpha1.XSource{
			BearerTokenSecretRef: v1alpha1.SecretKeyReference{Name: "x", Key: "token"},
			Rules:                []v1alpha1.XRule{{Value: "music has:hashtags", Tag: "music"}, {Value: "news"}},
			Endpoint:             xhttp.URL,
		}}
	})
	if err := direct.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(p)
	prefix := producer.RulesTagPrefix(ns, "tweets")
	eventually(t, 60*time.Second, "producer Deployment", func() error {
		return direct.Get(ctx, types.NamespacedName{Namespace: ns, Name: "tweets-producer"}, &appsv1.Deployment{})
	})
	ours := func(rules []xstream.PresentRule) []string {
		var out []string
		for _, r := range rules {
			if !slices.ContainsFunc(others, func(o xstream.PresentRule) bool { return o.ID == r.ID }) {
				out = append(out, r.Value+"|"+r.Tag)
			}
		}
		sort.Strings(out)
		return out
	}
	othersIntact := func(rules []xstream.PresentRule) bool {
		for _, o := range others {
			if !slices.Contains(rules, o) {
				return false
			}
		}
		return true
	}
	runProducerFromDeployment(t, key, token, xsrv, func(rules []xstream.PresentRule) bool {
		return slices.Equal(ours(rules), []string{"music has:hashtags|" + prefix + "music", "news|" + prefix})
	})
	if !othersIntact(presentRules(xsrv)) {
		t.Errorf("other rules changed: %+v", presentRules(xsrv))
	}

	// The controller writes status meanwhile (posts written): a conflict
	// means read again and retry, as kubectl edit would.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		got := getPipeline(t, key)
		got.Spec.Source.X.Rules = []v1alpha1.XRule{{Value: "music has:hashtags", Tag: "music"}, {Value: "sports", Tag: "sports"}}
		return direct.Update(ctx, got)
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "producer arguments carry the new rules", func() error {
		var d appsv1.Deployment
		if err := direct.Get(ctx, types.NamespacedName{Namespace: ns, Name: "tweets-producer"}, &d); err != nil {
			return err
		}
		cfg, err := producer.ParseArgs(kubeletUnescape(d.Spec.Template.Spec.Containers[0].Args), io.Discard)
		if err != nil {
			return err
		}
		if len(cfg.XRules) != 2 || cfg.XRules[1].Value != "sports" {
			return fmt.Errorf("rules %+v", cfg.XRules)
		}
		return nil
	})
	runProducerFromDeployment(t, key, token, xsrv, func(rules []xstream.PresentRule) bool {
		return slices.Equal(ours(rules), []string{"music has:hashtags|" + prefix + "music", "sports|" + prefix + "sports"})
	})
	if rules := presentRules(xsrv); !othersIntact(rules) || len(rules) != len(others)+2 {
		t.Errorf("after the change the X account holds %+v, want exactly the 2 new rules and the %d others untouched", rules, len(others))
	}
	deleteAndWait(t, key)
}
