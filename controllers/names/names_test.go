package names

import (
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/streamdash/streamdash/api/v1alpha1"
)

func pipeline(ns, name string, mutate ...func(*v1alpha1.TwitterPipeline)) *v1alpha1.TwitterPipeline {
	p := &v1alpha1.TwitterPipeline{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, m := range mutate {
		m(p)
	}
	return p
}

var (
	streamNameRE  = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
	rocksetNameRE = regexp.MustCompile(`^[[:alnum:]][[:alnum:]_-]{0,99}$`)
)

func TestNames(t *testing.T) {
	long := strings.Repeat("a", 250)
	tests := []struct {
		name string
		p    *v1alpha1.TwitterPipeline
		// want* are exact names; an empty want only checks the alphabet and length.
		wantStream, wantCollection, wantWorkspace, wantIntegration, wantPodSecret string
	}{
		{
			name:            "defaults",
			p:               pipeline("team", "demo"),
			wantStream:      "streamdash-team-demo",
			wantCollection:  "demo",
			wantWorkspace:   "commons",
			wantIntegration: "streamdash-team-demo",
			wantPodSecret:   "demo-rockset-apikey",
		},
		{
			name: "spec overrides",
			p: pipeline("team", "demo", func(p *v1alpha1.TwitterPipeline) {
				p.Spec.Stream.Name = "tweets"
				p.Spec.Rockset.Collection = "tweets_c"
				p.Spec.Rockset.Workspace = "social"
			}),
			wantStream:      "tweets",
			wantCollection:  "tweets_c",
			wantWorkspace:   "social",
			wantIntegration: "streamdash-team-demo",
			wantPodSecret:   "demo-rockset-apikey",
		},
		{
			name:          "dotted name is mapped into Rockset's alphabet",
			p:             pipeline("team", "demo.v2"),
			wantStream:    "streamdash-team-demo.v2",
			wantWorkspace: "commons",
			wantPodSecret: "demo.v2-rockset-apikey",
		},
		{
			name:          "long names are shortened with a hash",
			p:             pipeline(strings.Repeat("n", 63), long),
			wantWorkspace: "commons",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(what, got, want string, re *regexp.Regexp, max int) {
				t.Helper()
				if want != "" && got != want {
					t.Errorf("%s = %q, want %q", what, got, want)
				}
				if re != nil && !re.MatchString(got) {
					t.Errorf("%s = %q does not match %s", what, got, re)
				}
				if len(got) > max {
					t.Errorf("%s is %d characters, limit %d", what, len(got), max)
				}
			}
			check("StreamName", Stream(tc.p), tc.wantStream, streamNameRE, 128)
			check("Collection", Collection(tc.p), tc.wantCollection, rocksetNameRE, 100)
			check("Workspace", Workspace(tc.p), tc.wantWorkspace, nil, 100)
			check("Integration", Integration(tc.p), tc.wantIntegration, rocksetNameRE, 100)
			check("PodSecretName", PodSecret(tc.p), tc.wantPodSecret, nil, 253)
		})
	}
}

func TestNamesStayDistinct(t *testing.T) {
	// Shortening and character mapping must not make two pipelines share a name.
	pairs := [][2]*v1alpha1.TwitterPipeline{
		{pipeline("ns", strings.Repeat("x", 200)+"1"), pipeline("ns", strings.Repeat("x", 200)+"2")},
		{pipeline("ns", "a.b"), pipeline("ns", "a-b")},
	}
	for _, pr := range pairs {
		a, b := pr[0], pr[1]
		if Stream(a) == Stream(b) {
			t.Errorf("StreamName collides for %q and %q: %q", a.Name, b.Name, Stream(a))
		}
		if Collection(a) == Collection(b) {
			t.Errorf("Collection collides for %q and %q: %q", a.Name, b.Name, Collection(a))
		}
		if Integration(a) == Integration(b) {
			t.Errorf("Integration collides for %q and %q: %q", a.Name, b.Name, Integration(a))
		}
	}
}

func TestDashboardKey(t *testing.T) {
	dash := func(ns, name, uid string) *v1alpha1.LiveDashboard {
		return &v1alpha1.LiveDashboard{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}}
	}
	tests := []struct {
		name string
		d    *v1alpha1.LiveDashboard
		// want is the exact name; "" checks only the marker, alphabet and length.
		want string
	}{
		{name: "short", d: dash("team", "tweets", "6f1c"), want: "streamdash-dashboard-team-tweets-" + shortHash("6f1c")},
		{name: "dotted", d: dash("team", "tweets.v2", "6f1c")},
		{name: "longest names", d: dash(strings.Repeat("n", 63), strings.Repeat("d", 63), "6f1c")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DashboardKey(tc.d)
			if tc.want != "" && got != tc.want {
				t.Errorf("DashboardKey = %q, want %q", got, tc.want)
			}
			if !strings.HasPrefix(got, DashboardKeyPrefix) || !rocksetNameRE.MatchString(got) || len(got) > 100 {
				t.Errorf("DashboardKey = %q (%d characters): want the marker, Rockset's alphabet, at most 100", got, len(got))
			}
		})
	}
	// Re-created under the same name (a new UID), or a name differing only
	// in a mapped character: another key.
	if DashboardKey(dash("team", "tweets", "a")) == DashboardKey(dash("team", "tweets", "b")) {
		t.Error("a re-created dashboard shares its predecessor's key name")
	}
	if DashboardKey(dash("team", "a.b", "u")) == DashboardKey(dash("team", "a-b", "u")) {
		t.Error("a.b and a-b share a key name")
	}
}
